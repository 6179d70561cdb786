"""Real ASGI servers (uvicorn subprocesses) on free ports, sharing the test database (and Redis)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    from django.db import connection

    d = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = d["USER"] + (f":{d['PASSWORD']}" if d.get("PASSWORD") else "")
        return f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"
    return f"sqlite:///{d['NAME']}"


def chat_always_open() -> None:
    """The servers read hours from the database: make chat open whatever the clock says."""
    from okwallet.hours.models import Schedule

    Schedule.objects.update_or_create(
        code="chat", defaults={"name_zh": "在线客服", "name_en": "Live chat", "always_open": True}
    )


class Server:
    def __init__(self, *, redis_url: str = "", var_dir: str, env: dict | None = None):
        from django.conf import settings

        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "okwallet.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "SECRET_KEY": settings.SECRET_KEY,  # the test's session cookies must be valid here
            "OKWALLET_VAR_DIR": var_dir,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONPATH": str(ROOT / "src"),
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.log = Path(var_dir) / f"uvicorn-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "okwallet.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "off",
                "--ws",
                "websockets",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not start in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> Server:
        self.stop()
        return self.start()
