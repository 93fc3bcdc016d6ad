"""Python manifests: requirements files, ``pyproject.toml``, ``poetry.lock`` and ``uv.lock``.

Requirements are PEP 508 strings read with :mod:`packaging`; ``==`` (or ``===``) on
its own pins the version, anything else stays a constraint. Options (``-r``,
``-e``, ``--hash``…) and lines that are not requirements are skipped and listed in
:attr:`Manifest.problems`. Lock files give every locked package and the edges
between them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from shared.sbom.model import Ecosystem, Manifest, ManifestError, Package, PackageKey, Scope

__all__ = ["parse_poetry_lock", "parse_pyproject", "parse_requirements", "parse_uv_lock"]

_MAX_PROBLEMS = 20


def _pypi(
    name: str,
    *,
    version: str | None,
    constraint: str | None,
    scope: Scope,
    licenses: tuple[str, ...] = (),
) -> Package:
    return Package(
        Ecosystem.PYPI,
        canonicalize_name(name),
        version=version,
        constraint=constraint or None,
        licenses=licenses,
        scope=scope,
    )


def _from_requirement(text: str, scope: Scope) -> Package:
    """A package from one PEP 508 string; raises InvalidRequirement."""
    req = Requirement(text)
    specs = list(req.specifier)
    version = None
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        version = specs[0].version
    constraint = None if version else (str(req.specifier) or req.url or None)
    return _pypi(req.name, version=version, constraint=constraint, scope=scope)


def _note(manifest: Manifest, problem: str) -> None:
    if len(manifest.problems) < _MAX_PROBLEMS:
        manifest.problems.append(problem)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((start, (pending + line).strip()))
        pending = ""
    if pending:
        lines.append((start, pending.strip()))
    return lines


def parse_requirements(path: str, data: bytes) -> Manifest:
    """Parse a pip requirements file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text: {exc}") from exc
    manifest = Manifest(path=path, kind="requirements.txt")
    for number, line in _logical_lines(text):
        if not line or line.startswith("-"):
            continue  # blank, or an option: -r other.txt, -e path, --index-url …
        requirement = line.split(" --", 1)[0].strip()  # drop per-line options (--hash=…)
        try:
            manifest.packages.append(_from_requirement(requirement, Scope.REQUIRED))
        except InvalidRequirement as exc:
            _note(manifest, f"line {number}: not a requirement ({str(exc).splitlines()[0]})")
    return manifest


def _load_toml(path: str, data: bytes) -> Mapping[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from exc


_CLASSIFIER_PREFIX = "License :: "


def _project_licenses(project: Mapping[str, Any]) -> tuple[str, ...]:
    value = project.get("license")
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if isinstance(value, dict) and isinstance(value.get("text"), str) and value["text"].strip():
        text = value["text"].strip()
        if len(text) < 100:  # a name, not a whole license text
            return (text,)
    classifiers = project.get("classifiers")
    if isinstance(classifiers, list):
        names = [
            c.rsplit("::", 1)[-1].strip()
            for c in classifiers
            if isinstance(c, str) and c.startswith(_CLASSIFIER_PREFIX) and c.count("::") >= 2
        ]
        return tuple(names)
    return ()


def _add_requirements(manifest: Manifest, items: object, scope: Scope, where: str) -> None:
    if not isinstance(items, list):
        if items is not None:
            _note(manifest, f"{where} is not a list: skipped")
        return
    for item in items:
        if not isinstance(item, str):
            continue  # dependency-group includes ({include-group = …}) name no package
        try:
            manifest.packages.append(_from_requirement(item, scope))
        except InvalidRequirement:
            _note(manifest, f"{where}: {item!r} is not a requirement")


def _poetry_spec(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("version"), str):
        return str(value["version"])
    return None


def _add_poetry(manifest: Manifest, deps: object, scope: Scope) -> None:
    if not isinstance(deps, dict):
        return
    for name, value in deps.items():
        if str(name).lower() == "python":
            continue
        spec = _poetry_spec(value)
        exact = spec is not None and spec.strip().lstrip("=").replace(".", "").isdigit()
        optional = isinstance(value, dict) and value.get("optional") is True
        manifest.packages.append(
            _pypi(
                str(name),
                version=spec.strip().lstrip("=") if exact and spec else None,
                constraint=None if exact else spec,
                scope=Scope.OPTIONAL if optional and scope is Scope.REQUIRED else scope,
            )
        )


def parse_pyproject(path: str, data: bytes) -> Manifest:
    """Parse a ``pyproject.toml`` (``[project]``, ``[dependency-groups]``, ``[tool.poetry]``)."""
    doc = _load_toml(path, data)
    manifest = Manifest(path=path, kind="pyproject.toml")
    project = doc.get("project")
    tool = doc.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    if isinstance(project, dict) and isinstance(project.get("name"), str):
        version = project.get("version")
        manifest.module = _pypi(
            project["name"],
            version=version if isinstance(version, str) else None,
            constraint=None,
            scope=Scope.REQUIRED,
            licenses=_project_licenses(project),
        )
        _add_requirements(
            manifest, project.get("dependencies"), Scope.REQUIRED, "project.dependencies"
        )
        extras = project.get("optional-dependencies")
        if isinstance(extras, dict):
            for extra, items in extras.items():
                _add_requirements(manifest, items, Scope.OPTIONAL, f"optional-dependencies.{extra}")
    elif isinstance(poetry, dict) and isinstance(poetry.get("name"), str):
        version = poetry.get("version")
        manifest.module = _pypi(
            poetry["name"],
            version=version if isinstance(version, str) else None,
            constraint=None,
            scope=Scope.REQUIRED,
            licenses=_project_licenses(poetry),
        )
    groups = doc.get("dependency-groups")
    if isinstance(groups, dict):
        for group, items in groups.items():
            _add_requirements(manifest, items, Scope.EXCLUDED, f"dependency-groups.{group}")
    if isinstance(poetry, dict):
        _add_poetry(manifest, poetry.get("dependencies"), Scope.REQUIRED)
        _add_poetry(manifest, poetry.get("dev-dependencies"), Scope.EXCLUDED)
        poetry_groups = poetry.get("group")
        if isinstance(poetry_groups, dict):
            for group in poetry_groups.values():
                if isinstance(group, dict):
                    _add_poetry(manifest, group.get("dependencies"), Scope.EXCLUDED)
    return manifest


def _lock_packages(path: str, doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    packages = doc.get("package", [])
    if not isinstance(packages, list):
        raise ManifestError(f"{path}: 'package' is not an array of tables")
    return [p for p in packages if isinstance(p, dict) and isinstance(p.get("name"), str)]


def _lock_edges(
    manifest: Manifest,
    keys: dict[str, list[PackageKey]],
    source: PackageKey,
    names: list[str],
) -> None:
    for name in names:
        for target in keys.get(canonicalize_name(name), []):
            manifest.edges.append((source, target))


def parse_poetry_lock(path: str, data: bytes) -> Manifest:
    """Parse a ``poetry.lock``."""
    doc = _load_toml(path, data)
    manifest = Manifest(path=path, kind="poetry.lock")
    entries = _lock_packages(path, doc)
    keys: dict[str, list[PackageKey]] = {}
    for entry in entries:
        version = entry.get("version")
        category = entry.get("category")
        scope = (
            Scope.EXCLUDED
            if category == "dev"
            else (Scope.OPTIONAL if entry.get("optional") else Scope.REQUIRED)
        )
        package = _pypi(
            entry["name"],
            version=version if isinstance(version, str) else None,
            constraint=None,
            scope=scope,
        )
        manifest.packages.append(package)
        keys.setdefault(package.name, []).append(package.key)
    for entry, package in zip(entries, manifest.packages, strict=True):
        deps = entry.get("dependencies")
        if isinstance(deps, dict):
            _lock_edges(manifest, keys, package.key, [str(n) for n in deps])
    return manifest


def parse_uv_lock(path: str, data: bytes) -> Manifest:
    """Parse a ``uv.lock``; the project's own (editable / virtual) packages are roots."""
    doc = _load_toml(path, data)
    manifest = Manifest(path=path, kind="uv.lock")
    entries = _lock_packages(path, doc)
    keys: dict[str, list[PackageKey]] = {}
    own: list[tuple[Mapping[str, Any], str]] = []
    locked: list[tuple[Mapping[str, Any], Package]] = []
    for entry in entries:
        source = entry.get("source")
        if isinstance(source, dict) and ("editable" in source or "virtual" in source):
            own.append((entry, canonicalize_name(entry["name"])))
            continue
        version = entry.get("version")
        package = _pypi(
            entry["name"],
            version=version if isinstance(version, str) else None,
            constraint=None,
            scope=Scope.REQUIRED,
        )
        manifest.packages.append(package)
        locked.append((entry, package))
        keys.setdefault(package.name, []).append(package.key)

    def dep_names(entry: Mapping[str, Any]) -> list[str]:
        deps = entry.get("dependencies")
        if not isinstance(deps, list):
            return []
        return [
            str(d["name"]) for d in deps if isinstance(d, dict) and isinstance(d.get("name"), str)
        ]

    for entry, package in locked:
        _lock_edges(manifest, keys, package.key, dep_names(entry))
    for entry, _name in own:
        for name in dep_names(entry):
            manifest.roots.extend(keys.get(canonicalize_name(name), []))
    return manifest
