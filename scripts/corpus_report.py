"""Run ``atr check`` on every release of the corpus and print the table of ``docs/corpus.md``.

Each release is checked by ``atr check DIR --version V --json`` as a whole, cold process
(the time is its wall time, imports included), after ``scripts/fetch_corpus.py`` put it in
the cache (``.corpus/`` or ``ATR_CORPUS_DIR``).

    .venv/bin/python scripts/fetch_corpus.py
    .venv/bin/python scripts/corpus_report.py [--json out.json] [--policy FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from fetch_corpus import RELEASES, cache_dir  # noqa: E402

ATR = [sys.executable, "-c", "from shared.cli import main; main()"]


def check(release_dir: Path, version: str, policy: Path | None) -> tuple[dict[str, Any], float]:
    cmd = [*ATR, "check", str(release_dir), "--version", version, "--json"]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"atr check failed on {release_dir}: {proc.stderr.decode()[-2000:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report, elapsed


def members(report: dict[str, Any]) -> int:
    for result in report["results"]:
        if result["check"] == "archives" and result["status"] == "pass":
            return int(result["data"].get("members", 0))
    return 0


def findings(report: dict[str, Any]) -> str:
    """What the warnings and blockers are, counted by file where a summary says so."""
    parts: list[str] = []
    for result in report["results"]:
        data = result["data"]
        if result["check"] == "license_headers" and "reasons" in data:
            for reason in data["reasons"]:
                if reason["status"] in ("blocker", "warning"):
                    parts.append(
                        f"{reason['files']:,} {reason['reason']} headers ({reason['status']})"
                    )
    others = Counter(
        (r["check"], r["status"])
        for r in report["results"]
        if r["status"] in ("blocker", "warning") and r["check"] != "license_headers"
    )
    parts += [f"{n} {check} {status}" for (check, status), n in sorted(others.items())]
    return "; ".join(parts) or "—"


def describe_blockers(report: dict[str, Any]) -> str:
    found = Counter(r["check"] for r in report["results"] if r["status"] == "blocker")
    return ", ".join(f"{n} {check}" for check, n in sorted(found.items())) or "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--policy", type=Path, help="a policy file for every release")
    args = parser.parse_args()
    cache = cache_dir()
    rows = []
    print(
        "| release | language | build system | size | files | blockers | warnings | notes "
        "| time (s) | what the blockers and warnings are |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    for release in RELEASES:
        folder = cache / release.name
        if not (folder / release.artifact).is_file():
            print(f"| {release.artifact} | (not fetched) | | | | | | | | |")
            continue
        report, elapsed = check(folder, release.version, args.policy)
        summary = report["summary"]
        size = (folder / release.artifact).stat().st_size / 1e6
        row = {
            "release": release.name,
            "artifact": release.artifact,
            "signed": release.signed,
            "size_mb": round(size, 1),
            "members": members(report),
            "summary": summary,
            "blockers_by_check": describe_blockers(report),
            "seconds": round(elapsed, 2),
            "findings": findings(report),
        }
        rows.append(row)
        mark = "" if release.signed else " ¹"
        print(
            f"| {release.artifact}{mark} | {release.language} | {release.build} | {size:.1f} MB "
            f"| {row['members']:,} | {summary['blocker']} | {summary['warning']} "
            f"| {summary['note']} | {elapsed:.2f} | {row['findings']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
