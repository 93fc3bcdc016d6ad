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


_SAMPLES = {
    "date-time": ["2024-01-02T03:04:05Z", "2024-01-02t03:04:05+01:00", "2024-13-02T03:04:05Z",
                  "yesterday", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05"],
    "date": ["2024-01-02", "2024-02-30", "24-01-02", "2024-01-02T00:00:00Z"],
    "idn-email": ["a@b", "nobody", "δοκιμή@παράδειγμα.δοκιμή"],
    "email": ["a@b", "nobody"],
    "iri-reference": ["https://例え.jp/パス", "../x", "http://exa mple.org", "%zz", "a:b"],
    "iri": ["https://example.org", "relative/path", "1http://x"],
    "uri": ["https://example.org/a", "not a uri", "urn:isbn:123", "/relative"],
    "string": ["anything"],
}  # fmt: skip


def test_the_rust_validator_checks_formats_as_jsonschema_does() -> None:
    """The format checks given to jsonschema-rs are jsonschema's own, format by format, for
    every format the CycloneDX schemas name (in a fresh process: jsonschema as the SBOM
    validator imports it)."""
    probe = f"""
import json, pathlib, re
from shared.sbom import validate
mine = validate.format_checks()
validate._validator("1.6", True)
from jsonschema import Draft7Validator
theirs = Draft7Validator.FORMAT_CHECKER
from cyclonedx.schema import _res
used = set()
for path in pathlib.Path(_res.__file__).parent.glob("*.json"):
    used |= set(re.findall(r'"format"\\s*:\\s*"([^"]+)"', path.read_text()))
samples = {_SAMPLES!r}
bad = [(f, v) for f, values in samples.items() for v in values
       if mine[f](v) != theirs.conforms(v, f)]
print(json.dumps({{"missing": sorted(used - mine.keys()), "bad": bad,
                   "untested": sorted(used - samples.keys())}}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"missing": [], "bad": [], "untested": []}


def _variants() -> list[dict[str, object]]:
    from shared.sbom.generate import generate_sbom  # noqa: PLC0415
    from shared.sbom.model import Ecosystem, Manifest, Package, Scope  # noqa: PLC0415
    from shared.sbom.records import ReleaseArtifact  # noqa: PLC0415

    package = Package(Ecosystem.NPM, "lodash", version="4.17.21", licenses=("MIT",))
    other = Package(Ecosystem.NPM, "left-pad", version="1.3.0", scope=Scope.OPTIONAL)
    manifest = Manifest("package.json", "package.json", packages=[package, other])
    artifact = ReleaseArtifact("foo", "1.0", "apache-foo-1.0-src.tar.gz", "a" * 128, "b" * 64)
    good: dict[str, object] = json.loads(generate_sbom(artifact, [manifest]))
    variants = [good]

    def changed(path: list[object], value: object) -> None:
        doc = json.loads(json.dumps(good))
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        variants.append(doc)

    changed(["metadata", "timestamp"], "yesterday")
    changed(["metadata", "timestamp"], "2024-01-02T03:04:05Z\n")
    changed(["metadata", "extra"], 1)
    changed(["version"], 1.0)
    changed(["version"], "1")
    changed(["version"], True)
    changed(["serialNumber"], "urn:uuid:not-a-uuid")
    changed(["serialNumber"], good["serialNumber"] + "\n")  # type: ignore[operator]
    changed(["metadata", "component", "hashes", 0, "content"], "abc")
    changed(["metadata", "component", "type"], "spaceship")
    changed(["metadata", "component", "supplier", "url"], ["http://exa mple.org"])
    changed(["metadata", "component", "supplier", "contact"], [{"email": "nobody"}])
    changed(["components"], [*good["components"], good["components"][0]])  # type: ignore[index]
    changed(["components", 0, "purl"], 42)
    changed(["dependencies"], "none")
    return variants


def test_jsonschema_rs_never_calls_valid_what_jsonschema_refuses() -> None:
    """Documents jsonschema-rs calls valid jsonschema calls valid; the errors reported are
    always jsonschema's (a document only jsonschema-rs refuses, like a serial number with a
    trailing newline that Python's ``$`` lets through, is still valid)."""
    from shared.sbom import validate  # noqa: PLC0415

    rust_validator = validate._fast_validator("1.6", True)
    assert rust_validator is not None
    told = []
    for doc in _variants():
        text = json.dumps(doc)
        rust = bool(rust_validator.is_valid(doc))
        told.append(rust)
        python = validate._validator("1.6", True).validate_str(text, all_errors=True)
        errors = list(python) if python is not None else []
        if rust:
            assert errors == [], doc
        assert (
            validate.validate_cyclonedx(text, strict=True)
            == [validate._describe(e.data) for e in errors][:20]
        )
    assert told[0] and not all(told)


def test_a_valid_sbom_is_told_without_importing_jsonschema() -> None:
    probe = (
        "import sys, json\n"
        "from shared.sbom.generate import generate_sbom\n"
        "from shared.sbom.records import ReleaseArtifact\n"
        "from shared.sbom.validate import validate_cyclonedx\n"
        "a = ReleaseArtifact('foo', '1.0', 'foo-1.0.tar.gz', 'a' * 128, 'b' * 64)\n"
        "print(validate_cyclonedx(generate_sbom(a, []), strict=True), 'jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "False"]
