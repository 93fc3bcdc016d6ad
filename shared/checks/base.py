"""The vocabulary every compliance check speaks.

A check is one module under :mod:`shared.checks` with a stable ``CHECK_ID``, a
``CHECK_VERSION`` (bumped whenever its logic changes, so cached results of the
old logic are not reused), a ``SCOPE`` and a ``run`` function:

.. code-block:: python

    CHECK_ID = "checksums"
    CHECK_VERSION = 1
    SCOPE = Scope.ARTIFACT

    def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None: ...

``SCOPE.RELEASE`` checks run once over all files (``artifact`` is ``None``);
``SCOPE.ARTIFACT`` checks run once per artifact (a primary file such as
``foo-1.0-src.tar.gz``, not its ``.asc`` or ``.sha512``). Checks are pure
functions of files and policy: the same code runs in agent workers and in
``atr check``. They never raise for a bad artifact: they record a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from shared.checks.policy import Policy


class Status(StrEnum):
    """A result's severity, worst first. Values are the wire spelling."""

    BLOCKER = "blocker"
    WARNING = "warning"
    NOTE = "note"
    PASS = "pass"

    @property
    def rank(self) -> int:
        """0 for blocker … 3 for pass: lower is worse."""
        return _RANK[self]


_RANK = {Status.BLOCKER: 0, Status.WARNING: 1, Status.NOTE: 2, Status.PASS: 3}


class Scope(StrEnum):
    RELEASE = "release"
    ARTIFACT = "artifact"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One finding. ``path`` is the release-relative file it is about ('' for the release)."""

    check: str
    path: str
    status: Status
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "path": self.path,
            "status": self.status.value,
            "message": self.message,
            "data": dict(self.data),
        }


class Recorder:
    """Collects the results of one check run; injected into the check's ``run``."""

    def __init__(self, check_id: str) -> None:
        self.check_id = check_id
        self.results: list[CheckResult] = []

    def record(self, status: Status, path: str, message: str, **data: Any) -> None:
        self.results.append(CheckResult(self.check_id, path, status, message, data))

    def blocker(self, path: str, message: str, **data: Any) -> None:
        self.record(Status.BLOCKER, path, message, **data)

    def warning(self, path: str, message: str, **data: Any) -> None:
        self.record(Status.WARNING, path, message, **data)

    def note(self, path: str, message: str, **data: Any) -> None:
        self.record(Status.NOTE, path, message, **data)

    def passed(self, path: str, message: str, **data: Any) -> None:
        self.record(Status.PASS, path, message, **data)


@dataclass(frozen=True, slots=True)
class CheckInputs:
    """What a check may look at.

    ``files`` maps each release-relative path to a readable local file (in the
    agent, the blob's path in the blob store; offline, the file in the folder).
    ``keys`` are the armored public keys the project trusts (its KEYS file and its
    committers' registered keys).
    """

    project: str
    version: str
    files: Mapping[str, Path]
    keys: tuple[str, ...] = ()
    policy: Policy = field(default_factory=Policy)


class CheckModule(Protocol):
    """The shape of a check module, for the registry's type checking."""

    CHECK_ID: str
    CHECK_VERSION: int
    SCOPE: Scope

    def run(self, inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None: ...
