"""A CycloneDX 1.6 SBOM for one source artifact, built with cyclonedx-python-lib.

The release itself is the root component (``metadata.component``): a
``pkg:generic/apache/<project>@<version>`` purl, the artifact's SHA-512 and
SHA-256, the ASF as supplier. Every package the manifests inside the archive
declare or lock becomes a component (purl as ``bom-ref``; a declared range with no
locked version stays versionless, with the range in an ``atr:constraint``
property), the modules the manifests describe hang off the root, and the
dependency graph follows what the manifests state. Each component's license
is classified into an ASF category (:mod:`shared.sbom.licenses`).

:func:`generate_sbom` returns the JSON text; :func:`build_sbom` also returns the
component records the SBOM check reports.
"""

from __future__ import annotations

import importlib.metadata
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentScope, ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import License
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from shared.sbom.category import Category
from shared.sbom.model import Manifest, Package, PackageKey, Scope
from shared.sbom.records import ComponentRecord, ReleaseArtifact

__all__ = [
    "ASF",
    "ComponentRecord",
    "GeneratedSbom",
    "ReleaseArtifact",
    "build_sbom",
    "generate_sbom",
    "root_purl",
]

ASF = "The Apache Software Foundation"
_ASF_URL = "https://www.apache.org/"
_TOOL_NAME = "atr-release-manager"
MAX_MANIFEST_PROPERTIES = 5
"""At most this many ``atr:manifest`` properties per component (where it was declared)."""


@dataclass(frozen=True, slots=True)
class GeneratedSbom:
    """The SBOM JSON text and its components (modules first, then dependencies, sorted)."""

    json: str
    components: tuple[ComponentRecord, ...]


@dataclass
class _Entry:
    package: Package
    role: str
    manifests: list[str] = field(default_factory=list)
    licenses: tuple[str, ...] = ()
    scope: Scope = Scope.EXCLUDED
    constraint: str | None = None


_SCOPE_STRENGTH = {Scope.EXCLUDED: 0, Scope.OPTIONAL: 1, Scope.REQUIRED: 2}
_CDX_SCOPE = {
    Scope.REQUIRED: ComponentScope.REQUIRED,
    Scope.OPTIONAL: ComponentScope.OPTIONAL,
    Scope.EXCLUDED: ComponentScope.EXCLUDED,
}


def root_purl(project: str, version: str) -> PackageURL:
    """The purl of a release: ``pkg:generic/apache/<project>@<version>``."""
    return PackageURL(type="generic", namespace="apache", name=project, version=version)


class _Graph:
    """Packages merged across manifests, and the edges between them."""

    def __init__(self) -> None:
        self.entries: dict[PackageKey, _Entry] = {}
        self.modules: list[PackageKey] = []
        self.edges: set[tuple[PackageKey | None, PackageKey]] = set()
        """(dependent, dependency); ``None`` as dependent is the release itself."""

    def add(self, package: Package, *, role: str, manifest: str) -> PackageKey:
        entry = self.entries.get(package.key)
        if entry is None:
            entry = _Entry(package, role)
            self.entries[package.key] = entry
        if role == "module" and entry.role != "module":
            entry.role = "module"
        if manifest not in entry.manifests:
            entry.manifests.append(manifest)
        if not entry.licenses and package.licenses:
            entry.licenses = package.licenses
        if _SCOPE_STRENGTH[package.scope] > _SCOPE_STRENGTH[entry.scope]:
            entry.scope = package.scope
        if entry.constraint is None and package.constraint:
            entry.constraint = package.constraint
        return package.key

    def add_manifest(self, manifest: Manifest, *, folder_module: PackageKey | None = None) -> None:
        """Add a manifest's packages and edges; a lock file's roots hang off ``folder_module``
        (the module described by a manifest in the same folder), else off the release."""
        module = folder_module if manifest.module is None else None
        if manifest.module is not None:
            module = self.add(manifest.module, role="module", manifest=manifest.path)
            if module not in self.modules:
                self.modules.append(module)
            self.edges.add((None, module))
        keys = [self.add(p, role="dependency", manifest=manifest.path) for p in manifest.packages]
        if manifest.edges or manifest.roots:  # a lock file: it states the graph
            for source, target in manifest.edges:
                self.edges.add((source, target))
            for target in manifest.roots:
                self.edges.add((module, target))
        else:
            for key in keys:
                self.edges.add((module, key))

    def merge_versionless(self) -> None:
        """Fold a declared range into the locked versions of the same package."""
        versioned: dict[tuple[str, str, str], list[PackageKey]] = {}
        for key in self.entries:
            if key[3]:
                versioned.setdefault(key[:3], []).append(key)
        redirect: dict[PackageKey, list[PackageKey]] = {}
        for key, entry in list(self.entries.items()):
            targets = versioned.get(key[:3])
            if key[3] or not targets:
                continue
            redirect[key] = targets
            for target in targets:
                _fold(entry, into=self.entries[target])
            del self.entries[key]
        if not redirect:
            return
        edges: set[tuple[PackageKey | None, PackageKey]] = set()
        for source, target in self.edges:
            sources: list[PackageKey | None] = [None]
            if source is not None:
                sources = list(redirect.get(source, [source]))
            edges.update((s, t) for s in sources for t in redirect.get(target, [target]) if s != t)
        self.edges = edges
        self.modules = [m for key in self.modules for m in redirect.get(key, [key])]


def _fold(entry: _Entry, *, into: _Entry) -> None:
    """Merge what a versionless entry knows into a versioned one of the same package."""
    into.manifests.extend(m for m in entry.manifests if m not in into.manifests)
    if not into.licenses:
        into.licenses = entry.licenses
    if _SCOPE_STRENGTH[entry.scope] > _SCOPE_STRENGTH[into.scope]:
        into.scope = entry.scope
    if entry.role == "module":
        into.role = "module"


def _licenses(values: tuple[str, ...]) -> list[License]:
    # The license machinery (cyclonedx's SPDX list, license-expression) is imported for an
    # SBOM that names licenses only: a release without manifests needs none of it.
    from cyclonedx.contrib.license.factories import LicenseFactory  # noqa: PLC0415
    from cyclonedx.spdx import fixup_id  # noqa: PLC0415

    factory = LicenseFactory()
    if len(values) == 1:
        return [factory.make_from_string(values[0])]
    # Several entries: license objects (an expression cannot sit beside others).
    return [
        factory.make_with_id(v) if fixup_id(v) is not None else factory.make_with_name(v)
        for v in values
    ]


def _category(values: tuple[str, ...]) -> Category:
    if not values:
        return Category.UNKNOWN
    from shared.sbom.licenses import classify  # noqa: PLC0415 - see _licenses

    return min((classify(v).category for v in values), key=lambda c: c.badness)


def _component(entry: _Entry) -> Component:
    package = entry.package
    purl = package.purl()
    properties = [
        Property(name="atr:manifest", value=m) for m in entry.manifests[:MAX_MANIFEST_PROPERTIES]
    ]
    if package.version is None and entry.constraint:
        properties.append(Property(name="atr:constraint", value=entry.constraint))
    properties.append(Property(name="atr:role", value=entry.role))
    return Component(
        name=package.name,
        group=package.namespace or None,
        version=package.version,
        type=ComponentType.LIBRARY,
        bom_ref=purl.to_string(),
        purl=purl,
        scope=_CDX_SCOPE[entry.scope],
        # The release's own modules come from the ASF; dependencies' suppliers are not known.
        supplier=_asf() if entry.role == "module" else None,
        licenses=_licenses(entry.licenses) if entry.licenses else None,
        properties=properties,
    )


def _asf() -> OrganizationalEntity:
    return OrganizationalEntity(name=ASF, urls=[XsUri(_ASF_URL)])


def _tool_version() -> str:
    try:
        return importlib.metadata.version(_TOOL_NAME)
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _root(artifact: ReleaseArtifact, modules: Iterable[_Entry]) -> Component:
    module_licenses = {lic for entry in modules for lic in entry.licenses}
    return Component(
        name=artifact.project,
        version=artifact.version,
        type=ComponentType.APPLICATION,
        bom_ref="release",
        purl=root_purl(artifact.project, artifact.version),
        supplier=_asf(),
        hashes=[
            HashType(alg=HashAlgorithm.SHA_512, content=artifact.sha512),
            HashType(alg=HashAlgorithm.SHA_256, content=artifact.sha256),
        ],
        licenses=_licenses(tuple(sorted(module_licenses))) if len(module_licenses) == 1 else None,
        properties=[Property(name="atr:artifact", value=artifact.name)],
    )


def build_sbom(
    artifact: ReleaseArtifact,
    manifests: Sequence[Manifest],
    *,
    timestamp: datetime | None = None,
    serial: UUID | None = None,
) -> GeneratedSbom:
    """The SBOM of ``artifact`` from the manifests parsed out of it."""
    graph = _Graph()
    folder_modules: dict[str, PackageKey] = {}
    for manifest in manifests:
        if manifest.module is not None:
            folder_modules.setdefault(posixpath.dirname(manifest.path), manifest.module.key)
    for manifest in manifests:
        graph.add_manifest(
            manifest, folder_module=folder_modules.get(posixpath.dirname(manifest.path))
        )
    graph.merge_versionless()

    components = {key: _component(entry) for key, entry in graph.entries.items()}
    root = _root(artifact, (graph.entries[k] for k in graph.modules if k in graph.entries))
    tool = Component(type=ComponentType.APPLICATION, name=_TOOL_NAME, version=_tool_version())
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(
            timestamp=timestamp,
            component=root,
            supplier=_asf(),
            tools=ToolRepository(components=[tool]),
        ),
        components=components.values(),
    )
    depends: dict[PackageKey | None, set[PackageKey]] = {}
    reached: set[PackageKey] = set()
    for source, target in graph.edges:
        if target in components and (source is None or source in components):
            depends.setdefault(source, set()).add(target)
            reached.add(target)
    # Every component hangs somewhere: what no manifest ties in depends from the release.
    depends.setdefault(None, set()).update(k for k in components if k not in reached)

    # One entry per component, each made once: Bom.register_dependency looks each target up
    # in every entry made so far (quadratic: 2 s for a release of 1,500 components).
    def entry(target: Component, keys: Iterable[PackageKey]) -> Dependency:
        refs = [Dependency(ref=components[k].bom_ref) for k in sorted(keys)]
        return Dependency(ref=target.bom_ref, dependencies=refs)

    bom.dependencies = [
        entry(root, depends.get(None, set())),
        *(entry(components[key], depends.get(key, set())) for key in sorted(components)),
    ]

    text = JsonV1Dot6(bom).output_as_string(indent=2)
    records = tuple(
        sorted(
            (_record(components[key], entry) for key, entry in graph.entries.items()),
            key=lambda r: (r.role != "module", r.purl),
        )
    )
    return GeneratedSbom(json=text, components=records)


def _record(component: Component, entry: _Entry) -> ComponentRecord:
    return ComponentRecord(
        ref=str(component.bom_ref.value),
        name=entry.package.display_name,
        version=entry.package.version,
        purl=str(component.bom_ref.value),
        license=" OR ".join(entry.licenses) if entry.licenses else None,
        category=_category(entry.licenses),
        scope=entry.scope.value,
        role=entry.role,
        manifests=tuple(entry.manifests),
    )


def generate_sbom(
    artifact: ReleaseArtifact,
    manifests: Sequence[Manifest],
    *,
    timestamp: datetime | None = None,
    serial: UUID | None = None,
) -> str:
    """The CycloneDX 1.6 JSON text of the SBOM of ``artifact``."""
    return build_sbom(artifact, manifests, timestamp=timestamp, serial=serial).json
