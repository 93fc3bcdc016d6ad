"""What a manifest parser finds: packages, with the manifest that declares them.

A :class:`Manifest` is one file read from a source archive (``pom.xml``,
``package-lock.json``…). It may describe the module it belongs to
(:attr:`Manifest.module`: a Maven artifact, an npm package…) and lists the
packages it declares or locks (:attr:`Manifest.packages`) with the dependency
relationships it states (:attr:`Manifest.edges`). A package with a declared range
rather than an exact version has ``version=None`` and the range in ``constraint``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from packageurl import PackageURL

from shared.errors import ValidationError

__all__ = ["Ecosystem", "Manifest", "ManifestError", "Package", "PackageKey", "Scope"]


class ManifestError(ValidationError):
    """A manifest that cannot be parsed: the message names the file and the problem."""


class Ecosystem(StrEnum):
    """Package ecosystems, spelled as purl types."""

    MAVEN = "maven"
    NPM = "npm"
    PYPI = "pypi"
    GOLANG = "golang"
    CARGO = "cargo"


class Scope(StrEnum):
    """Whether a dependency ends up in what is built (CycloneDX component scopes)."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    EXCLUDED = "excluded"
    """Only for development, tests or the build."""


PackageKey = tuple[str, str, str, str]
"""(ecosystem, namespace, name, version or '') — one package in one version."""


@dataclass(frozen=True, slots=True)
class Package:
    """One package as a manifest names it."""

    ecosystem: Ecosystem
    name: str
    namespace: str = ""
    """Maven groupId, npm scope (``@scope``), Go module path prefix; '' if none."""
    version: str | None = None
    """The exact version, or ``None`` when only a range (``constraint``) is known."""
    constraint: str | None = None
    licenses: tuple[str, ...] = ()
    """The license as the manifest writes it (an SPDX expression or a name); several
    entries are alternatives the user may choose from."""
    scope: Scope = Scope.REQUIRED

    @property
    def key(self) -> PackageKey:
        return (self.ecosystem.value, self.namespace, self.name, self.version or "")

    @property
    def display_name(self) -> str:
        """``group:artifact`` for Maven, ``@scope/name`` for npm, the module path for Go…"""
        if not self.namespace:
            return self.name
        sep = ":" if self.ecosystem is Ecosystem.MAVEN else "/"
        return f"{self.namespace}{sep}{self.name}"

    def purl(self) -> PackageURL:
        """The package URL of this package (without version if it has none)."""
        return PackageURL(
            type=self.ecosystem.value,
            namespace=self.namespace or None,
            name=self.name,
            version=self.version,
        )


@dataclass(slots=True)
class Manifest:
    """One parsed manifest file."""

    path: str
    """Path of the manifest inside the archive (below its root folder)."""
    kind: str
    """The manifest format: ``pom.xml``, ``package-lock.json``, ``requirements.txt``…"""
    module: Package | None = None
    """The module this manifest describes, if it describes one."""
    packages: list[Package] = field(default_factory=list)
    """Dependencies declared, or (lock files) every package locked."""
    edges: list[tuple[PackageKey, PackageKey]] = field(default_factory=list)
    """Dependency relationships stated by the manifest: (dependent, dependency)."""
    roots: list[PackageKey] = field(default_factory=list)
    """Packages the manifest's own project depends on directly (lock files); for other
    manifests every package in ``packages`` is a direct dependency of ``module``."""
    problems: list[str] = field(default_factory=list)
    """Lines or entries that were skipped, each with the reason."""
