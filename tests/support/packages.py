"""Real packages for the registry tests: a wheel, an sdist and an npm tarball.

    wheel = python_wheel(tmp_path, "acme-lib", "1.0.0")      # acme_lib-1.0.0-py3-none-any.whl
    sdist = python_sdist(tmp_path, "acme-lib", "1.0.0")      # acme_lib-1.0.0.tar.gz
    tgz = npm_tarball(tmp_path, "acme-lib", "1.0.0")         # acme-lib-1.0.0.tgz (package/…)
    files = signed([wheel, sdist], sign=rm.key.sign)         # + .asc and .sha512 for each

Each is what its tool makes (core metadata, a RECORD with hashes, PKG-INFO; a
``package/package.json``), so pip and npm install them; and each is a proper ASF artifact
(LICENSE, NOTICE, license headers), so the agent's checks pass. ``padding`` adds that
many random bytes, stored uncompressed, to make an upload take time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name

from shared.checks.license_notice import apache_license_text

__all__ = ["npm_tarball", "python_sdist", "python_wheel", "signed"]

MTIME = 1_767_225_600
NOTICE = (
    "Apache Acme Library\nCopyright 2026 The Apache Software Foundation\n\n"
    "This product includes software developed at\n"
    "The Apache Software Foundation (http://www.apache.org/).\n"
)
_HEADER_LINES = (
    "Licensed to the Apache Software Foundation (ASF) under one or more contributor license",
    "agreements. See the NOTICE file distributed with this work for additional information",
    "regarding copyright ownership. The ASF licenses this file to you under the Apache",
    'License, Version 2.0 (the "License"); you may not use this file except in compliance',
    "with the License. You may obtain a copy of the License at",
    "  http://www.apache.org/licenses/LICENSE-2.0",
)


def _header(comment: str) -> str:
    return "".join(f"{comment} {line}\n" for line in _HEADER_LINES) + "\n"


def _padding(size: int, seed: str) -> bytes:
    rng = random.Random(seed)
    chunk = 64 * 2**20  # randbytes of more than 256 MiB overflows a C int
    return b"".join(rng.randbytes(min(chunk, size - at)) for at in range(0, size, chunk))


def _module(name: str, version: str) -> bytes:
    return (_header("#") + f'"""{name}: a test package."""\n\n__version__ = "{version}"\n').encode()


def _metadata(name: str, version: str) -> bytes:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        "Summary: A test package of the Apache Acme Library\n"
        "Home-page: https://acme.apache.org/\n"
        "Author: The Apache Acme team\n"
        "License: Apache-2.0\n"
        "Project-URL: Source, https://github.com/apache/acme\n"
        "Classifier: License :: OSI Approved :: Apache Software License\n"
        "Classifier: Programming Language :: Python :: 3\n"
        "Requires-Python: >=3.8\n"
        "Description-Content-Type: text/markdown\n"
        "\n"
        f"# {name}\n\nThe Apache Acme Library, packaged for tests.\n"
    ).encode()


def python_wheel(folder: Path, name: str, version: str, *, padding: int = 0) -> Path:
    """A pure-Python wheel ``<name>-<version>-py3-none-any.whl`` that pip installs."""
    dist = canonicalize_name(name).replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": _module(name, version),
        f"{info}/METADATA": _metadata(name, version),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: atr-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{info}/LICENSE": apache_license_text().encode(),
        f"{info}/NOTICE": NOTICE.encode(),
    }
    if padding:
        files[f"{dist}/data.bin"] = _padding(padding, f"{name}-{version}-whl")
    record = "".join(
        f"{path},sha256={_urlsafe_sha256(data)},{len(data)}\n" for path, data in files.items()
    )
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            entry = zipfile.ZipInfo(member, date_time=(2026, 1, 1, 0, 0, 0))
            compress = zipfile.ZIP_STORED if member.endswith(".bin") else zipfile.ZIP_DEFLATED
            archive.writestr(entry, data, compress_type=compress)
    return path


def _urlsafe_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            entry = tarfile.TarInfo(member)
            entry.size = len(data)
            entry.mtime = MTIME
            entry.mode = 0o644
            tar.addfile(entry, io.BytesIO(data))
    return path


def python_sdist(folder: Path, name: str, version: str) -> Path:
    """An sdist ``<name>-<version>.tar.gz`` with PKG-INFO and a pyproject.toml."""
    dist = canonicalize_name(name).replace("-", "_")
    root = f"{dist}-{version}"
    pyproject = _header("#") + (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        f'\n[project]\nname = "{name}"\nversion = "{version}"\n'
    )
    files = {
        f"{root}/PKG-INFO": _metadata(name, version),
        f"{root}/.rat-excludes": b"PKG-INFO\n",  # generated metadata carries no header
        f"{root}/LICENSE": apache_license_text().encode(),
        f"{root}/NOTICE": NOTICE.encode(),
        f"{root}/pyproject.toml": pyproject.encode(),
        f"{root}/{dist}/__init__.py": _module(name, version),
    }
    folder.mkdir(parents=True, exist_ok=True)
    return _tar(folder / f"{root}.tar.gz", files)


def npm_tarball(
    folder: Path, name: str, version: str, *, padding: int = 0, file_name: str | None = None
) -> Path:
    """An npm package tarball (``package/package.json``, ``index.js``, LICENSE, NOTICE)."""
    manifest = {
        "name": name,
        "version": version,
        "description": "The Apache Acme Library, packaged for tests",
        "main": "index.js",
        "license": "Apache-2.0",
        "repository": {"type": "git", "url": "https://github.com/apache/acme.git"},
    }
    files = {
        "package/package.json": json.dumps(manifest, indent=2).encode(),
        "package/index.js": (_header("//") + f'module.exports = "{version}";\n').encode(),
        "package/LICENSE": apache_license_text().encode(),
        "package/NOTICE": NOTICE.encode(),
    }
    if padding:
        files["package/data.bin"] = _padding(padding, f"{name}-{version}-npm")
    folder.mkdir(parents=True, exist_ok=True)
    unscoped = name.rsplit("/", 1)[-1]
    return _tar(folder / (file_name or f"{unscoped}-{version}.tgz"), files)


def signed(paths: list[Path], *, sign: Callable[[bytes], str]) -> list[Path]:
    """``paths`` with a detached ``.asc`` (by ``sign``) and a ``.sha512`` beside each."""
    out: list[Path] = []
    for path in paths:
        data = path.read_bytes()
        asc = path.with_name(path.name + ".asc")
        asc.write_text(sign(data))
        sha = path.with_name(path.name + ".sha512")
        sha.write_text(f"{hashlib.sha512(data).hexdigest()}  {path.name}\n")
        out += [path, asc, sha]
    return out
