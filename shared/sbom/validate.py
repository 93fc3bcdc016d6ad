"""Schema validation of CycloneDX JSON and the NTIA minimum elements.

:func:`validate_cyclonedx` checks a JSON text against the official CycloneDX
schema of the version it declares (``specVersion`` 1.2 to 1.7), with
cyclonedx-python-lib's validator; it returns the errors (at most ``limit``),
an empty list when the document is valid.

:func:`ntia_gaps` reports which of the NTIA minimum elements are missing: for
the document, the author of the SBOM data (``metadata.authors``, ``manufacturer``
or ``tools``) and the timestamp; for each component (and the described one),
supplier (``supplier``, ``manufacturer``, ``publisher`` or ``authors``), name,
version, another unique identifier (``purl``, ``cpe``, ``swid``, ``omniborId`` or
``swhid``) and a dependency relationship (an entry in ``dependencies``).

The JSON-schema machinery is imported on first use, not with this module. jsonschema
would import ``rfc3987_syntax`` for its ``iri``/``iri-reference`` formats, which builds
its grammars at import (1.3 to 1.6 s, more than all the checks of a 10 MB release); this
module keeps it out and gives the format checker of cyclonedx-python-lib's validator
(the draft-7 one) an RFC 3987 ``iri-reference`` check of its own (:func:`is_iri_reference`).

A valid document is told first by jsonschema-rs (when installed), with the same schema
files, the same referenced schemas and the same format checks as that validator (the
functions jsonschema would use, :func:`format_checks`): it takes 0.03 s where importing
jsonschema and building its validator take 0.2 s. A document it does not call valid (or
that it cannot read) goes to cyclonedx-python-lib's validator, whose errors are the ones
reported: the Rust validator only ever answers "valid".
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.errors import ValidationError

if TYPE_CHECKING:
    from cyclonedx.validation.json import JsonStrictValidator, JsonValidator

__all__ = [
    "NtiaGaps",
    "SbomInvalid",
    "format_checks",
    "is_iri_reference",
    "load_cyclonedx",
    "ntia_gaps",
    "validate_cyclonedx",
]

_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6", "1.7")

# RFC 3987 IRI-reference, its syntax as the schema's format asks: no spaces or controls, a
# well-formed scheme when there is one, "%" always followed by two hex digits.
_IRI_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f<>\"{}|\\^`]|%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def is_iri_reference(instance: object) -> bool:
    """True if ``instance`` (a string; anything else passes) is an RFC 3987 IRI reference."""
    if not isinstance(instance, str):
        return True
    if _IRI_FORBIDDEN.search(instance):
        return False
    head = instance.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return ":" not in head or _SCHEME.match(head) is not None


def _is_iri(instance: object) -> bool:
    return not isinstance(instance, str) or (
        is_iri_reference(instance) and _SCHEME.match(instance) is not None
    )


def _canonical(value: Any) -> Any:
    """A hashable form of a JSON value under JSON Schema's equality: ``1 == 1.0``, ``true``
    is not ``1``, objects are equal whatever their key order."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, _canonical(v)) for k, v in value.items()))
    return ("other", repr(value))


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """JSON Schema's ``uniqueItems`` in linear time. jsonschema compares every pair of items
    that cannot be sorted (objects): a second on an SBOM of 1,500 components."""
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _canonical(item)
        if key in seen:
            from jsonschema.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415
                ValidationError as SchemaError,
            )

            yield SchemaError(f"{instance!r} has non-unique elements")
            return
        seen.add(key)


_load_lock = threading.Lock()
_jsonschema_ours = False
"""Whether jsonschema was first imported by :func:`_validator` (``rfc3987_syntax`` kept out)."""
log = logging.getLogger(__name__)


@cache
def _validator(version: str, strict: bool) -> JsonValidator | JsonStrictValidator:
    """cyclonedx-python-lib's validator of ``version`` (imported, and made, once)."""
    global _jsonschema_ours  # noqa: PLW0603 - set once, when jsonschema is imported here
    with _load_lock:
        if "jsonschema" not in sys.modules:
            _jsonschema_ours = True
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
        import cyclonedx.validation.json as cdx_json  # noqa: PLC0415
        from cyclonedx.schema import SchemaVersion  # noqa: PLC0415 - see the module docstring
        from cyclonedx.validation.json import (  # noqa: PLC0415
            JsonStrictValidator,
            JsonValidator,
        )
        from jsonschema import Draft7Validator, validators  # type: ignore[import-untyped]  # noqa: PLC0415

        checker = Draft7Validator.FORMAT_CHECKER
        if "iri-reference" not in checker.checkers:
            checker.checks("iri-reference")(is_iri_reference)
            checker.checks("iri")(_is_iri)
        module: Any = cdx_json
        if getattr(module.Draft7Validator, "ATR_LINEAR_UNIQUE_ITEMS", False) is False:
            # cyclonedx-python-lib builds its validator from the Draft7Validator name in its
            # module: give it one whose uniqueItems is linear (see _unique_items).
            fast = validators.extend(Draft7Validator, {"uniqueItems": _unique_items})
            fast.ATR_LINEAR_UNIQUE_ITEMS = True
            module.Draft7Validator = fast
        schema = SchemaVersion.from_version(version)
        return JsonStrictValidator(schema) if strict else JsonValidator(schema)


def _any_string(instance: str) -> bool:
    return True


def _has_at(instance: str) -> bool:
    return "@" in instance


def format_checks() -> dict[str, Callable[[str], bool]]:
    """The draft-7 format checks of :func:`_validator`'s checker for every format the
    CycloneDX schemas name, as jsonschema picks them from the libraries installed (with
    ``rfc3987_syntax`` kept out, and this module's IRI checks where jsonschema has none), for
    the Rust validator; without importing jsonschema. A format jsonschema does not check
    passes. (The tests compare them with jsonschema's own checker.)"""
    checks: dict[str, Callable[[str], bool]] = {
        "email": _has_at,
        "idn-email": _has_at,
        "date": _is_date,
        "string": _any_string,
    }
    try:
        import rfc3987  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        checks["iri"] = _is_iri
        checks["iri-reference"] = is_iri_reference
        checks["uri"] = _is_uri if _importable("rfc3986_validator") else _any_string
    else:

        def rule(name: str) -> Callable[[str], bool]:
            def check(instance: str) -> bool:
                try:
                    return bool(rfc3987.parse(instance, rule=name))
                except ValueError:
                    return False

            return check

        checks.update(uri=rule("URI"), iri=rule("IRI"), **{"iri-reference": rule("IRI_reference")})
    checks["date-time"] = _is_date_time if _importable("rfc3339_validator") else _any_string
    return checks


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _is_date_time(instance: str) -> bool:
    # jsonschema's check; rfc3339_validator compiles its pattern at import: when first needed.
    from rfc3339_validator import validate_rfc3339  # type: ignore[import-untyped]  # noqa: PLC0415

    return bool(validate_rfc3339(instance.upper()))


def _is_uri(instance: str) -> bool:
    from rfc3986_validator import validate_rfc3986  # type: ignore[import-untyped]  # noqa: PLC0415

    return bool(validate_rfc3986(instance, rule="URI"))


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _is_date(instance: str) -> bool:
    try:
        return bool(_DATE.fullmatch(instance) and date.fromisoformat(instance))
    except ValueError:
        return False


@cache
def _fast_validator(version: str, strict: bool) -> Any:
    """A jsonschema-rs validator of the schema :func:`_validator` uses, with the same referenced
    schemas and format checks (never fetching anything); ``None`` if jsonschema-rs is not
    installed or does not take the schema."""
    try:
        import jsonschema_rs  # noqa: PLC0415
        from cyclonedx.schema import SchemaVersion  # noqa: PLC0415
        from cyclonedx.schema import _res as res  # noqa: PLC0415
    except ImportError:
        return None
    schema_version = SchemaVersion.from_version(version)
    path = (res.BOM_JSON_STRICT if strict else res.BOM_JSON).get(schema_version)
    if path is None:
        return None
    prefix = "http://cyclonedx.org/schema/"  # as cyclonedx-python-lib's registry names them
    try:
        with open(path, encoding="utf-8") as handle:
            schema = json.load(handle)
        resources = []
        for name, resource in (
            ("spdx.SNAPSHOT.schema.json", res.SPDX_JSON),
            ("cryptography-defs.SNAPSHOT.schema.json", res.CRYPTOGRAPHY_DEFS),
            ("jsf-0.82.SNAPSHOT.schema.json", res.JSF),
        ):
            with open(resource, encoding="utf-8") as handle:
                resources.append((prefix + name, json.load(handle)))

        def no_fetching(uri: str) -> Any:
            raise ValueError(f"{uri} is not one of the CycloneDX schemas")

        return jsonschema_rs.Draft7Validator(
            schema,
            formats=format_checks(),
            validate_formats=True,
            registry=jsonschema_rs.Registry(resources, retriever=no_fetching),
            retriever=no_fetching,
        )
    except Exception:  # the Python validator decides
        log.debug("jsonschema-rs cannot take the CycloneDX %s schema", version, exc_info=True)
        return None


def _valid_by_rust(doc: Mapping[str, Any], version: str, strict: bool) -> bool:
    """True if jsonschema-rs calls ``doc`` valid against the schema :func:`_validator` uses,
    checking the formats as jsonschema would; False when it does not, or cannot tell."""
    if "jsonschema" in sys.modules and not _jsonschema_ours:
        return False  # jsonschema was imported elsewhere: its format checks may be others
    validator = _fast_validator(version, strict)
    if validator is None:
        return False
    try:
        return bool(validator.is_valid(doc))
    except Exception:  # a value it cannot read (a lone surrogate, a huge number)
        return False


class SbomInvalid(ValidationError):
    """A text that is not a CycloneDX JSON document this tool can validate."""


def load_cyclonedx(text: str) -> Mapping[str, Any]:
    """Parse a CycloneDX JSON text just enough to know it is one; raises :class:`SbomInvalid`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SbomInvalid(f"not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise SbomInvalid("the top level is not a JSON object")
    if doc.get("bomFormat") != "CycloneDX":
        raise SbomInvalid(f"bomFormat is {doc.get('bomFormat')!r}, not 'CycloneDX'")
    version = doc.get("specVersion")
    if not isinstance(version, str) or version not in _VERSIONS:
        raise SbomInvalid(
            f"specVersion {version!r} is not one this tool validates ({', '.join(_VERSIONS)})"
        )
    return doc


def validate_cyclonedx(text: str, *, strict: bool = False, limit: int = 20) -> list[str]:
    """Schema errors of a CycloneDX JSON text (``[]`` if valid); raises :class:`SbomInvalid`
    when it is not a CycloneDX document at all. ``strict`` forbids properties the schema
    does not define (used for the SBOMs this tool makes)."""
    doc = load_cyclonedx(text)
    version = str(doc["specVersion"])
    if _valid_by_rust(doc, version, strict):
        return []
    errors = _validator(version, strict).validate_str(text, all_errors=True)
    if errors is None:
        return []
    out: list[str] = []
    for error in errors:
        out.append(_describe(error.data))
        if len(out) >= limit:
            break
    return out


def _describe(data: Any) -> str:
    """``path: message`` for a jsonschema error, else its text."""
    message = getattr(data, "message", None)
    where = getattr(data, "json_path", None)
    if isinstance(message, str):
        text = message if len(message) <= 300 else message[:297] + "..."
        return f"{where}: {text}" if where and where != "$" else text
    return str(data)[:300]


@dataclass
class NtiaGaps:
    """What an SBOM lacks of the NTIA minimum elements."""

    document: list[str] = field(default_factory=list)
    """Document-level elements missing: ``author``, ``timestamp``."""
    counts: dict[str, int] = field(default_factory=dict)
    """Component element (``supplier``, ``name``, ``version``, ``identifier``,
    ``dependency``) → how many components lack it."""
    examples: dict[str, list[str]] = field(default_factory=dict)
    """Element → names of the first components that lack it."""
    component_count: int = 0

    @property
    def complete(self) -> bool:
        return not self.document and not self.counts

    def summary(self) -> str:
        """A phrase listing what is missing."""
        parts = [f"{element} (document)" for element in self.document]
        parts += [
            f"{element} ({count} of {self.component_count} components)"
            for element, count in self.counts.items()
        ]
        return ", ".join(parts) if parts else "none"

    def to_json(self) -> dict[str, Any]:
        return {
            "document": list(self.document),
            "components": dict(self.counts),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "component_count": self.component_count,
        }


_IDENTIFIERS = ("purl", "cpe", "swid", "omniborId", "swhid")
_SUPPLIERS = ("supplier", "manufacturer", "publisher", "authors", "author")


def _has(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return value is not None


def _walk(components: object, out: list[Mapping[str, Any]]) -> None:
    if not isinstance(components, list):
        return
    for component in components:
        if isinstance(component, dict):
            out.append(component)
            _walk(component.get("components"), out)


def ntia_gaps(doc: Mapping[str, Any], *, keep: int = 20) -> NtiaGaps:
    """The NTIA minimum elements ``doc`` (a parsed CycloneDX document) lacks; at most ``keep``
    component names are kept per element."""
    gaps = NtiaGaps()
    raw_metadata = doc.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    if not any(_has(metadata.get(k)) for k in ("authors", "manufacturer", "manufacture", "tools")):
        gaps.document.append("author")
    if not _has(metadata.get("timestamp")):
        gaps.document.append("timestamp")
    components: list[Mapping[str, Any]] = []
    if isinstance(metadata.get("component"), dict):
        components.append(metadata["component"])
    _walk(doc.get("components"), components)
    gaps.component_count = len(components)
    related = _related_refs(doc.get("dependencies"))
    for component in components:
        name = str(component.get("name") or component.get("bom-ref") or "(unnamed)")
        for element in _missing(component, related):
            gaps.counts[element] = gaps.counts.get(element, 0) + 1
            names = gaps.examples.setdefault(element, [])
            if len(names) < keep:
                names.append(name)
    return gaps


def _related_refs(dependencies: object) -> set[str]:
    related: set[str] = set()
    if not isinstance(dependencies, list):
        return related
    for dep in dependencies:
        if isinstance(dep, dict) and isinstance(dep.get("ref"), str):
            related.add(dep["ref"])
            targets = dep.get("dependsOn")
            if isinstance(targets, list):
                related.update(d for d in targets if isinstance(d, str))
    return related


def _missing(component: Mapping[str, Any], related: set[str]) -> list[str]:
    missing = []
    if not any(_has(component.get(k)) for k in _SUPPLIERS):
        missing.append("supplier")
    if not _has(component.get("name")):
        missing.append("name")
    if not _has(component.get("version")):
        missing.append("version")
    if not any(_has(component.get(k)) for k in _IDENTIFIERS):
        missing.append("identifier")
    if component.get("bom-ref") not in related:
        missing.append("dependency")
    return missing
