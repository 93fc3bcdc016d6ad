"""A TCP proxy on a free loopback port that slows uploads down, for crash tests.

    with ThrottlingProxy("127.0.0.1", 8080, rate=256 * 1024) as proxy:
        proxy.url                         # http://127.0.0.1:PORT, forwards to 127.0.0.1:8080
        proxy.wait_for_upload(1 << 20)    # until 1 MiB more went client → server

Bytes from the client to the server are forwarded at ``rate`` bytes per second (per
connection); answers come back at full speed. :attr:`uploaded` counts what went up.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

from tests.support.agent import HOST, free_port

__all__ = ["ThrottlingProxy"]

_CHUNK = 16 * 1024


class ThrottlingProxy:
    """See the module docstring."""

    def __init__(self, host: str, port: int, *, rate: int) -> None:
        self.target = (host, port)
        self.rate = rate
        self.port = free_port()
        self.uploaded = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, throttle: bool
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
                if throttle:
                    with self._lock:
                        self.uploaded += len(data)
                    await asyncio.sleep(len(data) / self.rate)
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            self._pump(client_r, server_w, throttle=True),
            self._pump(server_r, client_w, throttle=False),
        )

    def start(self) -> ThrottlingProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, HOST, self.port), self._loop
        )
        self._server = started.result(10)
        return self

    def wait_for_upload(self, amount: int, *, timeout: float = 120) -> None:
        """Wait until ``amount`` more bytes went up through the proxy."""
        with self._lock:
            goal = self.uploaded + amount
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self.uploaded >= goal:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.uploaded} of {goal} bytes went up in {timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ThrottlingProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
