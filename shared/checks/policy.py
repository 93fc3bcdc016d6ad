"""A project's check policy: limits, switches and ignore rules.

Loaded from TOML or JSON (``atr check --policy FILE``; in the agent, stored per
project). Unknown keys are refused so a typo never silently weakens a check.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from shared.errors import ValidationError

UNIGNORABLE_CHECKS = frozenset({"signatures", "checksums"})
"""Blockers of these checks can never be ignored by policy."""


class ArchiveLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_uncompressed_bytes: int = Field(default=2 * 1024**3, gt=0)
    max_members: int = Field(default=100_000, gt=0)
    max_ratio: float = Field(default=100.0, gt=1)
    max_depth: int = Field(default=32, gt=0)


class IgnoreRule(BaseModel):
    """Ignore results of ``check`` whose path matches the glob ``path``, for a written reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    path: str = "*"
    reason: str = Field(min_length=1)
    status: Literal["blocker", "warning", "note"] | None = None
    """Only results of this severity (None: any not passing)."""

    def matches(self, check: str, path: str, status: str) -> bool:
        if check != self.check or not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.status is None or self.status == status


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    podling: bool = False
    compiled_code: Literal["warning", "blocker"] = "blocker"
    archive: ArchiveLimits = ArchiveLimits()
    license_header_excludes: tuple[str, ...] = ()
    """Globs of paths inside source archives exempt from the license-header check."""
    license_header_mode: Literal["asf", "rat"] = "asf"
    """``asf``: the ASF's source-header policy (a missing header is a warning; generated,
    build-system and comment-less files need none). ``rat``: Apache RAT's rules (every file
    not excluded needs an approved header, else a blocker; RAT's default excludes apply)."""
    license_header_missing: Literal["blocker", "warning", "note"] | None = None
    """The status of a source file with no license header (None: the mode's own — a
    warning in ``asf`` mode, a blocker in ``rat`` mode)."""
    ignores: tuple[IgnoreRule, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Policy:
        """Read a policy from a ``.toml`` or ``.json`` file, with an error naming the problem."""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read the policy file {path}: {exc.strerror}") from exc
        try:
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationError(f"the policy file {path} is not valid: {exc}") from exc
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationError(f"the policy file {path}: {where}: {first['msg']}") from exc
