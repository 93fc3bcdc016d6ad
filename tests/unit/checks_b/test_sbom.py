"""The SBOM check: CycloneDX 1.6 generation from the manifests of an archive, validation,
license categories, NTIA elements, and SBOMs supplied beside an artifact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from shared.checks import sbom
from shared.checks.base import CheckResult, Status
from shared.sbom.generate import ASF
from shared.sbom.validate import load_cyclonedx, ntia_gaps, validate_cyclonedx

from .conftest import RunCheck, base_tree, by_status

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <groupId>org.apache.foo</groupId><artifactId>foo</artifactId><version>1.0</version>
  <licenses><license><name>Apache License, Version 2.0</name></license></licenses>
  <dependencies>
    <dependency><groupId>com.google.guava</groupId><artifactId>guava</artifactId>
      <version>33.0.0-jre</version></dependency>
  </dependencies>
</project>
"""
PACKAGE_JSON = {
    "name": "foo-web",
    "version": "1.0.0",
    "license": "Apache-2.0",
    "dependencies": {"left-pad": "^1.3.0", "copyleft": "2.0.0", "mozlib": "1.0.0"},
    "devDependencies": {"gpl-test-tool": "1.0.0"},
}
PACKAGE_LOCK = {
    "lockfileVersion": 3,
    "packages": {
        "": {"name": "foo-web", "dependencies": {"left-pad": "^1.3.0", "copyleft": "2.0.0"}},
        "node_modules/left-pad": {"version": "1.3.0", "license": "WTFPL"},
        "node_modules/copyleft": {"version": "2.0.0", "license": "GPL-3.0-only"},
        "node_modules/mozlib": {"version": "1.0.0", "license": "MPL-2.0"},
        "node_modules/gpl-test-tool": {"version": "1.0.0", "license": "GPL-2.0", "dev": True},
    },
}


def _tree() -> dict[str, bytes | str]:
    tree = base_tree()
    tree.update(
        {
            "java/pom.xml": POM,
            "web/package.json": json.dumps(PACKAGE_JSON),
            "web/package-lock.json": json.dumps(PACKAGE_LOCK),
            "python/pyproject.toml": '[project]\nname = "foo"\nversion = "1.0"\n'
            'license = "Apache-2.0"\ndependencies = ["requests==2.31.0"]\n',
            "python/requirements.txt": "requests==2.31.0\nurllib3>=2\n",
            "go/go.mod": "module github.com/apache/foo\n\nrequire github.com/pkg/errors v0.9.1\n",
            "rust/Cargo.toml": '[package]\nname = "foo"\nversion = "1.0.0"\n'
            'license = "Apache-2.0"\n[dependencies]\nserde = "1"\n',
            "rust/Cargo.lock": '[[package]]\nname = "foo"\nversion = "1.0.0"\n'
            'dependencies = ["serde"]\n'
            '[[package]]\nname = "serde"\nversion = "1.0.200"\n'
            'source = "registry+https://github.com/rust-lang/crates.io-index"\n',
            "broken/package.json": '{"name": "broken", "dependencies": {',
        }
    )
    return tree


def _summary(results: list[CheckResult]) -> CheckResult:
    passes = [r for r in by_status(results, Status.PASS) if r.message.startswith("CycloneDX")]
    assert len(passes) == 1
    return passes[0]


def _components(summary: CheckResult) -> dict[str, dict[str, Any]]:
    return {c["purl"]: c for c in summary.data["components"]}


def test_sbom_of_a_multi_ecosystem_release(run_check: RunCheck, tmp_path: Path) -> None:
    results = run_check(sbom, _tree())
    summary = _summary(results)
    components = _components(summary)

    # Every ecosystem is there, with the right category.
    assert components["pkg:maven/com.google.guava/guava@33.0.0-jre"]["category"] == "unknown"
    assert components["pkg:maven/org.apache.foo/foo@1.0"]["role"] == "module"
    assert components["pkg:maven/org.apache.foo/foo@1.0"]["category"] == "A"
    assert components["pkg:npm/left-pad@1.3.0"]["category"] == "A"
    assert components["pkg:npm/copyleft@2.0.0"]["category"] == "X"
    assert components["pkg:npm/mozlib@1.0.0"]["category"] == "B"
    assert components["pkg:pypi/requests@2.31.0"]["manifests"] == [
        "python/pyproject.toml",
        "python/requirements.txt",
    ]
    assert components["pkg:pypi/urllib3"]["version"] is None
    assert "pkg:golang/github.com/pkg/errors@v0.9.1" in components
    assert "pkg:cargo/serde@1.0.200" in components
    assert "pkg:cargo/serde" not in components  # the declared range folded into the lock
    assert "pkg:npm/left-pad" not in components

    # The required GPL dependency blocks; the dev-only one and the MPL one warn.
    blockers = by_status(results, Status.BLOCKER)
    assert [b.data["component"]["purl"] for b in blockers] == ["pkg:npm/copyleft@2.0.0"]
    assert blockers[0].path == "foo-1.0-src.tar.gz!/web/package-lock.json"
    warnings = {r.message.split(":")[0]: r for r in by_status(results, Status.WARNING)}
    assert "gpl-test-tool 1.0.0" in warnings
    assert "mozlib 1.0.0" in warnings
    assert "manifest not read" in warnings
    assert warnings["manifest not read"].path == "foo-1.0-src.tar.gz!/broken/package.json"
    unknown = next(r for r in by_status(results, Status.WARNING) if "no known license" in r.message)
    assert "com.google.guava:guava 33.0.0-jre" in unknown.data["components"]

    # The SBOM itself: valid CycloneDX 1.6, the release as root with the artifact's hashes.
    text = summary.data["sbom"]
    assert validate_cyclonedx(text, strict=True) == []
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    root = doc["metadata"]["component"]
    assert root["purl"] == "pkg:generic/apache/foo@1.0"
    artifact = (tmp_path / "release" / "foo-1.0-src.tar.gz").read_bytes()
    hashes = {h["alg"]: h["content"] for h in root["hashes"]}
    assert hashes == {
        "SHA-512": hashlib.sha512(artifact).hexdigest(),
        "SHA-256": hashlib.sha256(artifact).hexdigest(),
    }
    assert summary.data["sbom_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    by_ref = {c["bom-ref"]: c for c in doc["components"]}
    assert by_ref["pkg:maven/org.apache.foo/foo@1.0"]["supplier"]["name"] == ASF
    assert "supplier" not in by_ref["pkg:npm/left-pad@1.3.0"]
    # Modules hang off the release; the lock file's graph is kept.
    depends = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert "pkg:maven/org.apache.foo/foo@1.0" in depends["release"]
    assert "pkg:npm/copyleft@2.0.0" in depends["pkg:npm/foo-web@1.0.0"]
    assert depends["pkg:cargo/foo@1.0.0"] == {"pkg:cargo/serde@1.0.200"}
    assert len(depends) == len(doc["components"]) + 1

    # NTIA: document elements present; suppliers of dependencies unknown (a note).
    gaps = ntia_gaps(load_cyclonedx(text))
    assert gaps.document == []
    assert set(gaps.counts) == {"supplier", "version"}
    assert any(r.message.startswith("NTIA minimum elements missing") for r in results)


def test_a_tree_without_manifests(run_check: RunCheck) -> None:
    results = run_check(sbom, base_tree(), name="foo-1.0-src.zip")
    assert [r.status for r in results] == [Status.PASS]
    doc = json.loads(results[0].data["sbom"])
    assert "components" not in doc or doc["components"] == []
    assert doc["metadata"]["component"]["supplier"]["name"] == "The Apache Software Foundation"


def test_supplied_sboms_are_validated(run_check: RunCheck) -> None:
    invalid = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": 3}]}
    results = run_check(
        sbom, base_tree(), extra={"foo-1.0-src.tar.gz.cdx.json": json.dumps(invalid)}
    )
    supplied = [r for r in results if r.path == "foo-1.0-src.tar.gz.cdx.json"]
    assert len(supplied) == 1 and supplied[0].status is Status.WARNING
    assert "CycloneDX 1.5 schema" in supplied[0].message
    assert any("'type' is a required property" in e for e in supplied[0].data["errors"])

    not_json = run_check(sbom, base_tree(), extra={"foo-1.0-src.tar.gz.cdx.json": "{oops"})
    assert "not a CycloneDX JSON document" in not_json[0].message


def test_a_valid_supplied_sbom_passes(run_check: RunCheck, tmp_path: Path) -> None:
    generated = _summary(run_check(sbom, _tree())).data["sbom"]
    results = run_check(
        sbom,
        base_tree(),
        name="foo-1.0-bin.tar.gz",
        extra={"foo-1.0-bin.tar.gz.cdx.json": generated},
    )
    # A binary artifact: its supplied SBOM is validated, no SBOM is generated for it.
    assert [(r.status, r.path) for r in results] == [
        (Status.NOTE, "foo-1.0-bin.tar.gz.cdx.json"),
        (Status.PASS, "foo-1.0-bin.tar.gz.cdx.json"),
    ]
    assert results[1].message == "the supplied SBOM is valid CycloneDX 1.6"


def test_generate_sbom_for_an_archive(run_check: RunCheck, tmp_path: Path) -> None:
    run_check(sbom, _tree())
    artifact = tmp_path / "release" / "foo-1.0-src.tar.gz"
    text = sbom.generate_sbom_for(artifact, project="foo", version="1.0")
    assert validate_cyclonedx(text, strict=True) == []
    assert json.loads(text)["metadata"]["component"]["properties"] == [
        {"name": "atr:artifact", "value": "foo-1.0-src.tar.gz"}
    ]
