"""The SBOM analysis in a second process, for ``atr check``.

Making a release's SBOM means importing cyclonedx-python-lib and the manifest parsers'
libraries and preparing the CycloneDX schema: 0.2 s of a cold ``atr check``, more than
reading a 10 MB archive. ``atr check`` calls :func:`start` as it starts: a worker process
imports and prepares all that on the machine's other core while the archives are read;
the SBOM check then hands it the manifests the scan found (:func:`analyse`) and gets back
what :func:`shared.checks.sbom.analyse_scan` returns, computed by that same function there.

Whatever goes wrong with the worker (it could not start, it died, it answered something
unreadable, the analysis raised there), :func:`analyse` returns ``None`` and the check does
the analysis in its own process, as it does when no worker was started (the agent's
workers, the tests): the results are the same either way.

The protocol is one JSON object per line each way on the worker's stdin and stdout: a
request ``{"project", "version", "name", "sha512", "sha256", "manifests": {path: base64},
"skipped_manifests": {path: reason}}``, an answer ``{"analysis": {...}}`` or
``{"error": text}``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.checks.source_scan import SourceScan
    from shared.sbom.analysis import SbomAnalysis
    from shared.sbom.records import ReleaseArtifact

__all__ = ["analyse", "main", "prepare", "start", "stop"]

_ROOT = str(Path(__file__).resolve().parents[2])
"""The folder holding the ``shared`` package the worker imports (this one)."""


class _Forked:
    """A worker made by fork(): the same interface as the Popen of a started one."""

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("sbom worker", timeout or 0)
            time.sleep(0.002)
        return self.returncode or 0

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


_lock = threading.Lock()
_worker: subprocess.Popen[bytes] | _Forked | None = None
_prepared = False


def _fork_possible() -> bool:
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _fork() -> _Forked | None:
    """The worker as a fork of this process, which has imported what both need already (the
    interpreter's start and the standard library's modules are not paid twice): on Linux,
    from a process with one thread only (a fork copies the calling thread alone)."""
    if not _fork_possible():
        return None
    requests_r, requests_w = os.pipe()
    answers_r, answers_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        try:
            os.close(requests_w)
            os.close(answers_r)
            os.dup2(2, 1)  # what a library prints goes to stderr, never to the checks' output
            sys.stdout = sys.stderr
            with contextlib.suppress(Exception):
                _warm_up()
            with open(requests_r, "rb") as requests, open(answers_w, "wb") as answers:
                _serve(requests, answers)
            sys.stderr.flush()
        finally:
            os._exit(0)
    os.close(requests_r)
    os.close(answers_w)
    return _Forked(pid, open(requests_w, "wb"), open(answers_r, "rb"))


def _spawn() -> subprocess.Popen[bytes]:
    # This process's import path, given whole (this package first): the worker skips the
    # site module's work (-S).
    paths = [_ROOT, *(p for p in sys.path if p and os.path.isdir(p))]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return subprocess.Popen(
        [sys.executable, "-S", "-c", "from shared.checks.sbom_worker import main; main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )


def start(*, fork: bool = True) -> None:
    """Start the worker (once per process), forked where that is safe (``fork``), else as a
    new interpreter; without effect if it cannot start."""
    global _worker, _prepared  # noqa: PLW0603 - one worker per process
    with _lock:
        if _worker is not None:
            return
        try:
            _worker = (_fork() if fork else None) or _spawn()
        except OSError:
            return
        _prepared = False
        atexit.register(stop)


def stop() -> None:
    """End the worker: it reads its end of input and exits."""
    global _worker
    with _lock:
        worker, _worker = _worker, None
    if worker is None:
        return
    with contextlib.suppress(OSError, ValueError):
        if worker.stdin is not None:
            worker.stdin.close()
    try:
        worker.wait(timeout=5)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    if worker.stdout is not None:
        worker.stdout.close()


def prepare() -> None:
    """Tell the worker, if there is one, that the release has manifests: it imports the
    parsers and the license machinery now (a release without manifests needs neither)."""
    global _prepared  # noqa: PLW0603
    with _lock:
        worker = _worker
        if worker is None or worker.stdin is None or _prepared:
            return
        _prepared = True
        with contextlib.suppress(OSError, ValueError):
            worker.stdin.write(b'{"prepare": true}\n')
            worker.stdin.flush()


def analyse(scan: SourceScan, release: ReleaseArtifact) -> SbomAnalysis | None:
    """The worker's :func:`~shared.checks.sbom.analyse_scan` of ``scan`` and ``release``, or
    ``None`` when there is no worker or it did not answer with one."""
    request = {
        "project": release.project,
        "version": release.version,
        "name": release.name,
        "sha512": release.sha512,
        "sha256": release.sha256,
        "manifests": {p: base64.b64encode(d).decode("ascii") for p, d in scan.manifests.items()},
        "skipped_manifests": dict(scan.skipped_manifests),
    }
    with _lock:
        worker = _worker
        if worker is None or worker.stdin is None or worker.stdout is None:
            return None
        try:
            worker.stdin.write(json.dumps(request).encode("ascii") + b"\n")
            worker.stdin.flush()
            answer = json.loads(worker.stdout.readline())
            if not isinstance(answer, dict) or "analysis" not in answer:
                return None
            return _analysis_from_json(answer["analysis"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _analysis_to_json(analysis: SbomAnalysis) -> dict[str, Any]:
    return {
        "sbom_json": analysis.sbom_json,
        "components": [c.to_json() for c in analysis.components],
        "manifests": analysis.manifests,
        "manifest_errors": analysis.manifest_errors,
        "manifest_problems": analysis.manifest_problems,
        "skipped_manifests": analysis.skipped_manifests,
        "schema_errors": analysis.schema_errors,
        "ntia": {
            "document": analysis.ntia.document,
            "counts": analysis.ntia.counts,
            "examples": analysis.ntia.examples,
            "component_count": analysis.ntia.component_count,
        },
    }


def _analysis_from_json(data: Mapping[str, Any]) -> SbomAnalysis:
    from shared.sbom.analysis import SbomAnalysis  # noqa: PLC0415
    from shared.sbom.records import ComponentRecord  # noqa: PLC0415
    from shared.sbom.validate import NtiaGaps  # noqa: PLC0415

    ntia = data["ntia"]
    return SbomAnalysis(
        sbom_json=str(data["sbom_json"]),
        components=tuple(ComponentRecord.from_json(c) for c in data["components"]),
        manifests=[str(m) for m in data["manifests"]],
        manifest_errors={str(k): str(v) for k, v in data["manifest_errors"].items()},
        manifest_problems={
            str(k): [str(x) for x in v] for k, v in data["manifest_problems"].items()
        },
        skipped_manifests={str(k): str(v) for k, v in data["skipped_manifests"].items()},
        schema_errors=[str(e) for e in data["schema_errors"]],
        ntia=NtiaGaps(
            document=[str(d) for d in ntia["document"]],
            counts={str(k): int(v) for k, v in ntia["counts"].items()},
            examples={str(k): [str(x) for x in v] for k, v in ntia["examples"].items()},
            component_count=int(ntia["component_count"]),
        ),
    )


def _warm_up() -> None:
    """Import and prepare what every analysis needs, before the first request comes."""
    from shared.sbom import analysis, generate, validate  # noqa: F401, PLC0415

    generate._tool_version()
    validate._fast_validator("1.6", True)


def _warm_up_manifests() -> None:
    """Import what an SBOM of manifests needs: the parsers, the license machinery."""
    from shared.sbom import licenses, manifests  # noqa: PLC0415

    for module in sorted({m for m, _ in manifests._BY_NAME.values()}):
        importlib.import_module(f"shared.sbom.parsers.{module}")
    licenses.classify("Apache-2.0")
    import cyclonedx.contrib.license.factories  # noqa: F401, PLC0415


def _answer(request: Mapping[str, Any]) -> dict[str, Any]:
    from shared.sbom.analysis import analyse_manifests  # noqa: PLC0415
    from shared.sbom.records import ReleaseArtifact  # noqa: PLC0415

    manifests = {str(p): base64.b64decode(d) for p, d in request["manifests"].items()}
    skipped = {str(p): str(r) for p, r in request["skipped_manifests"].items()}
    fields = ("project", "version", "name", "sha512", "sha256")
    release = ReleaseArtifact(*(str(request[f]) for f in fields))
    return {"analysis": _analysis_to_json(analyse_manifests(manifests, skipped, release))}


def _serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    for line in requests:
        try:
            request = json.loads(line)
            if request.get("prepare"):
                _warm_up_manifests()
                continue  # not answered
            answer = _answer(request)
        except Exception as exc:  # the asking process analyses on its own, and reports
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer).encode("ascii") + b"\n")
        answers.flush()


def main() -> None:
    """The worker: prepare, then answer requests on stdin until it closes; then exit at once
    (its answers are written: nothing is left to tidy, and ``atr check`` waits for it)."""
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answers
    with contextlib.suppress(Exception):
        _warm_up()
    _serve(sys.stdin.buffer, answers)
    sys.stderr.flush()
    os._exit(0)
