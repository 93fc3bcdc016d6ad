"""A dist repository laid out like the ASF's, with the oddities real trees have.

``dist/release/acme-lib/``::

    KEYS                                   bob's and alice's keys (mallory's is not there)
    apache-acme-lib-1.N.0-src.tar.gz(.asc|.md5|.sha1|.sha512)   line 1: flat, 10 releases;
                                           the oldest three with .md5 only, the next two
                                           .sha1 only, then .sha512
    2.N.0/…                                line 2: version folders, 12 releases; .sha512 in
                                           GnuPG's --print-md layout for every other one
    3.x/3.N.0/…                            line 3: inside a line folder, 8 releases: one signed
                                           by a key not in KEYS, one whose artifact does not
                                           match its signature, one with a wrong .sha512
    README.html, HEADER.html               not releases
``dist/dev/acme-lib/3.8.0-rc1/``           a candidate;  ``3.7.0-rc2/``: a stale one, released

Each release is its own commit, dated (``svn:date``) over the years 2016-2025.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.keys import KeyPair, user_key

PROJECT = "acme-lib"


@dataclass
class Tree:
    url: str
    repo: Path
    expected: dict[str, dict[str, str]]
    """version → {"signature": …, "checksum": …} as the import should find them"""


def _archive(name: str, version: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member, text in ((f"{name}/NOTICE", f"Acme {version}\n"), (f"{name}/README", "hi\n")):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mtime = len(data), 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _print_md(name: str, data: bytes) -> str:
    """``gpg --print-md SHA512 FILE``: hex in groups of 8, wrapped, upper case."""
    digest = hashlib.sha512(data).hexdigest().upper()
    groups = [digest[i : i + 8] for i in range(0, 128, 8)]
    lead = f"{name}: "
    lines = [
        lead + " ".join(groups[:6]),
        " " * len(lead) + " ".join(groups[6:12]),
        " " * len(lead) + " ".join(groups[12:]),
    ]
    return "\n".join(lines) + "\n"


def _svn(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=120)


class _Writer:
    def __init__(self, url: str, work: Path) -> None:
        self.url = url
        self.work = work
        self.revision = 1

    def commit(self, files: dict[str, bytes], *, year: int, folders: list[str]) -> None:
        actions: list[str] = []
        for folder in folders:
            actions += ["mkdir", f"{self.url}/{folder}"]
        for path, data in files.items():
            local = self.work / hashlib.sha1(path.encode()).hexdigest()
            local.write_bytes(data)
            actions += ["put", str(local), f"{self.url}/{path}"]
        _svn("svnmucc", "--non-interactive", "--username", "bob", "-m", "release", *actions)
        self.revision += 1
        _svn(
            "svn",
            "propset",
            "--non-interactive",
            "-r",
            str(self.revision),
            "--revprop",
            "svn:date",
            f"{year}-03-{1 + self.revision % 27:02d}T10:00:00.000000Z",
            self.url,
        )


def _release(version: str, *, signer: KeyPair, layout: str, tamper: str = "") -> dict[str, bytes]:
    name = f"apache-{PROJECT}-{version}-src"
    data = _archive(name, version)
    artifact = f"{name}.tar.gz"
    files = {artifact: data, f"{artifact}.asc": signer.sign(data).encode()}
    if tamper == "artifact":  # signed, then changed: the signature is BAD
        files[artifact] = data + b"\0"
        data = files[artifact]
    match layout:
        case "md5":
            files[f"{artifact}.md5"] = hashlib.md5(data).hexdigest().encode()
        case "sha1":
            files[f"{artifact}.sha1"] = f"{hashlib.sha1(data).hexdigest()}  {artifact}\n".encode()
        case "print-md":
            files[f"{artifact}.sha512"] = _print_md(artifact, data).encode()
        case _:
            digest = hashlib.sha512(data + (b"x" if tamper == "checksum" else b"")).hexdigest()
            files[f"{artifact}.sha512"] = f"{digest}  {artifact}\n".encode()
    return files


def make_tree(root: Path) -> Tree:
    repo = root / "dist-repo"
    root.mkdir(parents=True, exist_ok=True)
    _svn("svnadmin", "create", str(repo))
    hook = repo / "hooks" / "pre-revprop-change"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    url = repo.resolve().as_uri()
    work = root / "work"
    work.mkdir()
    bob, alice, mallory = user_key("bob"), user_key("alice"), user_key("mallory")
    _svn(
        "svnmucc",
        "--non-interactive",
        "-m",
        "layout",
        "mkdir",
        f"{url}/release",
        "mkdir",
        f"{url}/dev",
        "mkdir",
        f"{url}/release/{PROJECT}",
        "mkdir",
        f"{url}/dev/{PROJECT}",
    )
    writer = _Writer(url, work)
    base = f"release/{PROJECT}"
    keys = (bob.public_armor + "\n" + alice.public_armor).encode()
    writer.commit(
        {
            f"{base}/KEYS": keys,
            f"{base}/README.html": b"<p>hi</p>",
            f"{base}/HEADER.html": b"<h1>acme</h1>",
        },
        year=2016,
        folders=[],
    )
    expected: dict[str, dict[str, str]] = {}
    for n in range(10):  # line 1, flat
        version = f"1.{n}.0"
        layout = "md5" if n < 3 else "sha1" if n < 5 else "sha512"
        signer = alice if n % 4 == 0 else bob
        files = _release(version, signer=signer, layout=layout)
        writer.commit({f"{base}/{k}": v for k, v in files.items()}, year=2016 + n // 4, folders=[])
        expected[version] = {"signature": "good", "checksum": layout}
    for n in range(12):  # line 2, version folders
        version = f"2.{n}.0"
        layout = "print-md" if n % 2 else "sha512"
        files = _release(version, signer=bob, layout=layout)
        writer.commit(
            {f"{base}/{version}/{k}": v for k, v in files.items()},
            year=2019 + n // 4,
            folders=[f"{base}/{version}"],
        )
        expected[version] = {"signature": "good", "checksum": "sha512"}
    folders = [f"{base}/3.x"]
    for n in range(8):  # line 3, inside a line folder
        version = f"3.{n}.0"
        signer, tamper, signature, checksum = bob, "", "good", "sha512"
        if n == 2:
            signer, signature = mallory, "no_public_key"
        if n == 4:
            tamper, signature = "artifact", "bad"
        if n == 6:
            tamper, checksum = "checksum", "mismatch"
        files = _release(version, signer=signer, layout="sha512", tamper=tamper)
        writer.commit(
            {f"{base}/3.x/{version}/{k}": v for k, v in files.items()},
            year=2022 + n // 3,
            folders=[*folders, f"{base}/3.x/{version}"],
        )
        folders = []
        expected[version] = {"signature": signature, "checksum": checksum}
    dev = f"dev/{PROJECT}"
    for version, rc in (("3.8.0", 1), ("3.7.0", 2)):
        files = _release(version, signer=bob, layout="sha512")
        folder = f"{dev}/{version}-rc{rc}"
        writer.commit({f"{folder}/{k}": v for k, v in files.items()}, year=2025, folders=[folder])
    return Tree(url=url, repo=repo, expected=expected)


def add_release(tree: Tree, root: Path, version: str) -> None:
    """One more release of line 3 (a new commit)."""
    writer = _Writer(tree.url, root)
    info = subprocess.run(
        ["svn", "info", "--show-item", "revision", tree.url],
        capture_output=True,
        text=True,
        check=True,
    )
    writer.revision = int(info.stdout.strip())
    files = _release(version, signer=user_key("bob"), layout="sha512")
    folder = f"release/{PROJECT}/3.x/{version}"
    writer.commit({f"{folder}/{k}": v for k, v in files.items()}, year=2025, folders=[folder])
