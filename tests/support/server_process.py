"""The start and stop of a test server run as a child process: wait until it answers, stop it
politely then firmly (shared by pypiserver, verdaccio and docker-registry)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Collection

import httpx

__all__ = ["stop_process", "wait_answering"]


def wait_answering(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    what: str,
    log_text: Callable[[], str],
    timeout: float,
    ok: Collection[int] = (200,),
    interval: float = 0.1,
) -> None:
    """Poll ``url`` until it answers one of ``ok``; stop the process and raise with the end of
    its log if it exits or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    stop_process(process, grace=10)
    raise RuntimeError(f"{what} did not answer at {url}:\n{log_text()[-3000:]}")


def stop_process(process: subprocess.Popen[bytes] | None, *, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
