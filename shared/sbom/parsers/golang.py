"""Go ``go.mod``: the module path and its ``require`` directives.

Every required module version is exact in Go (minimal version selection), so each
becomes a versioned package; ``// indirect`` requirements are kept (they are built
in). ``replace``, ``exclude`` and ``retract`` directives are not dependencies.
"""

from __future__ import annotations

import re

from shared.sbom.model import Ecosystem, Manifest, ManifestError, Package, Scope

__all__ = ["go_package", "parse_go_mod"]

_MODULE = re.compile(r"^module\s+(\S+)")
_REQUIRE_ONE = re.compile(r"^require\s+(\S+)\s+(\S+)")
_BLOCK_START = re.compile(r"^(require|replace|exclude|retract|tool|godebug)\s*\($")
_REQUIRE_ENTRY = re.compile(r"^(\S+)\s+(v\S+)")


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in '"`' else text


def go_package(module_path: str, version: str | None) -> Package:
    """A Go module as a package: namespace is the path up to its last element."""
    namespace, _, name = module_path.rpartition("/")
    return Package(
        Ecosystem.GOLANG, name, namespace=namespace, version=version, scope=Scope.REQUIRED
    )


def parse_go_mod(path: str, data: bytes) -> Manifest:
    """Parse a ``go.mod``; raises :class:`ManifestError` if it is not text or names no module."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text: {exc}") from exc
    manifest = Manifest(path=path, kind="go.mod")
    block: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block is not None:
            if line == ")":
                block = None
            elif block == "require":
                entry = _REQUIRE_ENTRY.match(line)
                if entry is None:
                    manifest.problems.append(f"line {number}: not a requirement")
                else:
                    manifest.packages.append(go_package(_unquote(entry.group(1)), entry.group(2)))
            continue
        if (start := _BLOCK_START.match(line)) is not None:
            block = start.group(1)
        elif (module := _MODULE.match(line)) is not None:
            manifest.module = go_package(_unquote(module.group(1)), None)
        elif (one := _REQUIRE_ONE.match(line)) is not None:
            manifest.packages.append(go_package(_unquote(one.group(1)), one.group(2)))
    if manifest.module is None:
        raise ManifestError(f"{path}: no 'module' directive: not a go.mod file")
    return manifest
