"""A TCP proxy that slows the client's bytes down, to catch an upload in the middle.

    with ThrottledProxy("127.0.0.1", server_port, bytes_per_second=2_000_000) as proxy:
        proxy.url_host                 # "127.0.0.1:PORT": point the client here
        proxy.uploaded                 # bytes the client sent so far (all connections)
        proxy.connections              # connections accepted so far

The server's answers pass at full speed; the client's requests at ``bytes_per_second``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

HOST = "127.0.0.1"
CHUNK = 16 * 1024


class ThrottledProxy:
    def __init__(self, target_host: str, target_port: int, *, bytes_per_second: int) -> None:
        self.target = (target_host, target_port)
        self.rate = bytes_per_second
        self.port = 0
        self.uploaded = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url_host(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> ThrottledProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, HOST, 0), self._loop
        )
        self._server = future.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, slow: bool
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if slow:
                    self.uploaded += len(data)
                    await asyncio.sleep(len(data) / self.rate)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pipe(reader, up_writer, slow=True), self._pipe(up_reader, writer, slow=False)
        )

    def __enter__(self) -> ThrottledProxy:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()
