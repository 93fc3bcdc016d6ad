"""The CycloneDX validator's own pieces: the linear uniqueItems and the iri-reference format."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shared.sbom.validate import _canonical, is_iri_reference, validate_cyclonedx


def _bom(components: list[dict[str, object]]) -> str:
    return json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components}
    )


def _component(name: str, url: str = "https://example.org/x") -> dict[str, object]:
    return {
        "type": "library",
        "name": name,
        "externalReferences": [{"type": "website", "url": url}],
    }


def test_unique_items_finds_a_repeated_component_whatever_its_key_order() -> None:
    many = [_component(f"c{i}") for i in range(2000)]
    assert validate_cyclonedx(_bom(many), strict=True) == []
    again = dict(reversed(list(many[7].items())))
    errors = validate_cyclonedx(_bom([*many, again]), strict=True)
    assert len(errors) == 1 and errors[0].startswith("$.components: ")


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        ({"a": [1, "x"]}, {"a": [1.0, "x"]}, True),
        (None, 0, False),
    ],
)
def test_json_equality_of_the_canonical_form(a: object, b: object, equal: bool) -> None:
    assert (_canonical(a) == _canonical(b)) is equal


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("https://example.org/a%20b?q=1#f", True),
        ("../relative/path", True),
        ("urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79", True),
        ("https://例え.jp/パス", True),
        ("http://exa mple.org", False),
        ("https://example.org/%zz", False),
        ("1http://example.org", False),
    ],
)
def test_iri_reference(value: str, valid: bool) -> None:
    assert is_iri_reference(value) is valid
    errors = validate_cyclonedx(_bom([_component("c", value)]))
    assert (errors == []) is valid


def test_rfc3987_syntax_is_never_imported() -> None:
    """It builds its grammars at import (1.3 s and more): the validator keeps it out."""
    probe = (
        "import sys; from shared.sbom.validate import validate_cyclonedx\n"
        'validate_cyclonedx(\'{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}\')\n'
        "print(sys.modules.get('rfc3987_syntax'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"
