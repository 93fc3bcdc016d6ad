"""Manifest parsers: each ecosystem, and bad input always a ManifestError naming the file."""

from __future__ import annotations

import json

import pytest

from shared.sbom.manifests import is_manifest, parse_manifest
from shared.sbom.model import Ecosystem, ManifestError, Scope

POM = b"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent><groupId>org.apache.foo</groupId><artifactId>foo-parent</artifactId>
    <version>1.0</version></parent>
  <artifactId>foo-core</artifactId>
  <properties><guava.version>33.0.0-jre</guava.version></properties>
  <licenses><license><name>Apache-2.0</name></license></licenses>
  <dependencyManagement><dependencies>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version>
    </dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>com.google.guava</groupId><artifactId>guava</artifactId>
      <version>${guava.version}</version></dependency>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><scope>test</scope>
    </dependency>
    <dependency><groupId>org.example</groupId><artifactId>ranged</artifactId>
      <version>[1.0,2.0)</version><optional>true</optional></dependency>
    <dependency><groupId>org.apache.foo</groupId><artifactId>foo-api</artifactId>
      <version>${project.version}</version></dependency>
  </dependencies>
  <profiles><profile><dependencies><dependency><groupId>x</groupId><artifactId>in-profile</artifactId>
    <version>1</version></dependency></dependencies></profile></profiles>
</project>
"""


def test_pom() -> None:
    manifest = parse_manifest("core/pom.xml", POM)
    assert manifest.module is not None
    assert (manifest.module.namespace, manifest.module.name, manifest.module.version) == (
        "org.apache.foo",
        "foo-core",
        "1.0",
    )
    assert manifest.module.licenses == ("Apache-2.0",)
    found = {(p.display_name, p.version, p.constraint, p.scope) for p in manifest.packages}
    assert found == {
        ("com.google.guava:guava", "33.0.0-jre", None, Scope.REQUIRED),
        ("junit:junit", "4.13.2", None, Scope.EXCLUDED),
        ("org.example:ranged", None, "[1.0,2.0)", Scope.OPTIONAL),
        ("org.apache.foo:foo-api", "1.0", None, Scope.REQUIRED),
    }
    guava = next(p for p in manifest.packages if p.name == "guava")
    assert guava.purl().to_string() == "pkg:maven/com.google.guava/guava@33.0.0-jre"


def test_package_json_and_lock() -> None:
    package = {
        "name": "@apache/foo-web",
        "version": "1.0.0",
        "license": "Apache-2.0",
        "dependencies": {"react": "18.2.0", "lodash": "^4.17.0", "local": "file:../local"},
        "devDependencies": {"jest": "29.0.0"},
        "optionalDependencies": {"fsevents": "2.3.3"},
    }
    manifest = parse_manifest("web/package.json", json.dumps(package).encode())
    assert manifest.module is not None and manifest.module.namespace == "@apache"
    found = {(p.name, p.version, p.constraint, p.scope) for p in manifest.packages}
    assert found == {
        ("react", "18.2.0", None, Scope.REQUIRED),
        ("lodash", None, "^4.17.0", Scope.REQUIRED),
        ("local", None, "file:../local", Scope.REQUIRED),
        ("jest", "29.0.0", None, Scope.EXCLUDED),
        ("fsevents", "2.3.3", None, Scope.OPTIONAL),
    }
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "@apache/foo-web", "dependencies": {"lodash": "^4.17.0"}},
            "node_modules/lodash": {"version": "4.17.21", "license": "MIT"},
            "node_modules/gpl-lib": {"version": "1.0.0", "license": "GPL-3.0-only", "dev": True},
            "node_modules/a": {"version": "1.0.0", "dependencies": {"b": "^2"}},
            "node_modules/a/node_modules/b": {"version": "2.0.0"},
            "node_modules/b": {"version": "1.0.0"},
            "packages/linked": {"version": "0.1.0"},
            "node_modules/linked": {"link": True, "resolved": "packages/linked"},
        },
    }
    locked = parse_manifest("web/package-lock.json", json.dumps(lock).encode())
    names = {(p.name, p.version, p.licenses, p.scope) for p in locked.packages}
    assert ("lodash", "4.17.21", ("MIT",), Scope.REQUIRED) in names
    assert ("gpl-lib", "1.0.0", ("GPL-3.0-only",), Scope.EXCLUDED) in names
    assert len(locked.packages) == 5
    assert (("npm", "", "a", "1.0.0"), ("npm", "", "b", "2.0.0")) in locked.edges
    assert locked.roots == [("npm", "", "lodash", "4.17.21")]


def test_package_lock_v1() -> None:
    lock = {
        "lockfileVersion": 1,
        "dependencies": {
            "a": {"version": "1.0.0", "requires": {"b": "^1"}},
            "b": {"version": "1.1.0", "dev": True},
        },
    }
    manifest = parse_manifest("package-lock.json", json.dumps(lock).encode())
    assert {(p.name, p.version, p.scope) for p in manifest.packages} == {
        ("a", "1.0.0", Scope.REQUIRED),
        ("b", "1.1.0", Scope.EXCLUDED),
    }
    assert manifest.edges == [(("npm", "", "a", "1.0.0"), ("npm", "", "b", "1.1.0"))]


def test_python_manifests() -> None:
    requirements = parse_manifest(
        "requirements-dev.txt",
        b"# tools\nrequests==2.31.0 --hash=sha256:abc\nFlask>=2.0  # web\n-r base.txt\n"
        b"-e ./local\n./not/a/requirement\nlong-name \\\n  ==1.0\n"
        b"foo[bar]==1.0; python_version > '3'\n",
    )
    assert [(p.name, p.version, p.constraint) for p in requirements.packages] == [
        ("requests", "2.31.0", None),
        ("flask", None, ">=2.0"),
        ("long-name", "1.0", None),
        ("foo", "1.0", None),
    ]
    assert len(requirements.problems) == 1 and requirements.problems[0].startswith("line 6")

    pyproject = parse_manifest(
        "pyproject.toml",
        b'[project]\nname = "Apache_Foo"\nversion = "1.0"\nlicense = "Apache-2.0"\n'
        b'dependencies = ["httpx>=0.27", "pydantic==2.7.1"]\n'
        b'[project.optional-dependencies]\ncli = ["click"]\n'
        b'[dependency-groups]\ndev = ["pytest>=8", {include-group = "x"}]\n',
    )
    assert pyproject.module is not None and pyproject.module.name == "apache-foo"
    assert {(p.name, p.version, p.scope) for p in pyproject.packages} == {
        ("httpx", None, Scope.REQUIRED),
        ("pydantic", "2.7.1", Scope.REQUIRED),
        ("click", None, Scope.OPTIONAL),
        ("pytest", None, Scope.EXCLUDED),
    }

    poetry = parse_manifest(
        "poetry.lock",
        b'[[package]]\nname = "requests"\nversion = "2.31.0"\n'
        b'[package.dependencies]\nidna = ">=2.5"\n'
        b'[[package]]\nname = "idna"\nversion = "3.6"\n',
    )
    assert poetry.edges == [(("pypi", "", "requests", "2.31.0"), ("pypi", "", "idna", "3.6"))]

    uv = parse_manifest(
        "uv.lock",
        b'version = 1\n[[package]]\nname = "foo"\nversion = "1.0"\nsource = { editable = "." }\n'
        b'dependencies = [{ name = "httpx" }]\n'
        b'[[package]]\nname = "httpx"\nversion = "0.27.0"\n'
        b'source = { registry = "https://pypi.org/simple" }\n',
    )
    assert [(p.name, p.version) for p in uv.packages] == [("httpx", "0.27.0")]
    assert uv.roots == [("pypi", "", "httpx", "0.27.0")]


def test_go_mod() -> None:
    manifest = parse_manifest(
        "go.mod",
        b"module github.com/apache/foo\n\ngo 1.22\n\nrequire (\n\tgithub.com/pkg/errors v0.9.1\n"
        b"\tgolang.org/x/sys v0.20.0 // indirect\n)\n\nrequire gopkg.in/yaml.v3 v3.0.1\n"
        b"replace (\n\tgithub.com/x/y => ../y\n)\n",
    )
    assert manifest.module is not None and manifest.module.display_name == "github.com/apache/foo"
    assert [p.purl().to_string() for p in manifest.packages] == [
        "pkg:golang/github.com/pkg/errors@v0.9.1",
        "pkg:golang/golang.org/x/sys@v0.20.0",
        "pkg:golang/gopkg.in/yaml.v3@v3.0.1",
    ]


def test_cargo() -> None:
    toml = parse_manifest(
        "Cargo.toml",
        b'[package]\nname = "foo"\nversion = "0.1.0"\nlicense = "Apache-2.0"\n'
        b'[dependencies]\nserde = "1"\npinned = { version = "=1.2.3", optional = true }\n'
        b'local = { path = "../local" }\nrenamed = { package = "real-name", version = "0.3" }\n'
        b"[dev-dependencies]\ntokio = { workspace = true }\n"
        b"[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n",
    )
    assert toml.module is not None and toml.module.licenses == ("Apache-2.0",)
    assert {(p.name, p.version, p.constraint, p.scope) for p in toml.packages} == {
        ("serde", None, "1", Scope.REQUIRED),
        ("pinned", "1.2.3", None, Scope.OPTIONAL),
        ("real-name", None, "0.3", Scope.REQUIRED),
        ("tokio", None, "workspace", Scope.EXCLUDED),
        ("libc", None, "0.2", Scope.REQUIRED),
    }
    lock = parse_manifest(
        "Cargo.lock",
        b'version = 3\n[[package]]\nname = "foo"\nversion = "0.1.0"\ndependencies = ["serde"]\n'
        b'[[package]]\nname = "serde"\nversion = "1.0.200"\n'
        b'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
        b'dependencies = ["serde_derive 1.0.200"]\n'
        b'[[package]]\nname = "serde_derive"\nversion = "1.0.200"\n'
        b'source = "registry+https://github.com/rust-lang/crates.io-index"\n',
    )
    assert all(p.ecosystem is Ecosystem.CARGO for p in lock.packages)
    assert lock.roots == [("cargo", "", "serde", "1.0.200")]
    assert lock.edges == [
        (("cargo", "", "serde", "1.0.200"), ("cargo", "", "serde_derive", "1.0.200"))
    ]


@pytest.mark.parametrize(
    ("path", "data", "fragment"),
    [
        ("pom.xml", b"<project><dependencies></project>", "not well-formed XML"),
        ("pom.xml", b'<!DOCTYPE p [<!ENTITY x "y">]><project>&x;</project>', "refused XML"),
        ("pom.xml", b"<notaproject/>", "not <project>"),
        ("package.json", b"{", "not valid JSON"),
        ("package.json", b"[1, 2]", "not a JSON object"),
        ("package-lock.json", b'{"packages": []}', "not an object"),
        ("package.json", b"\xff\xfe", "not valid JSON"),
        ("pyproject.toml", b"[project\nname=", "not valid TOML"),
        ("poetry.lock", b"package = 'x'", "not an array"),
        ("Cargo.toml", b"[dependencies\n", "not valid TOML"),
        ("Cargo.lock", b"package = 3", "not an array"),
        ("go.mod", b"this is not go.mod", "no 'module' directive"),
        ("go.mod", b"\xff\xfe\x00", "not UTF-8"),
        ("requirements.txt", b"\xff\xfe\x00", "not UTF-8"),
        ("README", b"x", "not a manifest"),
    ],
)
def test_bad_input_is_a_manifest_error(path: str, data: bytes, fragment: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(path, data)
    assert caught.value.message.startswith(path)
    assert fragment in caught.value.message


def test_odd_shapes_do_not_crash() -> None:
    weird = parse_manifest(
        "package.json", b'{"name": 3, "dependencies": {"a": 1, "b": "1.0.0"}, "devDependencies": 7}'
    )
    assert weird.module is None
    assert [p.name for p in weird.packages] == ["b"]
    assert len(weird.problems) == 2
    cargo = parse_manifest("Cargo.toml", b"[dependencies]\nodd = 3\n")
    assert cargo.packages == [] and cargo.problems


def test_is_manifest() -> None:
    for name in ("a/pom.xml", "requirements.txt", "requirements-test.txt", "requirements_dev.in"):
        assert is_manifest(name)
    assert is_manifest("x/Cargo.lock") and is_manifest("uv.lock")
    assert not is_manifest("pom.xml.bak") and not is_manifest("package.json5")
