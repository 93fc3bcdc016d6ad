"""Release files for the agent's check tests: a compliant source archive, signed and summed.

    from tests.support.checks_release import release_files, source_archive

    data = source_archive("apache-acme-lib-1.0.0-src")        # bytes of a .tar.gz
    files = release_files("apache-acme-lib-1.0.0-src.tar.gz", data, key)   # + .asc, .sha512

The archive has one root folder named after it, the Apache License 2.0 as
LICENSE, a NOTICE with the attribution sentence, and source files carrying the
ASF header, so every check passes on it. ``extra`` adds files (a ``.class`` file
gives a compiled-code blocker; a file without header a license-header blocker).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping

from shared.checks.license_notice import apache_license_text
from tests.support.keys import KeyPair

ASF_HEADER = """\
# Licensed to the Apache Software Foundation (ASF) under one
# or more contributor license agreements.  See the NOTICE file
# distributed with this work for additional information
# regarding copyright ownership.  The ASF licenses this file
# to you under the Apache License, Version 2.0 (the
# "License"); you may not use this file except in compliance
# with the License.  You may obtain a copy of the License at
#
#   http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing,
# software distributed under the License is distributed on an
# "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
# KIND, either express or implied.  See the License for the
# specific language governing permissions and limitations
# under the License.
"""

NOTICE = (
    "Apache Acme\n"
    "Copyright 2020-2026 The Apache Software Foundation\n"
    "\n"
    "This product includes software developed at\n"
    "The Apache Software Foundation (https://www.apache.org/).\n"
)

PYPROJECT = """\
[project]
name = "acme"
version = "1.0.0"
license = "Apache-2.0"
dependencies = []
"""

# A Java class file header: magic, version, and an empty constant pool.
CLASS_FILE = bytes.fromhex("cafebabe00000034") + bytes(16)


def source_tree() -> dict[str, bytes]:
    """The files of a compliant little source release (below its root folder)."""
    return {
        "LICENSE": apache_license_text().encode(),
        "NOTICE": NOTICE.encode(),
        "README.md": b"# Acme\n",
        "pyproject.toml": (ASF_HEADER + PYPROJECT).encode(),
        "src/acme/__init__.py": (ASF_HEADER + "VERSION = '1.0.0'\n").encode(),
        "src/acme/core.py": (ASF_HEADER + "def answer() -> int:\n    return 42\n").encode(),
    }


def source_archive(root: str, *, extra: Mapping[str, bytes] | None = None) -> bytes:
    """A .tar.gz of :func:`source_tree` (plus ``extra``) under ``root/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in {**source_tree(), **(extra or {})}.items():
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def release_files(
    name: str, data: bytes, key: KeyPair, *, signature: bool = True, checksum: bool = True
) -> dict[str, bytes]:
    """``name`` with its detached ASCII-armored signature by ``key`` and its ``.sha512``."""
    files = {name: data}
    if signature:
        files[name + ".asc"] = key.sign(data).encode()
    if checksum:
        files[name + ".sha512"] = f"{hashlib.sha512(data).hexdigest()}  {name}\n".encode()
    return files
