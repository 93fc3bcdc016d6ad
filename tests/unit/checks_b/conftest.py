"""Fixtures for the LICENSE/NOTICE, header, compiled-code and SBOM checks: archives built here."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from shared.checks.archive_reader import clear_index_cache
from shared.checks.base import CheckInputs, CheckResult, Recorder, Status
from shared.checks.digests import clear_digest_cache
from shared.checks.license_notice import apache_license_text
from shared.checks.policy import Policy
from shared.checks.source_scan import clear_scan_cache

Files = Mapping[str, bytes | str]

ASF_HEADER_PY = """\
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

ASF_HEADER_JAVA = (
    "/*\n"
    + "".join(
        f" *{(' ' + line[2:]) if line.startswith('# ') else ''}\n"
        for line in ASF_HEADER_PY.splitlines()
    )
    + " */\n"
)

GOOD_NOTICE = (
    "Apache Foo\n"
    "Copyright 2020-2024 The Apache Software Foundation\n"
    "\n"
    "This product includes software developed at\n"
    "The Apache Software Foundation (https://www.apache.org/).\n"
)


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def make_tar(path: Path, files: Files, *, root: str | None = "foo-1.0") -> Path:
    """A .tar.gz (or .tar.bz2/.tar.xz by suffix) of ``files`` under ``root/``."""
    mode = "w:gz"
    if path.name.endswith(".bz2"):
        mode = "w:bz2"
    elif path.name.endswith(".xz"):
        mode = "w:xz"
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for name, value in files.items():
            data = _bytes(value)
            info = tarfile.TarInfo(f"{root}/{name}" if root else name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, files: Files, *, root: str | None = "foo-1.0") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in files.items():
            zf.writestr(f"{root}/{name}" if root else name, _bytes(value))
    return path


def base_tree() -> dict[str, bytes | str]:
    """A compliant little source tree."""
    return {
        "LICENSE": apache_license_text(),
        "NOTICE": GOOD_NOTICE,
        "README.md": "# Foo\n",
        "src/foo/__init__.py": ASF_HEADER_PY + "VERSION = '1.0'\n",
        "src/Main.java": ASF_HEADER_JAVA + "class Main {}\n",
    }


RunCheck = Callable[..., list[CheckResult]]


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    clear_scan_cache()
    clear_index_cache()
    clear_digest_cache()
    yield
    clear_scan_cache()
    clear_index_cache()
    clear_digest_cache()


@pytest.fixture
def run_check(tmp_path: Path) -> RunCheck:
    """Run one check module on an artifact built from ``files`` (``extra`` files beside it)."""

    def run(
        module: ModuleType,
        files: Files,
        *,
        name: str = "foo-1.0-src.tar.gz",
        policy: Policy | None = None,
        root: str | None = "foo-1.0",
        extra: Files | None = None,
    ) -> list[CheckResult]:
        folder = tmp_path / "release"
        folder.mkdir(exist_ok=True)
        artifact = folder / name
        if name.endswith(".zip"):
            make_zip(artifact, files, root=root)
        else:
            make_tar(artifact, files, root=root)
        paths = {name: artifact}
        for extra_name, value in (extra or {}).items():
            (folder / extra_name).write_bytes(_bytes(value))
            paths[extra_name] = folder / extra_name
        inputs = CheckInputs(project="foo", version="1.0", files=paths, policy=policy or Policy())
        recorder = Recorder(module.CHECK_ID)
        module.run(inputs, recorder, artifact=name)
        # Every result goes on the wire (`atr check --json`, events): it must be plain JSON.
        json.dumps([r.to_json() for r in recorder.results], allow_nan=False)
        return recorder.results

    return run


def statuses(results: list[CheckResult]) -> list[tuple[Status, str]]:
    return [(r.status, r.path) for r in results]


def by_status(results: list[CheckResult], status: Status) -> list[CheckResult]:
    return [r for r in results if r.status is status]
