"""A small HTTP reverse proxy to put in front of a real registry in tests.

    proxy = RegistryProxy("http://127.0.0.1:PORT").start()   # proxy.url: the registry's stand-in
    proxy.fail("POST", 500, "Internal Server Error", times=2)   # the next two uploads fail
    proxy.throttle(512 * 1024)                                  # request bodies at 512 KiB/s
    proxy.wait_for_body(1 << 20)                                # an upload is 1 MiB under way
    proxy.sever()                                               # cut the uploads under way
    proxy.hold_answers("PUT")                                   # the registry answers, the
    proxy.wait_for_held("PUT")                                  #   client waits for it…
    proxy.release_answers()                                     #   …until released
    proxy.exchanges                                             # every request, as it ended

It forwards each request as it arrives (the body streamed, so the registry sees an upload
cut short when it is severed) and records what the registry answered. A crash of the
client is not enough to cut an upload: the kernel still delivers what the client had
handed it, and on loopback that can be megabytes — :meth:`RegistryProxy.sever` is the
connection dying with the client. Request bodies need a Content-Length (the adapters and
the clients used in tests send one).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from tests.support.agent import HOST

__all__ = ["Exchange", "RegistryProxy"]

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade",
    "content-length", "server", "date",
}  # fmt: skip
_CHUNK = 64 * 1024
_HEAD = 8 * 1024
_HOLD_SECONDS = 300.0


@dataclass
class Exchange:
    """One request through the proxy."""

    method: str
    path: str
    length: int = 0
    sent: int = 0
    """Request body bytes forwarded to the registry."""
    head: bytes = b""
    """The first bytes of the request body (to tell which file an upload carried)."""
    status: int | None = None
    """What the registry answered (``None``: it never did)."""
    injected: bool = False
    """Answered by the proxy itself (:meth:`RegistryProxy.fail`), not the registry."""
    delivered: bool = False
    """Whether the client got the answer (not when it went away first)."""
    severed: bool = False
    held: bool = False

    @property
    def succeeded(self) -> bool:
        """The registry accepted the request (2xx)."""
        return self.status is not None and 200 <= self.status < 300 and not self.injected


@dataclass
class _Failure:
    method: str
    status: int
    body: str
    times: int


class RegistryProxy:
    """See the module docstring."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or HOST
        self.upstream_port = parts.port or 80
        self.exchanges: list[Exchange] = []
        self._failures: list[_Failure] = []
        self._rate: float | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._release = threading.Event()
        self._release.set()
        self._hold = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def fail(self, method: str, status: int, body: str = "", *, times: int = 1) -> None:
        """Answer the next ``times`` requests of ``method`` with ``status`` and ``body``
        (the request body is read first, as a registry that failed after it would)."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), status, body, times))

    def throttle(self, bytes_per_second: float | None) -> None:
        """Forward request bodies at most this fast (``None``: at full speed)."""
        self._rate = bytes_per_second

    def sever(self) -> None:
        """Cut every request under way: the registry sees its body end early."""
        with self._lock:
            self._generation += 1

    def hold_answers(self, method: str) -> None:
        """Keep the registry's answers to ``method`` requests from the clients until
        :meth:`release_answers`."""
        self._hold = method.upper()
        self._release.clear()

    def release_answers(self) -> None:
        self._release.set()

    def wait_for_body(self, sent: int, *, timeout: float = 60) -> Exchange:
        """Wait until a request has forwarded ``sent`` body bytes and is still going."""
        return self._wait(lambda e: e.status is None and not e.severed and e.sent >= sent,
                          timeout, f"no request body reached {sent} bytes")  # fmt: skip

    def wait_for_held(self, method: str, *, timeout: float = 60) -> Exchange:
        """Wait until the registry answered a ``method`` request and the answer is held."""
        return self._wait(lambda e: e.method == method and e.held, timeout,
                          f"no answer to a {method} is held")  # fmt: skip

    def succeeded(self, method: str) -> list[Exchange]:
        """The requests of ``method`` the registry answered with 2xx."""
        return [e for e in self.exchanges if e.method == method and e.succeeded]

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> RegistryProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RegistryProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- for the handler ---------------------------------------------------------------------

    def _wait(self, test: Callable[[Exchange], bool], timeout: float, what: str) -> Exchange:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for exchange in self.exchanges:
                    if test(exchange):
                        return exchange
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{what}: {self.exchanges}")
                self._changed.wait(left)

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.method == method and failure.times > 0:
                    failure.times -= 1
                    return failure
        return None

    def _update(self, exchange: Exchange, **changes: object) -> None:
        with self._changed:
            for key, value in changes.items():
                setattr(exchange, key, value)
            if exchange not in self.exchanges:
                self.exchanges.append(exchange)
            self._changed.notify_all()

    def _progress(self, exchange: Exchange, chunk: bytes) -> None:
        with self._changed:
            exchange.sent += len(chunk)
            if len(exchange.head) < _HEAD:
                exchange.head += chunk[: _HEAD - len(exchange.head)]
            self._changed.notify_all()


class _Handler(BaseHTTPRequestHandler):
    owner: RegistryProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _read(self, exchange: Exchange, conn: http.client.HTTPConnection | None) -> bool:
        """Read the request body, forwarding it to ``conn``; False if it ended early (the
        client left, or the proxy severed it)."""
        owner = self.owner
        generation = owner._generation
        rate = owner._rate
        started = time.monotonic()
        while exchange.sent < exchange.length:
            if owner._generation != generation:
                owner._update(exchange, severed=True)
                return False
            want = min(_CHUNK, exchange.length - exchange.sent)
            if rate:
                want = min(want, max(1024, int(rate / 8)))
            try:
                chunk = self.rfile.read(want)
            except OSError:
                chunk = b""
            if not chunk:
                return False
            if conn is not None:
                conn.send(chunk)
            owner._progress(exchange, chunk)
            if rate:
                ahead = exchange.sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        return True

    def _proxy(self) -> None:
        self.close_connection = True
        exchange = Exchange(self.command, self.path)
        exchange.length = int(self.headers.get("Content-Length") or 0)
        self.owner._update(exchange)
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._answer(exchange, 411, b"the test proxy needs a Content-Length", [])
            return
        failure = self.owner._take_failure(self.command)
        if failure is not None:
            if self._read(exchange, None):
                self.owner._update(exchange, status=failure.status, injected=True)
                self._answer(exchange, failure.status, failure.body.encode(), [])
            return
        conn = http.client.HTTPConnection(self.owner.upstream_host, self.owner.upstream_port,
                                          timeout=300)  # fmt: skip
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    conn.putheader(key, value)
            if exchange.length:
                conn.putheader("Content-Length", str(exchange.length))
            conn.putheader("Connection", "close")
            conn.endheaders()
            if not self._read(exchange, conn):
                return  # the registry sees the request body end early
            response = conn.getresponse()
            data = response.read()
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        finally:
            conn.close()
        self.owner._update(exchange, status=response.status)
        if self.command == self.owner._hold and not self.owner._release.is_set():
            self.owner._update(exchange, held=True)
            self.owner._release.wait(_HOLD_SECONDS)
        self._answer(exchange, response.status, data, headers)

    def _answer(
        self, exchange: Exchange, status: int, data: bytes, headers: list[tuple[str, str]]
    ) -> None:
        try:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return
        self.owner._update(exchange, delivered=True)
