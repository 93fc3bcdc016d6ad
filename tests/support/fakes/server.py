r"""Run an ASGI app on a free loopback port in a thread, with injectable failures.

    server = ServedApp(app).start()      # server.url: http://127.0.0.1:PORT
    server.faults.add("PUT", r"/content/.*\.jar$", status=500, times=2)
    server.stop()

:class:`Faults` answers matching requests with the given status (``times`` times, then
lets them through), before the app sees them; every request is counted by
``(method, path)`` in :attr:`ServedApp.requests`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.agent import HOST, free_port

__all__ = ["Fault", "Faults", "ServedApp"]


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    body: bytes
    content_type: str
    hits: int = 0


@dataclass
class Faults:
    """Failures to answer instead of the app (see the module docstring)."""

    rules: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int,
        times: int = 1_000_000,
        body: str = "",
        content_type: str = "text/plain",
    ) -> Fault:
        fault = Fault(method.upper(), re.compile(path), status, times, body.encode(), content_type)
        with self.lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def match(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.rules:
                if fault.method in (method, "*") and fault.path.search(path) and fault.times > 0:
                    fault.times -= 1
                    fault.hits += 1
                    return fault
        return None


class _Front:
    """ASGI middleware: count the request, answer a fault, else hand it to the app."""

    def __init__(self, app: ASGIApp, served: ServedApp) -> None:
        self.app = app
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        with self.served.lock:
            self.served.requests[(method, path)] += 1
        fault = self.served.faults.match(method, path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass  # read the request body first, as a server does
        await send(
            {
                "type": "http.response.start",
                "status": fault.status,
                "headers": [
                    (b"content-type", fault.content_type.encode()),
                    (b"content-length", str(len(fault.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": fault.body})


class ServedApp:
    """An ASGI app served by uvicorn in a daemon thread (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.faults = Faults()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self.port = free_port()
        config = uvicorn.Config(
            _Front(app, self),
            host=HOST,
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def count(self, method: str, pattern: str) -> int:
        """How many requests of ``method`` had a path matching ``pattern``."""
        rx = re.compile(pattern)
        with self.lock:
            return sum(n for (m, p), n in self.requests.items() if m == method and rx.search(p))

    def start(self) -> ServedApp:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
