"""Which files are package manifests, and the parser for each.

:func:`is_manifest` answers from a path alone (used while scanning an archive);
:func:`parse_manifest` parses the bytes with the parser for that file name and
raises :class:`shared.sbom.model.ManifestError` (naming the file) for bad input —
never another exception. The parsers (and what they import: packaging, defusedxml,
packageurl) are imported when a manifest is parsed, not to tell manifests by name.
"""

from __future__ import annotations

import importlib
import posixpath
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.sbom.model import Manifest

__all__ = ["is_manifest", "parse_manifest"]

Parser = Callable[[str, bytes], "Manifest"]

_BY_NAME: dict[str, tuple[str, str]] = {
    "pom.xml": ("maven", "parse_pom"),
    "package.json": ("npm", "parse_package_json"),
    "package-lock.json": ("npm", "parse_package_lock"),
    "npm-shrinkwrap.json": ("npm", "parse_package_lock"),
    "pyproject.toml": ("python", "parse_pyproject"),
    "poetry.lock": ("python", "parse_poetry_lock"),
    "uv.lock": ("python", "parse_uv_lock"),
    "go.mod": ("golang", "parse_go_mod"),
    "Cargo.toml": ("cargo", "parse_cargo_toml"),
    "Cargo.lock": ("cargo", "parse_cargo_lock"),
}
"""File name → (module of :mod:`shared.sbom.parsers`, parser function)."""
_REQUIREMENTS = re.compile(r"^requirements(?:[-_.][\w.-]*)?\.(?:txt|in)$", re.IGNORECASE)
_REQUIREMENTS_PARSER = ("python", "parse_requirements")


def _parser_name(path: str) -> tuple[str, str] | None:
    name = posixpath.basename(path)
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    if _REQUIREMENTS.match(name):
        return _REQUIREMENTS_PARSER
    return None


def _parser_for(path: str) -> Parser | None:
    found = _parser_name(path)
    if found is None:
        return None
    module, function = found
    parser: Parser = getattr(importlib.import_module(f"shared.sbom.parsers.{module}"), function)
    return parser


def is_manifest(path: str) -> bool:
    """True if the file at ``path`` is a manifest this package reads."""
    return _parser_name(path) is not None


def parse_manifest(path: str, data: bytes) -> Manifest:
    """Parse the manifest at ``path``; :class:`ManifestError` for anything unreadable."""
    from shared.sbom.model import ManifestError  # noqa: PLC0415 - imports packageurl

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
