"""Fetch a corpus of real, voted Apache source releases, with their real signatures and KEYS.

The releases come from package registries this project's machines reach:

* **Debian** — a Debian source package whose upstream tarball is the ASF release byte for
  byte carries its signature (``<pkg>_<v>.orig.tar.gz.asc``) and the upstream KEYS
  (``debian/upstream/signing-key.asc`` in ``<pkg>_<v>-<r>.debian.tar.xz``). Files are
  fetched from the Debian mirror apt is set up with (``/etc/apt/sources.list`` and
  ``sources.list.d``; ``ATR_DEBIAN_MIRROR`` overrides it), and each is checked against the
  SHA-256 pinned below (copied from Debian's signed ``Sources`` index).
* **PyPI** — an sdist that is the ASF release (its SHA-256 equals the one Debian's index
  gives for the signed upstream tarball), fetched with pip. PyPI no longer serves
  signatures, so such a release is checked for its content only.

Each release lands in ``<cache>/<name>/``: the artifact under its upstream name, its
``.asc``, a ``.sha512`` computed here from the verified bytes (Debian does not carry the
ASF's checksum files) and ``KEYS``; ``<cache>/<name>.json`` says what the release is and
where it came from. The cache is ``.corpus/`` at the top of the work tree (git-ignored), or
``ATR_CORPUS_DIR``. Files already present with the right hash are not fetched again.

    .venv/bin/python scripts/fetch_corpus.py               # fetch every release
    .venv/bin/python scripts/fetch_corpus.py httpd apr     # only these
    .venv/bin/python scripts/fetch_corpus.py --list

Then ``.venv/bin/python scripts/corpus_report.py`` runs ``atr check`` on each and prints
the table of ``docs/corpus.md``; ``tests/integration/test_corpus.py`` checks them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIGNING_KEY = "debian/upstream/signing-key.asc"


@dataclass(frozen=True)
class DebianFile:
    name: str
    sha256: str


@dataclass(frozen=True)
class Release:
    """One release of the corpus."""

    name: str
    artifact: str
    """The file name the ASF published it under."""
    project: str
    version: str
    language: str
    build: str
    pool: str = ""
    """Debian pool folder of the source package (empty for a PyPI release)."""
    orig: DebianFile | None = None
    asc: DebianFile | None = None
    keys_from: tuple[DebianFile, ...] = ()
    """``debian.tar.xz`` files whose ``debian/upstream/signing-key.asc`` make KEYS."""
    keys_pools: tuple[str, ...] = ()
    """Pool folders of ``keys_from`` when they differ from ``pool``."""
    pypi: tuple[str, str, str] | None = None
    """(project, version, sha256) of an sdist on PyPI."""
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def signed(self) -> bool:
        return self.asc is not None


def _deb(name: str, sha256: str) -> DebianFile:
    return DebianFile(name, sha256)


APR_UTIL_DEBIAN = _deb(
    "apr-util_1.6.3-1.debian.tar.xz",
    "51400024f722f3427a720f485bd20874d846f38320e7fe52a290b8c9c7b201f5",
)

RELEASES: tuple[Release, ...] = (
    Release(
        name="httpd",
        artifact="httpd-2.4.68.tar.gz",
        project="httpd",
        version="2.4.68",
        language="C",
        build="autotools",
        pool="pool/main/a/apache2",
        orig=_deb(
            "apache2_2.4.68.orig.tar.gz",
            "ed9a9d4500fb48bb28eaffb3ba71d06ccf86d498fa13ab9f781da010cc488498",
        ),
        asc=_deb(
            "apache2_2.4.68.orig.tar.gz.asc",
            "aea8d8f2b2a6c2088936f44b77ebf31255e3a3eda89087567f55238ad9d60539",
        ),
        keys_from=(
            _deb(
                "apache2_2.4.68-1~deb12u1.debian.tar.xz",
                "b43f83b3bf80e0388ef728ba0e6e2f54f4689834e724a89aec3049d61a2ca015",
            ),
        ),
    ),
    Release(
        name="subversion",
        artifact="subversion-1.14.2.tar.gz",
        project="subversion",
        version="1.14.2",
        language="C, Python, Perl, Ruby, Java bindings",
        build="autotools",
        pool="pool/main/s/subversion",
        orig=_deb(
            "subversion_1.14.2.orig.tar.gz",
            "fd826afad03db7a580722839927dc664f3e93398fe88b66905732c8530971353",
        ),
        asc=_deb(
            "subversion_1.14.2.orig.tar.gz.asc",
            "da6a0a5ff56f671ad2d1eae708f8d1cc1abf0485b029a163ff8272cba5475861",
        ),
        keys_from=(
            _deb(
                "subversion_1.14.2-4+deb12u1.debian.tar.xz",
                "e3c30e3c2d6761a1daf25ed6e420d159d7af98102531d0f11a51566e2c8f398d",
            ),
        ),
    ),
    Release(
        name="apr",
        artifact="apr-1.7.2.tar.bz2",
        project="apr",
        version="1.7.2",
        language="C",
        build="autotools",
        pool="pool/main/a/apr",
        orig=_deb(
            "apr_1.7.2.orig.tar.bz2",
            "75e77cc86776c030c0a5c408dfbd0bf2a0b75eed5351e52d5439fa1e5509a43e",
        ),
        asc=_deb(
            "apr_1.7.2.orig.tar.bz2.asc",
            "3e45e804041cfd112d3710db11424e861a6f96e5b8908fcb73bc558f7d480f37",
        ),
        # The APR project publishes one KEYS for apr and apr-util; Debian's apr package
        # carries an older copy without the release manager's key, its apr-util a newer one.
        keys_from=(
            _deb(
                "apr_1.7.2-3+deb12u1.debian.tar.xz",
                "8fa6328a8211fd6d2edcb972503f355509eda5d829cf3bd86a275ad49b81a424",
            ),
            APR_UTIL_DEBIAN,
        ),
        keys_pools=("pool/main/a/apr", "pool/main/a/apr-util"),
    ),
    Release(
        name="apr-util",
        artifact="apr-util-1.6.3.tar.bz2",
        project="apr-util",
        version="1.6.3",
        language="C",
        build="autotools",
        pool="pool/main/a/apr-util",
        orig=_deb(
            "apr-util_1.6.3.orig.tar.bz2",
            "a41076e3710746326c3945042994ad9a4fcac0ce0277dd8fea076fec3c9772b5",
        ),
        asc=_deb(
            "apr-util_1.6.3.orig.tar.bz2.asc",
            "5fd08491a2cb35fdbf9fa93d753cfd25e59fe58a75a3f3ed62582ebf2a5b3a51",
        ),
        keys_from=(APR_UTIL_DEBIAN,),
    ),
    Release(
        name="serf",
        artifact="serf-1.3.10.tar.bz2",
        project="serf",
        version="1.3.10",
        language="C",
        build="SCons",
        pool="pool/main/s/serf",
        orig=_deb(
            "serf_1.3.10.orig.tar.bz2",
            "be81ef08baa2516ecda76a77adf7def7bc3227eeb578b9a33b45f7b41dc064e6",
        ),
        asc=_deb(
            "serf_1.3.10.orig.tar.bz2.asc",
            "30fff060e76f36fb20fa94a2475ba877c4b953407b789c90f9fee90d78de98a1",
        ),
        keys_from=(
            _deb(
                "serf_1.3.9-11.debian.tar.xz",
                "ad021b52dd04241d6af2e8c0dc88e7054d54c97ae4062fd465a86a21b9c7d4e2",
            ),
        ),
    ),
    Release(
        name="avro-c",
        artifact="avro-c-1.11.1.tar.gz",
        project="avro",
        version="1.11.1",
        language="C",
        build="CMake",
        pool="pool/main/a/avro-c",
        orig=_deb(
            "avro-c_1.11.1.orig.tar.gz",
            "12588c4e3103e7f44a1e05ab583f1dd04adaf6a10aa2fd73e1ccf59045535f92",
        ),
        asc=_deb(
            "avro-c_1.11.1.orig.tar.gz.asc",
            "6d68d31ae9efcd4f30d4ed8fec8eb570c837c21520735739c7b5a395a6db2487",
        ),
        keys_from=(
            _deb(
                "avro-c_1.11.1-1.debian.tar.xz",
                "6f2f3027ac45d988f60c14776833394ae45fbfe152c566bdc2815d17025f039f",
            ),
        ),
    ),
    Release(
        name="xml-security-c",
        artifact="xml-security-c-2.0.4.tar.bz2",
        project="santuario",
        version="2.0.4",
        language="C++",
        build="autotools + libtool",
        pool="pool/main/x/xml-security-c",
        orig=_deb(
            "xml-security-c_2.0.4.orig.tar.bz2",
            "c83ed1b7c0189cce27a49caa81986938e76807bf35597e6056259af30726beca",
        ),
        asc=_deb(
            "xml-security-c_2.0.4.orig.tar.bz2.asc",
            "1f4f4fa3bb71f22400a7b8477f2b5dd99733abe10ca9d00c361dc6333aafa665",
        ),
        keys_from=(
            _deb(
                "xml-security-c_2.0.4-2.debian.tar.xz",
                "87a8394d52f43989aaa02f4a87fc318241d9e85c5e9379201f071215bb5d51c4",
            ),
        ),
    ),
    Release(
        name="zookeeper",
        artifact="apache-zookeeper-3.8.0.tar.gz",
        project="zookeeper",
        version="3.8.0",
        language="Java, C client",
        build="Maven",
        pool="pool/main/z/zookeeper",
        orig=_deb(
            "zookeeper_3.8.0.orig.tar.gz",
            "b0c5684640bea2d8bd6610b47ff41be2aefd6c910ba48fcad5949bd2bf2fa1ac",
        ),
        asc=_deb(
            "zookeeper_3.8.0.orig.tar.gz.asc",
            "22bd6c0fe38b3184cb2b7d5039392f7a63a506915b27a58328f1b4f9731ebfc3",
        ),
        keys_from=(
            _deb(
                "zookeeper_3.8.0-11+deb12u2.debian.tar.xz",
                "c2fca81a9bf80b6bf93cdb78366a60e1d9e561fd664c85db7cddc21d200c9540",
            ),
        ),
    ),
    Release(
        name="thrift",
        artifact="thrift-0.17.0.tar.gz",
        project="thrift",
        version="0.17.0",
        language="C++, Java, Go, Rust, JavaScript, Python, … (28 languages)",
        build="autotools, CMake, Maven/Gradle, npm, Cargo, go modules",
        pool="pool/main/t/thrift",
        orig=_deb(
            "thrift_0.17.0.orig.tar.gz",
            "f5888bcd3b8de40c2c2ab86896867ad9b18510deb412cba3e5da76fb4c604c29",
        ),
        notes="Debian carries no signature for this upstream tarball: content checks only",
    ),
    Release(
        name="libcloud",
        artifact="apache-libcloud-3.4.1.tar.gz",
        project="libcloud",
        version="3.4.1",
        language="Python",
        build="setuptools",
        pypi=(
            "apache-libcloud",
            "3.4.1",
            # The same bytes as the signed upstream tarball Debian's libcloud 3.4.1-5 names.
            "88f18da0cf3fac0af723e743fb741d9d1be251881edab7a5a0d1629955b5011b",
        ),
        notes="PyPI serves no signatures: content checks only",
    ),
)


def cache_dir() -> Path:
    return Path(os.environ.get("ATR_CORPUS_DIR") or ROOT / ".corpus")


def _apt_uris() -> list[str]:
    """The archive URIs of apt's configured sources (deb822 ``URIs:`` and one-line ``deb``)."""
    uris: list[str] = []
    places = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for place in places:
        try:
            text = place.read_text(errors="replace")
        except OSError:
            continue
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("URIs:"):
                uris.extend(line.split()[1:])
            elif line.startswith(("deb ", "deb-src ")):
                parts = [p for p in line.split()[1:] if not p.startswith("[")]
                if parts:
                    uris.append(parts[0])
    return uris


def debian_mirror() -> str:
    """The Debian archive apt uses (not its security archive), or ``ATR_DEBIAN_MIRROR``."""
    chosen = os.environ.get("ATR_DEBIAN_MIRROR")
    if chosen:
        return chosen.rstrip("/")
    for uri in _apt_uris():
        if re.search(r"/debian/?$", uri):
            return uri.rstrip("/")
    raise SystemExit(
        "no Debian archive found in apt's sources; set ATR_DEBIAN_MIRROR to a Debian mirror URL"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(url: str, sha256: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as answer:  # noqa: S310 - a mirror URL
            data: bytes = answer.read()
    except urllib.error.URLError as exc:
        raise SystemExit(f"cannot fetch {url}: {exc}") from exc
    if _sha256(data) != sha256:
        raise SystemExit(f"{url}: SHA-256 {_sha256(data)} is not the pinned {sha256}")
    return data


def _signing_key(debian_tar: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(debian_tar))) as tar:
        try:
            member = tar.extractfile(SIGNING_KEY)
        except KeyError as exc:
            raise SystemExit(f"{name} has no {SIGNING_KEY}") from exc
        if member is None:
            raise SystemExit(f"{name}: {SIGNING_KEY} is not a file")
        return member.read().decode("utf-8", "replace")


def _pypi_sdist(project: str, version: str, sha256: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="atr-corpus-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--dest", tmp, f"{project}=={version}"],
            check=True,
        )  # fmt: skip
        found = sorted(Path(tmp).iterdir())
        if len(found) != 1:
            raise SystemExit(f"pip download {project}=={version} gave {len(found)} files")
        data = found[0].read_bytes()
    if _sha256(data) != sha256:
        raise SystemExit(f"{project} {version}: SHA-256 {_sha256(data)} is not the pinned {sha256}")
    return data


def _have(path: Path, sha256: str) -> bool:
    return path.is_file() and _sha256(path.read_bytes()) == sha256


def fetch(release: Release, target: Path, mirror: str | None) -> None:
    """Fetch one release into ``target`` (nothing is fetched again that is already there)."""
    target.mkdir(parents=True, exist_ok=True)
    artifact = target / release.artifact
    if release.pypi is not None:
        project, version, sha256 = release.pypi
        if not _have(artifact, sha256):
            artifact.write_bytes(_pypi_sdist(project, version, sha256))
        source = f"PyPI {project} {version}"
    else:
        if release.orig is None or mirror is None:
            raise SystemExit(f"{release.name}: no source")
        if not _have(artifact, release.orig.sha256):
            url = f"{mirror}/{release.pool}/{release.orig.name}"
            artifact.write_bytes(_fetch(url, release.orig.sha256))
        if release.asc is not None:
            asc = target / f"{release.artifact}.asc"
            if not _have(asc, release.asc.sha256):
                asc.write_bytes(
                    _fetch(f"{mirror}/{release.pool}/{release.asc.name}", release.asc.sha256)
                )
        if release.keys_from:
            pools = release.keys_pools or (release.pool,) * len(release.keys_from)
            keys = [
                _signing_key(_fetch(f"{mirror}/{pool}/{deb.name}", deb.sha256), deb.name)
                for pool, deb in zip(pools, release.keys_from, strict=True)
            ]
            (target / "KEYS").write_text("\n".join(keys))
        source = f"Debian {release.pool}/{release.orig.name}"
    digest = hashlib.sha512(artifact.read_bytes()).hexdigest()
    (target / f"{release.artifact}.sha512").write_text(f"{digest}  {release.artifact}\n")
    meta = {**asdict(release), "signed": release.signed, "source": source}
    target.with_name(f"{release.name}.json").write_text(json.dumps(meta, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="releases to fetch (default: all)")
    parser.add_argument("--list", action="store_true", help="list the releases and exit")
    args = parser.parse_args()
    if args.list:
        for release in RELEASES:
            signed = "signed" if release.signed else "content only"
            print(f"{release.name:<16} {release.artifact:<34} {release.build:<22} {signed}")
        return
    wanted = set(args.names) or {r.name for r in RELEASES}
    unknown = wanted - {r.name for r in RELEASES}
    if unknown:
        raise SystemExit(f"unknown releases: {', '.join(sorted(unknown))} (see --list)")
    chosen = [r for r in RELEASES if r.name in wanted]
    mirror = debian_mirror() if any(r.pypi is None for r in chosen) else None
    cache = cache_dir()
    for release in chosen:
        print(f"{release.name}: fetching into {cache / release.name}", flush=True)
        fetch(release, cache / release.name, mirror)
    print(f"{len(chosen)} releases in {cache}")


if __name__ == "__main__":
    main()
