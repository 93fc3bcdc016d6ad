"""npm ``package.json`` and ``package-lock.json`` (lockfile versions 1, 2 and 3).

``package.json`` gives the module (name, version, license) and its declared
dependencies: ``dependencies`` (required), ``optionalDependencies`` and
``peerDependencies`` (optional), ``devDependencies`` (excluded). A spec that is an
exact version (``1.2.3``) becomes the version; a range, tag, path or git URL stays a
constraint. ``package-lock.json`` locks every package in the tree with its version
and, from lockfile version 2 on, its license; node_modules resolution gives the edges.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from shared.sbom.model import Ecosystem, Manifest, ManifestError, Package, PackageKey, Scope

__all__ = ["parse_package_json", "parse_package_lock", "split_npm_name"]

_EXACT = re.compile(r"^[=v]?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$")
_DEP_FIELDS = (
    ("dependencies", Scope.REQUIRED),
    ("optionalDependencies", Scope.OPTIONAL),
    ("peerDependencies", Scope.OPTIONAL),
    ("devDependencies", Scope.EXCLUDED),
)


def _load(path: str, data: bytes) -> Mapping[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestError(f"{path}: the top level is not a JSON object")
    return doc


def split_npm_name(name: str) -> tuple[str, str]:
    """``@scope/pkg`` → (``@scope``, ``pkg``); ``pkg`` → ('', ``pkg``)."""
    if name.startswith("@") and "/" in name:
        scope, _, rest = name.partition("/")
        return scope, rest
    return "", name


def _licenses(entry: Mapping[str, Any]) -> tuple[str, ...]:
    value = entry.get("license")
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return (value["type"],)
    old = entry.get("licenses")
    if isinstance(old, list):
        names = [item.get("type") for item in old if isinstance(item, dict)]
        return tuple(n for n in names if isinstance(n, str) and n)
    return ()


def _package(
    name: str, spec: str | None, *, scope: Scope, licenses: tuple[str, ...] = ()
) -> Package:
    namespace, base = split_npm_name(name)
    exact = _EXACT.match(spec.strip()) if spec else None
    return Package(
        Ecosystem.NPM,
        base,
        namespace=namespace,
        version=exact.group(1) if exact else None,
        constraint=None if exact else spec,
        licenses=licenses,
        scope=scope,
    )


def parse_package_json(path: str, data: bytes) -> Manifest:
    """Parse a ``package.json``; raises :class:`ManifestError` for JSON that cannot be read."""
    doc = _load(path, data)
    manifest = Manifest(path=path, kind="package.json")
    name = doc.get("name")
    if isinstance(name, str) and name:
        version = doc.get("version")
        manifest.module = _package(
            name,
            version if isinstance(version, str) else None,
            scope=Scope.REQUIRED,
            licenses=_licenses(doc),
        )
    seen: set[str] = set()
    for field, scope in _DEP_FIELDS:
        deps = doc.get(field)
        if deps is None:
            continue
        if not isinstance(deps, dict):
            manifest.problems.append(f"{field} is not an object: skipped")
            continue
        for dep_name, spec in deps.items():
            if not isinstance(dep_name, str) or not dep_name or dep_name in seen:
                continue
            if not isinstance(spec, str):
                manifest.problems.append(f"{field}.{dep_name}: the version is not a string")
                continue
            seen.add(dep_name)
            manifest.packages.append(_package(dep_name, spec, scope=scope))
    return manifest


def _lock_scope(entry: Mapping[str, Any]) -> Scope:
    if entry.get("dev") or entry.get("devOptional"):
        return Scope.EXCLUDED
    if entry.get("optional") or entry.get("peer"):
        return Scope.OPTIONAL
    return Scope.REQUIRED


def _name_from_key(key: str) -> str:
    return key.rsplit("node_modules/", 1)[-1]


def _resolve_v2(packages: Mapping[str, Any], from_key: str, dep: str) -> str | None:
    """The key of the package ``dep`` that code at ``from_key`` gets (node_modules lookup)."""
    base = from_key
    while True:
        candidate = f"{base}/node_modules/{dep}" if base else f"node_modules/{dep}"
        if candidate in packages:
            return candidate
        if not base:
            return None
        cut = base.rfind("/node_modules/")
        base = base[:cut] if cut >= 0 else ""


def _parse_v2(manifest: Manifest, packages: Mapping[str, Any]) -> None:
    keys: dict[str, PackageKey] = {}
    for key, entry in packages.items():
        if not isinstance(key, str) or "node_modules/" not in key or not isinstance(entry, dict):
            continue
        if entry.get("link"):
            continue  # a workspace folder of this project, described by its own package.json
        version = entry.get("version")
        given = entry.get("name")
        name = given if isinstance(given, str) and given else _name_from_key(key)
        package = _package(
            name,
            version if isinstance(version, str) else None,
            scope=_lock_scope(entry),
            licenses=_licenses(entry),
        )
        manifest.packages.append(package)
        keys[key] = package.key
    for key, entry in packages.items():
        if not isinstance(key, str) or not isinstance(entry, dict):
            continue
        source = keys.get(key)
        for field in (
            "dependencies",
            "optionalDependencies",
            "peerDependencies",
            "devDependencies",
        ):
            deps = entry.get(field)
            if not isinstance(deps, dict):
                continue
            for dep in deps:
                target_key = _resolve_v2(packages, key if key else "", str(dep))
                target = keys.get(target_key) if target_key else None
                if target is None:
                    continue
                if source is None and key == "":
                    manifest.roots.append(target)
                elif source is not None:
                    manifest.edges.append((source, target))


def _parse_v1(
    manifest: Manifest,
    deps: Mapping[str, Any],
    parent: PackageKey | None,
    scopes: list[Mapping[str, Any]],
) -> None:
    """Lockfile v1: a nested tree; ``requires`` resolve to the nearest enclosing scope."""
    local: dict[str, PackageKey] = {}
    for name, entry in deps.items():
        if not isinstance(entry, dict):
            continue
        version = entry.get("version")
        package = _package(
            str(name), version if isinstance(version, str) else None, scope=_lock_scope(entry)
        )
        manifest.packages.append(package)
        local[str(name)] = package.key
        if parent is None:
            manifest.roots.append(package.key)
        else:
            manifest.edges.append((parent, package.key))
    for name, entry in deps.items():
        if not isinstance(entry, dict):
            continue
        nested = entry.get("dependencies")
        chain = [*scopes, deps]
        if isinstance(nested, dict):
            _parse_v1(manifest, nested, local.get(str(name)), chain)
        requires = entry.get("requires")
        if isinstance(requires, dict):
            for req in requires:
                target = _lookup_v1(str(req), [*chain, nested if isinstance(nested, dict) else {}])
                if target is not None and str(name) in local:
                    manifest.edges.append((local[str(name)], target))


def _lookup_v1(name: str, chain: list[Mapping[str, Any]]) -> PackageKey | None:
    for scope in reversed(chain):
        entry = scope.get(name)
        if isinstance(entry, dict):
            version = entry.get("version")
            return _package(
                name, version if isinstance(version, str) else None, scope=Scope.REQUIRED
            ).key
    return None


def parse_package_lock(path: str, data: bytes) -> Manifest:
    """Parse a ``package-lock.json`` or ``npm-shrinkwrap.json``."""
    doc = _load(path, data)
    manifest = Manifest(path=path, kind="package-lock.json")
    packages = doc.get("packages")
    if isinstance(packages, dict):
        _parse_v2(manifest, packages)
        return manifest
    deps = doc.get("dependencies")
    if isinstance(deps, dict):
        _parse_v1(manifest, deps, None, [])
        return manifest
    if packages is not None or deps is not None:
        raise ManifestError(f"{path}: 'packages' / 'dependencies' is not an object")
    return manifest
