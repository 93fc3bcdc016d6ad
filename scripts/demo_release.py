"""Take a demo release all the way to 'announced' on a demo agent (``./dev run``).

    .venv/bin/python scripts/demo_release.py [--agent http://127.0.0.1:8765] [--data-dir .atr-demo]

It does what a release manager and two more PMC members would do, with the demo keys that
``atr-agent demo`` wrote to DATA_DIR/demo (never use them for real releases):

1. the release manager ``demo`` logs in with its key, builds a small source release
   (LICENSE, NOTICE, a source file with the ASF header), signs it, uploads it, asks for the
   checks and waits for ``candidate``;
2. stages it (the embedded dist repository's ``dev/`` area) and waits for ``staged``;
3. starts a short vote (the demo agent's floor allows a minute) and casts three signed
   binding +1 ballots: demo, demo-voter1, demo-voter2; waits for ``passed``;
4. prints the distribution plan, signs it with demo's key, approves and starts it, waits
   until every file is published to the embedded dist repository and verified;
5. announces the release; prints the download page.

Each step is the agent's real API; watch it in the desktop (logged in as demo) meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.checks.license_notice import apache_license_text  # noqa: E402
from shared.client import AgentClient  # noqa: E402
from shared.client.distribute import sign_plan  # noqa: E402
from shared.client.votes import ballot_for, sign_ballot  # noqa: E402
from shared.lifecycle import Phase  # noqa: E402
from shared.openpgp import load_key, sign_challenge, sign_detached  # noqa: E402

PROJECT = "demo-project"
HEADER = (
    "/*\n * Licensed to the Apache Software Foundation (ASF) under one or more contributor\n"
    " * license agreements. See the NOTICE file distributed with this work for additional\n"
    " * information regarding copyright ownership. The ASF licenses this file to you under\n"
    ' * the Apache License, Version 2.0 (the "License"); you may not use this file except\n'
    " * in compliance with the License. You may obtain a copy of the License at\n"
    " *   http://www.apache.org/licenses/LICENSE-2.0\n */\n"
)
NOTICE = (
    "Demo Project\nCopyright 2026 The Apache Software Foundation\n\n"
    "This product includes software developed at\n"
    "The Apache Software Foundation (http://www.apache.org/).\n"
)


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def source_release(folder: Path, version: str, key: object) -> list[Path]:
    top = f"apache-{PROJECT}-{version}"
    archive = folder / f"{top}-src.tar.gz"
    files = {
        "LICENSE": apache_license_text().encode(),
        "NOTICE": NOTICE.encode(),
        "src/main/c/demo.c": (
            HEADER + '#include <stdio.h>\nint main(void) { puts("demo"); }\n'
        ).encode(),
    }
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = 1_767_225_600
            tar.addfile(info, io.BytesIO(data))
    data = archive.read_bytes()
    asc = archive.with_name(archive.name + ".asc")
    asc.write_text(sign_detached(key, data))
    sha = archive.with_name(archive.name + ".sha512")
    sha.write_text(f"{hashlib.sha512(data).hexdigest()}  {archive.name}\n")
    return [archive, asc, sha]


async def login(url: str, user: str, key: object) -> AgentClient:
    client = AgentClient(url)
    await client.login_with_signature(
        user, lambda c: sign_challenge(key, c.render(), purpose=c.purpose.value)
    )
    return client


async def wait_phase(client: AgentClient, version: str, phase: Phase, within: float = 300) -> None:
    deadline = time.monotonic() + within
    while True:
        release = await client.get_release(PROJECT, version)
        if release.phase == phase:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{PROJECT} {version} stayed in {release.phase}, not {phase}")
        await asyncio.sleep(0.5)


async def next_version(client: AgentClient) -> str:
    taken = {r.version for r in await client.list_releases(PROJECT)}
    minor = 0
    while f"1.{minor}.0" in taken:
        minor += 1
    return f"1.{minor}.0"


async def run(url: str, data_dir: Path) -> str:
    keys = {
        name: load_key((data_dir / "demo" / f"{name}-secret.asc").read_text())
        for name in ("demo", "demo-voter1", "demo-voter2")
    }
    rm = await login(url, "demo", keys["demo"])
    try:
        version = await next_version(rm)
        say(f"release {PROJECT} {version}: a signed source release, uploaded")
        await rm.create_release(PROJECT, version)
        with tempfile.TemporaryDirectory() as folder:
            files = source_release(Path(folder), version, keys["demo"])
            revision = await rm.upload_files(PROJECT, version, files, message="demo release")
        await rm.transition(PROJECT, version, Phase.CHECKS, reason="demo")
        await wait_phase(rm, version, Phase.CANDIDATE)
        say("the checks passed: staged to the dist repository's dev/ area")
        await rm.start_distribution(PROJECT, version, kind="staging")
        await wait_phase(rm, version, Phase.STAGED)
        say("a short demo vote, three binding +1 ballots")
        await rm.start_vote(PROJECT, version, hours=0.01)
        reviewed = {f.path: f.sha512 for f in revision.files}
        for name, key in keys.items():
            voter = rm if name == "demo" else await login(url, name, key)
            content = ballot_for(revision, "+1", reviewed=reviewed, binding=True)
            await voter.cast_ballot(PROJECT, version, sign_ballot(key, content))
            if voter is not rm:
                await voter.aclose()
        await wait_phase(rm, version, Phase.PASSED, within=180)
        say("the vote passed: the plan, signed by the release manager, approved and started")
        plan = await rm.distribution_plan(PROJECT, version)
        await rm.approve_distribution(PROJECT, version, sign_plan(keys["demo"], plan))
        await rm.start_distribution(PROJECT, version)
        deadline = time.monotonic() + 300
        while (status := await rm.distribution_status(PROJECT, version)).state != "verified":
            if status.state == "failed" or time.monotonic() > deadline:
                raise SystemExit(f"the distribution is {status.state}: {status}")
            await asyncio.sleep(0.5)
        say("published and verified: announcing")
        done = await rm.announce(PROJECT, version)
        say(f"{PROJECT} {version} is {done.phase}: {done.download_page}")
        return version
    finally:
        await rm.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="http://127.0.0.1:8765")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".atr-demo")
    args = parser.parse_args()
    asyncio.run(run(args.agent, args.data_dir))


if __name__ == "__main__":
    main()
