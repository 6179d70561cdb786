"""A small round-robin TCP load balancer for running the production shape on one machine.

`make cluster` puts it in front of several uvicorn processes. It proxies bytes (so HTTP and
WebSockets both pass), skips a backend that refuses connections and retries the next one, and
keeps no state of its own. Every second it asks each backend's ``/readyz``: a process that is
starting (``warming``: loading jieba and the search index) or has lost its database gets no new
connections until it answers 200; if no backend is ready it tries them all rather than refuse. In a real deployment nginx or a cloud load balancer takes its place
(docs/operations.md).

Usage: python scripts/lb.py --listen 127.0.0.1:8000 --backend 127.0.0.1:8001 --backend 127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging

log = logging.getLogger("okwallet.lb")

_UNAVAILABLE_BODY = b'{"code":"unavailable","message":"No app process is up","details":{}}\n'
UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n" % len(_UNAVAILABLE_BODY)
) + _UNAVAILABLE_BODY


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: S110 - the peer is already gone
            pass


async def probe(host: str, port: int, *, path: str = "/readyz", host_header: str = "localhost") -> bool:
    """True when the backend answers ``path`` with 200 within a second."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host_header}\r\n\r\n".encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout=1)
        return status.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError, IndexError):
        return False
    finally:
        writer.close()


class Balancer:
    def __init__(
        self, backends: list[tuple[str, int]], *, health_path: str = "/readyz", health_host: str = "localhost"
    ):
        self.backends = backends
        self._cycle = itertools.cycle(range(len(backends)))
        self.health_path = health_path
        self.health_host = health_host
        self.ready: set[int] | None = None  # None until the first round of checks

    async def check_forever(self, interval: float = 1.0) -> None:
        while True:
            results = await asyncio.gather(
                *(probe(h, p, path=self.health_path, host_header=self.health_host) for h, p in self.backends)
            )
            ready = {i for i, ok in enumerate(results) if ok}
            if ready != self.ready:
                names = (
                    ", ".join(f"{h}:{p}" for i, (h, p) in enumerate(self.backends) if i in ready) or "none"
                )
                log.warning("ready backends: %s", names)
            self.ready = ready
            await asyncio.sleep(interval)

    def _order(self) -> list[int]:
        """Round-robin over the ready backends; all of them while none is (or none is known) ready."""
        start = next(self._cycle)
        order = [(start + k) % len(self.backends) for k in range(len(self.backends))]
        if self.ready:
            order = [i for i in order if i in self.ready]
        return order

    async def _connect(self):
        for i in self._order():
            host, port = self.backends[i]
            try:
                return await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2)
            except (OSError, TimeoutError):
                log.warning("backend %s:%s unavailable, trying the next", host, port)
                if self.ready:
                    self.ready.discard(i)  # until its next successful check
        return None

    async def handle(self, client_reader, client_writer) -> None:
        upstream = await self._connect()
        if upstream is None:
            client_writer.write(UNAVAILABLE)
            await client_writer.drain()
            client_writer.close()
            return
        up_reader, up_writer = upstream
        await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8000")
    parser.add_argument("--backend", action="append", required=True)
    parser.add_argument("--health-path", default="/readyz", help="probe per backend every second ('' = off)")
    parser.add_argument(
        "--health-host", default="localhost", help="Host header of the probe (in ALLOWED_HOSTS)"
    )
    args = parser.parse_args()
    balancer = Balancer(
        [_addr(b) for b in args.backend], health_path=args.health_path, health_host=args.health_host
    )
    checks = asyncio.ensure_future(balancer.check_forever()) if args.health_path else None
    host, port = _addr(args.listen)
    server = await asyncio.start_server(balancer.handle, host, port, backlog=4096)
    log.warning("load balancer on %s:%s → %s", host, port, ", ".join(args.backend))
    async with server:
        try:
            await server.serve_forever()
        finally:
            if checks:
                checks.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main())
