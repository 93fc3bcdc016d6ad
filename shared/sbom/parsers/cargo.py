"""Rust: ``Cargo.toml`` and ``Cargo.lock``.

``Cargo.toml`` gives the crate (``[package]``) and its declared dependencies,
including ``[target.….dependencies]`` and ``[workspace.dependencies]``; a bare
requirement (``"1.2"``) is a caret range in Cargo, so only ``"=1.2.3"`` pins a
version. Path-only dependencies are crates of the same source tree and are
described by their own ``Cargo.toml``. ``Cargo.lock`` locks every crate; crates
without a ``source`` belong to the workspace and are the roots.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from shared.sbom.model import Ecosystem, Manifest, ManifestError, Package, PackageKey, Scope

__all__ = ["parse_cargo_lock", "parse_cargo_toml"]

_DEP_TABLES = (
    ("dependencies", Scope.REQUIRED),
    ("build-dependencies", Scope.EXCLUDED),
    ("dev-dependencies", Scope.EXCLUDED),
)


def _load(path: str, data: bytes) -> Mapping[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from exc


def _crate(name: str, spec: str | None, scope: Scope, licenses: tuple[str, ...] = ()) -> Package:
    exact = spec is not None and spec.startswith("=") and not spec.startswith("==")
    version = spec[1:].strip() if exact and spec else None
    return Package(
        Ecosystem.CARGO,
        name,
        version=version or None,
        constraint=None if version else spec,
        licenses=licenses,
        scope=scope,
    )


def _add_table(manifest: Manifest, table: object, scope: Scope) -> None:
    if not isinstance(table, dict):
        return
    for key, value in table.items():
        name = str(key)
        if isinstance(value, str):
            manifest.packages.append(_crate(name, value, scope))
            continue
        if not isinstance(value, dict):
            manifest.problems.append(f"dependency {name}: neither a version nor a table")
            continue
        if "path" in value and "version" not in value:
            continue  # a crate of this source tree
        real = value.get("package")
        crate_name = real if isinstance(real, str) else name
        version = value.get("version")
        spec = version if isinstance(version, str) else None
        if spec is None and value.get("workspace") is True:
            spec = "workspace"
        if spec is None and "git" in value:
            spec = f"git {value['git']}"
        dep_scope = (
            Scope.OPTIONAL if value.get("optional") is True and scope is Scope.REQUIRED else scope
        )
        manifest.packages.append(_crate(crate_name, spec, dep_scope))


def parse_cargo_toml(path: str, data: bytes) -> Manifest:
    """Parse a ``Cargo.toml``."""
    doc = _load(path, data)
    manifest = Manifest(path=path, kind="Cargo.toml")
    package = doc.get("package")
    if isinstance(package, dict) and isinstance(package.get("name"), str):
        version = package.get("version")
        license_ = package.get("license")
        manifest.module = Package(
            Ecosystem.CARGO,
            package["name"],
            version=version if isinstance(version, str) else None,
            licenses=(license_,) if isinstance(license_, str) and license_ else (),
        )
    for table, scope in _DEP_TABLES:
        _add_table(manifest, doc.get(table), scope)
    targets = doc.get("target")
    if isinstance(targets, dict):
        for target in targets.values():
            if isinstance(target, dict):
                for table, scope in _DEP_TABLES:
                    _add_table(manifest, target.get(table), scope)
    workspace = doc.get("workspace")
    if isinstance(workspace, dict):
        _add_table(manifest, workspace.get("dependencies"), Scope.REQUIRED)
    return manifest


def _lock_nodes(
    manifest: Manifest,
    entries: list[Any],
    by_name: dict[str, list[PackageKey]],
    by_name_version: dict[tuple[str, str], PackageKey],
) -> list[tuple[Mapping[str, Any], PackageKey | None]]:
    """Add the locked crates to ``manifest``; return each entry with its key (``None`` for
    the workspace's own crates)."""
    nodes: list[tuple[Mapping[str, Any], PackageKey | None]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        version = entry.get("version") if isinstance(entry.get("version"), str) else None
        if "source" not in entry:
            nodes.append((entry, None))  # a workspace crate: its dependencies are roots
            continue
        crate = Package(Ecosystem.CARGO, entry["name"], version=version)
        manifest.packages.append(crate)
        by_name.setdefault(crate.name, []).append(crate.key)
        if version:
            by_name_version[(crate.name, version)] = crate.key
        nodes.append((entry, crate.key))
    return nodes


def parse_cargo_lock(path: str, data: bytes) -> Manifest:
    """Parse a ``Cargo.lock`` (versions 1 to 4)."""
    doc = _load(path, data)
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise ManifestError(f"{path}: 'package' is not an array of tables")
    manifest = Manifest(path=path, kind="Cargo.lock")
    by_name: dict[str, list[PackageKey]] = {}
    by_name_version: dict[tuple[str, str], PackageKey] = {}
    nodes = _lock_nodes(manifest, entries, by_name, by_name_version)

    def resolve(dep: object) -> PackageKey | None:
        """``"name"``, ``"name version"`` or ``"name version (source)"`` → the locked crate."""
        if not isinstance(dep, str) or not dep.strip():
            return None
        parts = dep.split()
        if len(parts) > 1 and (parts[0], parts[1]) in by_name_version:
            return by_name_version[(parts[0], parts[1])]
        candidates = by_name.get(parts[0], [])
        return candidates[0] if len(candidates) == 1 else None  # else a workspace crate

    for entry, key in nodes:
        deps = entry.get("dependencies")
        for dep in deps if isinstance(deps, list) else []:
            target = resolve(dep)
            if target is None:
                continue
            if key is None:
                manifest.roots.append(target)
            else:
                manifest.edges.append((key, target))
    return manifest
