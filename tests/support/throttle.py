"""A TCP proxy on a free loopback port that slows uploads down, for crash tests.

    with ThrottlingProxy("127.0.0.1", 8080, rate=256 * 1024) as proxy:
        proxy.url                         # http://127.0.0.1:PORT, forwards to 127.0.0.1:8080
        proxy.in_flight()                 # bytes of the request body under way

Bytes from the client to the server are forwarded at ``rate`` bytes per second (per
connection); answers come back at full speed. :attr:`uploaded` counts what went up;
:meth:`in_flight` is the most any open connection sent since the server last answered on
it: how much of a request under way (a file's PUT) has gone up.

:meth:`cut` aborts every open connection at once, both ways, dropping what the proxy
holds: the network of a machine that died. (A process killed alone leaves the bytes it
already wrote to its sockets to the kernel, which still delivers them: to cut an upload
in the middle, a crash test kills the process and then cuts the line.)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
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
        self._since_answer: dict[int, int] = {}
        self._open: dict[int, tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def in_flight(self) -> int:
        """The most bytes an open connection sent since the server last answered on it."""
        with self._lock:
            return max(self._since_answer.values(), default=0)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool, key: int
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
                with self._lock:
                    if up:
                        self.uploaded += len(data)
                        self._since_answer[key] = self._since_answer.get(key, 0) + len(data)
                    else:
                        self._since_answer[key] = 0
                if up:
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
        key = id(client_w)
        self._open[key] = (client_w, server_w)
        try:
            await asyncio.gather(
                self._pump(client_r, server_w, up=True, key=key),
                self._pump(server_r, client_w, up=False, key=key),
            )
        finally:
            self._open.pop(key, None)
            with self._lock:
                self._since_answer.pop(key, None)

    def cut(self) -> None:
        """Abort every open connection, both ways (see the module docstring)."""

        async def abort() -> None:
            for client_w, server_w in list(self._open.values()):
                server_w.transport.abort()
                client_w.transport.abort()

        asyncio.run_coroutine_threadsafe(abort(), self._loop).result(10)

    def start(self) -> ThrottlingProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, HOST, self.port), self._loop
        )
        self._server = started.result(10)
        return self

    def stop(self) -> None:
        """Close the listener and every connection, end the handlers, stop the loop."""

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for client_w, server_w in list(self._open.values()):
                server_w.transport.abort()
                client_w.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ThrottlingProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
