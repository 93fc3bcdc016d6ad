"""Which files are package manifests, and the parser for each.

:func:`is_manifest` answers from a path alone (used while scanning an archive);
:func:`parse_manifest` parses the bytes with the parser for that file name and
raises :class:`shared.sbom.model.ManifestError` (naming the file) for bad input —
never another exception.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from shared.sbom.model import Manifest, ManifestError
from shared.sbom.parsers.cargo import parse_cargo_lock, parse_cargo_toml
from shared.sbom.parsers.golang import parse_go_mod
from shared.sbom.parsers.maven import parse_pom
from shared.sbom.parsers.npm import parse_package_json, parse_package_lock
from shared.sbom.parsers.python import (
    parse_poetry_lock,
    parse_pyproject,
    parse_requirements,
    parse_uv_lock,
)

__all__ = ["is_manifest", "parse_manifest"]

Parser = Callable[[str, bytes], Manifest]

_BY_NAME: dict[str, Parser] = {
    "pom.xml": parse_pom,
    "package.json": parse_package_json,
    "package-lock.json": parse_package_lock,
    "npm-shrinkwrap.json": parse_package_lock,
    "pyproject.toml": parse_pyproject,
    "poetry.lock": parse_poetry_lock,
    "uv.lock": parse_uv_lock,
    "go.mod": parse_go_mod,
    "Cargo.toml": parse_cargo_toml,
    "Cargo.lock": parse_cargo_lock,
}
_REQUIREMENTS = re.compile(r"^requirements(?:[-_.][\w.-]*)?\.(?:txt|in)$", re.IGNORECASE)


def _parser_for(path: str) -> Parser | None:
    name = posixpath.basename(path)
    parser = _BY_NAME.get(name)
    if parser is not None:
        return parser
    if _REQUIREMENTS.match(name):
        return parse_requirements
    return None


def is_manifest(path: str) -> bool:
    """True if the file at ``path`` is a manifest this package reads."""
    return _parser_for(path) is not None


def parse_manifest(path: str, data: bytes) -> Manifest:
    """Parse the manifest at ``path``; :class:`ManifestError` for anything unreadable."""
    parser = _parser_for(path)
    if parser is None:
        raise ManifestError(f"{path}: not a manifest this tool reads")
    try:
        return parser(path, data)
    except ManifestError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        # A structure the parser did not expect (wrong types deep inside): bad input, not a crash.
        raise ManifestError(
            f"{path}: unexpected content ({exc.__class__.__name__}: {exc})"
        ) from exc
