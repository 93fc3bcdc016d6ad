"""What an SBOM describes and what the SBOM check reports of it, as plain records: the SBOM
check reads them without importing cyclonedx-python-lib (:mod:`shared.sbom.generate`,
which re-exports them, makes them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.sbom.category import Category

__all__ = ["ComponentRecord", "ReleaseArtifact"]


@dataclass(frozen=True, slots=True)
class ReleaseArtifact:
    """The artifact an SBOM describes."""

    project: str
    version: str
    name: str
    """The artifact's file name."""
    sha512: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ComponentRecord:
    """One component of the SBOM as the SBOM check reports it."""

    ref: str
    name: str
    version: str | None
    purl: str
    license: str | None
    """The license expression or names (alternatives joined with `` OR ``)."""
    category: Category
    scope: str
    role: str
    """``module`` for a module of the release, ``dependency`` otherwise."""
    manifests: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "purl": self.purl,
            "license": self.license,
            "category": self.category.value,
            "scope": self.scope,
            "role": self.role,
            "manifests": list(self.manifests),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ComponentRecord:
        """The record :meth:`to_json` wrote."""
        version, license_ = data["version"], data["license"]
        manifests = data["manifests"]
        if not isinstance(manifests, list):
            raise TypeError("manifests is not a list")
        return cls(
            ref=str(data["ref"]),
            name=str(data["name"]),
            version=None if version is None else str(version),
            purl=str(data["purl"]),
            license=None if license_ is None else str(license_),
            category=Category(str(data["category"])),
            scope=str(data["scope"]),
            role=str(data["role"]),
            manifests=tuple(str(m) for m in manifests),
        )
