"""scripts/lb.py: requests reach every ready backend in turn and skip a dead or warming one."""

import http.server
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _backend(name: str, ready: threading.Event | None = None):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = name.encode()
            if self.path == "/readyz" and ready is not None and not ready.is_set():
                self.send_response(503)  # warming up
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def balancer():
    a, b = _backend("a"), _backend("b")
    dead = _free_port()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "lb.py"), "--listen", f"127.0.0.1:{port}"]
        + [f"--backend=127.0.0.1:{p}" for p in (a.server_port, dead, b.server_port)],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(5)
    a.shutdown()
    b.shutdown()


def test_requests_are_spread_over_live_backends_and_skip_a_dead_one(balancer):
    seen = [urllib.request.urlopen(f"http://127.0.0.1:{balancer}/", timeout=5).read() for _ in range(6)]
    assert set(seen) == {b"a", b"b"}
    assert len(seen) == 6


def test_with_every_backend_down_the_answer_is_a_complete_503_in_our_error_shape():
    # Found by bench/soak.py: the body was one byte shorter than its Content-Length, so clients
    # waited for the missing byte and then failed with a truncated-payload error instead of a 503.
    import json
    import urllib.error

    dead, port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "lb.py"),
            "--listen",
            f"127.0.0.1:{port}",
            f"--backend=127.0.0.1:{dead}",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        response = caught.value
        body = response.read()
        assert response.code == 503
        assert int(response.headers["Content-Length"]) == len(body)
        assert json.loads(body)["code"] == "unavailable"
        assert response.headers["Retry-After"] == "1"
    finally:
        proc.terminate()
        proc.wait(5)


def test_a_warming_backend_gets_no_traffic_until_its_readyz_is_200():
    # A restarted app process loads jieba and the help-centre index before /readyz says 200;
    # the balancer keeps customers off it until then (bench/soak.py saw 11-14 s first searches).
    warming = threading.Event()
    a, b = _backend("a"), _backend("b", ready=warming)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "lb.py"), "--listen", f"127.0.0.1:{port}"]
        + [f"--backend=127.0.0.1:{p}" for p in (a.server_port, b.server_port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.5)  # the first round of checks
        seen = [urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() for _ in range(6)]
        assert seen == [b"a"] * 6
        warming.set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            seen = [urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() for _ in range(4)]
            if set(seen) == {b"a", b"b"}:
                break
            time.sleep(0.3)
        assert set(seen) == {b"a", b"b"}
    finally:
        proc.terminate()
        proc.wait(5)
        a.shutdown()
        b.shutdown()
