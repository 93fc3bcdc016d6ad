"""Maven ``pom.xml``: the module's coordinates, license and declared dependencies.

Properties defined in the pom itself (``<properties>``, ``project.version``,
``project.groupId``, ``project.parent.version``) are resolved; a version that still
holds ``${…}`` or is a range (``[1.0,2.0)``) is kept as a constraint. Dependencies
come from ``<dependencies>`` of the project (not of profiles or plugins); a missing
version is looked up in the pom's own ``<dependencyManagement>``. XML with a DTD or
entities is refused (defusedxml).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # the Element type; parsing is defused

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from shared.sbom.model import Ecosystem, Manifest, ManifestError, Package, Scope

__all__ = ["parse_pom"]

_PROPERTY = re.compile(r"\$\{([^}]+)\}")
_SCOPES = {
    "compile": Scope.REQUIRED,
    "runtime": Scope.REQUIRED,
    "provided": Scope.OPTIONAL,
    "system": Scope.OPTIONAL,
    "test": Scope.EXCLUDED,
    "import": Scope.EXCLUDED,
}


def _local(tag: object) -> str:
    text = tag if isinstance(tag, str) else ""
    return text.rsplit("}", 1)[-1]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _text(element: ET.Element | None, name: str) -> str | None:
    child = _child(element, name)
    if child is None or child.text is None:
        return None
    value = child.text.strip()
    return value or None


class _Resolver:
    def __init__(self, project: ET.Element) -> None:
        parent = _child(project, "parent")
        self.values: dict[str, str] = {}
        properties = _child(project, "properties")
        for prop in [] if properties is None else list(properties):
            if prop.text is not None and isinstance(prop.tag, str):
                self.values[_local(prop.tag)] = prop.text.strip()
        group = _text(project, "groupId") or _text(parent, "groupId")
        version = _text(project, "version") or _text(parent, "version")
        for key, value in (
            ("project.groupId", group),
            ("project.artifactId", _text(project, "artifactId")),
            ("project.version", version),
            ("project.parent.version", _text(parent, "version")),
            ("project.parent.groupId", _text(parent, "groupId")),
        ):
            if value is not None:
                self.values[key] = value
                self.values[key.replace("project.", "pom.", 1)] = value
        if version is not None:
            self.values.setdefault("version", version)

    def resolve(self, value: str | None) -> str | None:
        if value is None:
            return None
        for _ in range(10):
            replaced = _PROPERTY.sub(lambda m: self.values.get(m.group(1), m.group(0)), value)
            if replaced == value:
                break
            value = replaced
        return value


def _version_fields(version: str | None) -> tuple[str | None, str | None]:
    """(exact version, constraint) of a Maven version spec."""
    if version is None:
        return None, None
    if "${" in version or version[:1] in "[(" or "," in version:
        return None, version
    return version, None


def _managed_versions(project: ET.Element, resolver: _Resolver) -> dict[tuple[str, str], str]:
    managed: dict[tuple[str, str], str] = {}
    block = _child(_child(project, "dependencyManagement"), "dependencies")
    for dep in _children(block, "dependency"):
        group = resolver.resolve(_text(dep, "groupId"))
        artifact = resolver.resolve(_text(dep, "artifactId"))
        version = resolver.resolve(_text(dep, "version"))
        if group and artifact and version:
            managed[(group, artifact)] = version
    return managed


def _module(project: ET.Element, resolver: _Resolver) -> Package | None:
    artifact = resolver.resolve(_text(project, "artifactId"))
    if not artifact:
        return None
    group = resolver.resolve(
        _text(project, "groupId") or _text(_child(project, "parent"), "groupId")
    )
    version, constraint = _version_fields(resolver.resolve(resolver.values.get("project.version")))
    licenses = [
        name
        for lic in _children(_child(project, "licenses"), "license")
        if (name := _text(lic, "name")) is not None
    ]
    return Package(
        Ecosystem.MAVEN,
        artifact,
        namespace=group or "",
        version=version,
        constraint=constraint,
        licenses=tuple(licenses),
    )


def parse_pom(path: str, data: bytes) -> Manifest:
    """Parse a ``pom.xml``; raises :class:`ManifestError` for XML that cannot be read."""
    try:
        project = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ManifestError(f"{path}: refused XML ({exc.__class__.__name__})") from exc
    except ET.ParseError as exc:
        raise ManifestError(f"{path}: not well-formed XML: {exc}") from exc
    if _local(project.tag) != "project":
        raise ManifestError(f"{path}: the root element is <{_local(project.tag)}>, not <project>")
    resolver = _Resolver(project)
    manifest = Manifest(path=path, kind="pom.xml", module=_module(project, resolver))
    managed = _managed_versions(project, resolver)
    for dep in _children(_child(project, "dependencies"), "dependency"):
        group = resolver.resolve(_text(dep, "groupId"))
        artifact = resolver.resolve(_text(dep, "artifactId"))
        if not group or not artifact:
            manifest.problems.append("a <dependency> without groupId or artifactId was skipped")
            continue
        raw_version = resolver.resolve(_text(dep, "version")) or managed.get((group, artifact))
        version, constraint = _version_fields(raw_version)
        scope = _SCOPES.get((_text(dep, "scope") or "compile").lower(), Scope.REQUIRED)
        if (_text(dep, "optional") or "").lower() == "true" and scope is Scope.REQUIRED:
            scope = Scope.OPTIONAL
        manifest.packages.append(
            Package(
                Ecosystem.MAVEN,
                artifact,
                namespace=group,
                version=version,
                constraint=constraint,
                scope=scope,
            )
        )
    return manifest
