"""Triggers and the dist import, against the plain work underneath them, in one run.

* **webhook → checks started**: a real agent (one worker) and a bare git repository with
  ``--tags`` release tags; each tag's push is delivered as a signed webhook and the time
  is taken from just before the POST to the start of the first check task of the revision
  the agent built (its ``started_at``), with the steps between: the answer (202), the
  fetch-and-build task's start and end, the revision. Best, median and worst.
* **import speed**: the ASF-like dist tree of ``tests/integration/dist_tree.py`` (30
  releases over 3 lines and 2 candidates, with every file signed and hashed) imported with
  ``atr-agent import-dist`` (a cold process: what an operator waits for), in releases per
  second, against ``svn ls -R`` of the same two folders — reading the tree, the floor of
  any import — in the same run.

    .venv/bin/python benchmarks/triggers.py [--tags 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.dist_tree import PROJECT, make_tree  # noqa: E402
from tests.integration.trigger_support import (  # noqa: E402
    SECRET,
    bare_repository,
    deliver,
    push_payload,
    set_triggers,
)
from tests.support.agent import AgentProcess  # noqa: E402


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def webhook_latency(agent: AgentProcess, work: Path, count: int) -> list[dict[str, float]]:
    tags = [f"v10.{n}.0-rc1" for n in range(count)]  # no version of the dist tree
    bare, commits = bare_repository(work / "git", tags)
    set_triggers(agent, git_url=str(bare), webhook_secret=SECRET, release_manager="bob")
    rows = []
    with agent.client(agent.committer_token, timeout=60) as c:
        for tag in tags:
            version = tag[1:].split("-")[0]
            sent = time.time()
            r = deliver(agent, push_payload(tag, commits[tag]))
            answered = time.time()
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 120
            while True:
                tasks = c.get("/tasks", params={"project": PROJECT, "version": version}).json()
                checks = [t for t in tasks if t["type"] == "check" and t["started_at"]]
                if checks:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"no check of {version} started: {tasks}")
                time.sleep(0.02)
            build = next(t for t in tasks if t["type"] == "trigger.git")
            revision = c.get(f"/projects/{PROJECT}/releases/{version}/revisions/1").json()
            first = min(_ts(t["started_at"]) or 0 for t in checks)
            rows.append(
                {
                    "answer_ms": (answered - sent) * 1000,
                    "build_start_ms": ((_ts(build["started_at"]) or 0) - sent) * 1000,
                    "build_end_ms": ((_ts(build["finished_at"]) or first) - sent) * 1000,
                    "revision_ms": ((_ts(revision["created_at"]) or 0) - sent) * 1000,
                    "checks_started_ms": (first - sent) * 1000,
                }
            )
    return rows


def _timed(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(list(args), check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def import_speed(agent: AgentProcess, work: Path) -> dict[str, Any]:
    tree = make_tree(work / "tree")
    release_url, dev_url = f"{tree.url}/release/{PROJECT}", f"{tree.url}/dev/{PROJECT}"
    svn_ls = min(
        _timed("svn", "ls", "-R", release_url) + _timed("svn", "ls", "-R", dev_url)
        for _ in range(3)
    )
    started = time.perf_counter()
    proc = agent.cli("import-dist", PROJECT, "--from", release_url, "--dev", dev_url, "--json")
    wall = time.perf_counter() - started
    report = json.loads(proc.stdout)
    added = len(report["added"])
    started = time.perf_counter()
    again = agent.cli("import-dist", PROJECT, "--from", release_url, "--dev", dev_url, "--json")
    second = time.perf_counter() - started
    assert json.loads(again.stdout)["added"] == []
    files = sum(len(r["files"]) for r in report["added"])
    return {
        "releases": added,
        "artifacts": files,
        "import_seconds": wall,
        "import_inner_seconds": report["seconds"],
        "releases_per_second": added / wall,
        "svn_ls_seconds": svn_ls,
        "ratio_to_svn_ls": wall / svn_ls,
        "second_run_seconds": second,
        "second_run_ratio_to_svn_ls": second / svn_ls,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atr-bench-trig-") as tmp:
        work = Path(tmp)
        config = {"git_local_allowed": True}  # the bare repository is on this host
        with AgentProcess(work / "agent", workers=1, config=config) as agent:
            latency = webhook_latency(agent, work, args.tags)
            speed = import_speed(agent, work)
    print(f"webhook → checks started ({args.tags} tag pushes, 1 worker):")
    for key in ("answer_ms", "build_start_ms", "build_end_ms", "revision_ms", "checks_started_ms"):
        values = [row[key] for row in latency]
        print(
            f"  {key:18} best {min(values):7.0f}  median {statistics.median(values):7.0f}  "
            f"worst {max(values):7.0f} ms"
        )
    print(
        f"import-dist: {speed['releases']} releases ({speed['artifacts']} artifacts) in "
        f"{speed['import_seconds']:.2f} s = {speed['releases_per_second']:.1f} releases/s "
        f"(inside the import: {speed['import_inner_seconds']:.2f} s)"
    )
    print(
        f"  svn ls -R of the same folders: {speed['svn_ls_seconds']:.3f} s; the import is "
        f"{speed['ratio_to_svn_ls']:.0f}x that (it downloads, hashes and verifies every file)"
    )
    print(
        f"  a second run (nothing new): {speed['second_run_seconds']:.2f} s "
        f"({speed['second_run_ratio_to_svn_ls']:.1f}x svn ls -R)"
    )
    if args.json:
        args.json.write_text(json.dumps({"webhook": latency, "import": speed}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
