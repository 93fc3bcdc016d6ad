"""The ordered list of compliance checks: adding a check is adding its module here.

Each entry is a module following :class:`shared.checks.base.CheckModule` (a stable
``CHECK_ID``, a ``CHECK_VERSION``, a ``SCOPE`` and ``run``). The runner
(:mod:`shared.checks.runner`), agent workers and ``atr check`` all run this list,
in this order; release-scoped checks run once, artifact-scoped ones per artifact.
"""

from __future__ import annotations

from types import ModuleType
from typing import cast

from shared.checks import (
    archives,
    checksums,
    compiled,
    headers,
    keys,
    license_notice,
    paths,
    sbom,
    signatures,
)
from shared.checks.base import CheckModule

__all__ = ["CHECKS", "by_id"]

_MODULES: tuple[ModuleType, ...] = (
    paths,
    keys,
    signatures,
    checksums,
    archives,
    license_notice,
    headers,
    compiled,
    sbom,
)

CHECKS: tuple[CheckModule, ...] = tuple(cast(CheckModule, m) for m in _MODULES)
"""Every registered check, in running order."""


def by_id(check_id: str) -> CheckModule:
    """The registered check with ``check_id``; raises ``KeyError`` naming the known ids."""
    for check in CHECKS:
        if check_id == check.CHECK_ID:
            return check
    known = ", ".join(c.CHECK_ID for c in CHECKS)
    raise KeyError(f"no check {check_id!r} (known: {known})")
