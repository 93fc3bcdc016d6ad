"""A project's check policy: limits, switches and ignore rules.

Loaded from TOML or JSON (``atr check --policy FILE``; in the agent, stored per
project). Unknown keys are refused so a typo never silently weakens a check.

The policy classes are frozen dataclasses, so ``atr check`` without ``--policy`` never
imports pydantic (0.08 s of a cold process). A document is still validated by pydantic
models of the same fields and constraints (:func:`_models`, built on first use), so its
errors are pydantic's :class:`~pydantic.ValidationError` with pydantic's messages; the
few pydantic methods the agent and the desktop use (``model_validate``, ``model_dump``,
``model_copy``) behave as pydantic's do. A value given to a constructor that is not
already of the field's exact type and within its constraints goes through the same
models: coerced as pydantic would coerce it, or refused with the same error.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from shared.errors import ValidationError

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["UNIGNORABLE_CHECKS", "ArchiveLimits", "IgnoreRule", "Policy"]

UNIGNORABLE_CHECKS = frozenset({"signatures", "checksums"})
"""Blockers of these checks can never be ignored by policy."""

_STATUSES = ("blocker", "warning", "note")
_COMPILED_CODE = ("warning", "blocker")
_HEADER_MODES = ("asf", "rat")


def _positive_int(value: object) -> bool:
    return type(value) is int and value > 0


class _Model:
    """What the three policy classes share: pydantic's validation and a few of its methods."""

    __slots__ = ()
    _MODEL: str
    """The name of the class's pydantic model in :func:`_models`."""

    def _valid(self) -> bool:
        """Whether every field already holds what pydantic would make of it."""
        raise NotImplementedError

    def __post_init__(self) -> None:
        if self._valid():
            return
        # Anything else is pydantic's to coerce or refuse, with its own error.
        values = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        checked = type(self).model_validate(values)
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, getattr(checked, f.name))

    @classmethod
    def model_validate(cls, data: Any) -> Self:
        """``data`` (a mapping) validated; raises pydantic's ``ValidationError``."""
        if isinstance(data, cls):
            return data
        model = getattr(_models(), cls._MODEL)
        return cls._from_model(model.model_validate(data))

    @classmethod
    def _from_model(cls, model: BaseModel) -> Self:
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            value = getattr(model, f.name)
            if f.name == "archive":
                value = ArchiveLimits._from_model(value)
            elif f.name == "ignores":
                value = tuple(IgnoreRule._from_model(rule) for rule in value)
            values[f.name] = value
        return cls(**values)

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        """A copy with the fields in ``update`` replaced (not validated, as in pydantic)."""
        copy = dataclasses.replace(self)  # type: ignore[type-var]
        for name, value in (update or {}).items():
            object.__setattr__(copy, name, value)
        return copy

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        exclude_defaults: bool = False,
    ) -> dict[str, Any]:
        """The fields as a dict (nested models as dicts; ``json``: tuples as lists), in
        field order, as pydantic's ``model_dump`` with these arguments makes it."""
        wanted = None if include is None else set(include)
        unwanted = set(exclude or ())
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if (wanted is not None and f.name not in wanted) or f.name in unwanted:
                continue
            value = getattr(self, f.name)
            if exclude_defaults and value == _default(f):
                continue
            out[f.name] = _dump(value, mode=mode, exclude_defaults=exclude_defaults)
        return out


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _dump(value: Any, *, mode: str, exclude_defaults: bool) -> Any:
    if isinstance(value, _Model):
        return value.model_dump(mode=mode, exclude_defaults=exclude_defaults)  # type: ignore[arg-type]
    if isinstance(value, tuple):
        items = [_dump(v, mode=mode, exclude_defaults=exclude_defaults) for v in value]
        return items if mode == "json" else tuple(items)
    return value


def _plain(value: Any) -> Any:
    """``value`` with the policy dataclasses in it as dicts, for pydantic to validate."""
    if isinstance(value, _Model):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}  # type: ignore[arg-type]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveLimits(_Model):
    _MODEL = "archive_limits"

    max_uncompressed_bytes: int = 2 * 1024**3
    """Greater than 0."""
    max_members: int = 100_000
    """Greater than 0."""
    max_ratio: float = 100.0
    """Greater than 1."""
    max_depth: int = 32
    """Greater than 0."""

    def _valid(self) -> bool:
        return (
            _positive_int(self.max_uncompressed_bytes)
            and _positive_int(self.max_members)
            and type(self.max_ratio) is float
            and self.max_ratio > 1
            and _positive_int(self.max_depth)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRule(_Model):
    """Ignore results of ``check`` whose path matches the glob ``path``, for a written reason."""

    _MODEL = "ignore_rule"

    check: str
    path: str = "*"
    reason: str
    """At least one character."""
    status: Literal["blocker", "warning", "note"] | None = None
    """Only results of this severity (None: any not passing)."""

    def _valid(self) -> bool:
        return (
            type(self.check) is str
            and type(self.path) is str
            and type(self.reason) is str
            and len(self.reason) >= 1
            and (self.status is None or (type(self.status) is str and self.status in _STATUSES))
        )

    def matches(self, check: str, path: str, status: str) -> bool:
        if check != self.check or not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.status is None or self.status == status


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy(_Model):
    _MODEL = "policy"

    podling: bool = False
    compiled_code: Literal["warning", "blocker"] = "blocker"
    archive: ArchiveLimits = field(default_factory=ArchiveLimits)
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

    def _valid(self) -> bool:
        missing = self.license_header_missing
        return (
            type(self.podling) is bool
            and type(self.compiled_code) is str
            and self.compiled_code in _COMPILED_CODE
            and type(self.archive) is ArchiveLimits
            and type(self.license_header_excludes) is tuple
            and all(type(glob) is str for glob in self.license_header_excludes)
            and type(self.license_header_mode) is str
            and self.license_header_mode in _HEADER_MODES
            and (missing is None or (type(missing) is str and missing in _STATUSES))
            and type(self.ignores) is tuple
            and all(type(rule) is IgnoreRule for rule in self.ignores)
        )

    @classmethod
    def load(cls, path: Path) -> Policy:
        """Read a policy from a ``.toml`` or ``.json`` file, with an error naming the problem."""
        import tomllib  # noqa: PLC0415 - only a policy file needs it

        from pydantic import ValidationError as PydanticValidationError  # noqa: PLC0415

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


@functools.cache
def _models() -> Any:
    """The pydantic models validating policy documents: the same fields, defaults and
    constraints as the dataclasses (imported on first use: ``atr check`` without a policy
    file never needs them)."""
    from types import SimpleNamespace  # noqa: PLC0415

    from pydantic import BaseModel, ConfigDict, Field  # noqa: PLC0415

    class ArchiveLimits(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")

        max_uncompressed_bytes: int = Field(default=2 * 1024**3, gt=0)
        max_members: int = Field(default=100_000, gt=0)
        max_ratio: float = Field(default=100.0, gt=1)
        max_depth: int = Field(default=32, gt=0)

    class IgnoreRule(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")

        check: str
        path: str = "*"
        reason: str = Field(min_length=1)
        status: Literal["blocker", "warning", "note"] | None = None

    class Policy(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")

        podling: bool = False
        compiled_code: Literal["warning", "blocker"] = "blocker"
        archive: ArchiveLimits = ArchiveLimits()
        license_header_excludes: tuple[str, ...] = ()
        license_header_mode: Literal["asf", "rat"] = "asf"
        license_header_missing: Literal["blocker", "warning", "note"] | None = None
        ignores: tuple[IgnoreRule, ...] = ()

    return SimpleNamespace(archive_limits=ArchiveLimits, ignore_rule=IgnoreRule, policy=Policy)
