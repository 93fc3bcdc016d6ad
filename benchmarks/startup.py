"""Start-up costs of the three programs, as cold whole processes, on this machine.

* ``atr --help`` — best of ``--repeat`` (target < 0.3 s);
* ``python -c "import agent.app"`` — best of ``--repeat`` (every agent and worker pays it);
* ``atr-agent serve --workers 2``: wall time from the process start to the first answered
  ``GET /api/v1/health`` (target < 2 s), then, after ``--idle`` seconds, the RSS of the
  agent and its two idle workers in total (target < 250 MB). ``--starts`` times on a fresh
  data dir (a new database to migrate) and as many restarts on an existing one; best and
  median of each, and the largest idle RSS.

The baseline measured in the same run is ``python -c pass`` (the interpreter's own start),
so a busy machine shows as a slower baseline too.

    .venv/bin/python benchmarks/startup.py [--repeat 5] [--starts 3] [--idle 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def quiet(cmd: list[str]) -> None:
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}


def agent_start(idle: float, data: Path) -> dict[str, Any]:
    """Time to the first answered request and the idle RSS of an agent with two workers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/health"
    cmd = [str(BIN / "atr-agent"), "--data-dir", str(data), "serve", "--port", str(port)]
    cmd += ["--workers", "2"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        first: float | None = None
        while time.perf_counter() - start < 60:
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        first = time.perf_counter() - start
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.01)
            if proc.poll() is not None:
                raise SystemExit(f"atr-agent serve exited with {proc.returncode}")
        if first is None:
            raise SystemExit("the agent did not answer within 60 s")
        time.sleep(idle)
        main = psutil.Process(proc.pid)
        children = main.children(recursive=True)
        rss = {"agent": main.memory_info().rss / 1e6}
        for i, child in enumerate(children):
            rss[f"worker {i + 1} ({child.name()})"] = child.memory_info().rss / 1e6
        return {"first_answer_s": first, "rss_mb": rss, "rss_total_mb": sum(rss.values())}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def agent_starts(starts: int, idle: float) -> dict[str, Any]:
    """``starts`` starts on fresh data dirs, then ``starts`` restarts on the last one."""
    fresh, again = [], []
    data = Path(tempfile.mkdtemp(prefix="atr-bench-agent-"))
    try:
        for _ in range(starts):
            shutil.rmtree(data, ignore_errors=True)
            fresh.append(agent_start(idle, data))
        again = [agent_start(idle, data) for _ in range(starts)]
    finally:
        shutil.rmtree(data, ignore_errors=True)
    largest = max(fresh + again, key=lambda run: run["rss_total_mb"])
    return {
        "fresh_first_answer_s": [run["first_answer_s"] for run in fresh],
        "restart_first_answer_s": [run["first_answer_s"] for run in again],
        "rss_mb": largest["rss_mb"],
        "rss_total_mb": largest["rss_total_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--starts", type=int, default=3, help="agent starts of each kind")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before the RSS")
    parser.add_argument("--json", type=Path, help="write the numbers to this file")
    args = parser.parse_args()
    py = sys.executable
    baseline = best_of(args.repeat, lambda: quiet([py, "-c", "pass"]))
    print(f"baseline: python -c pass {baseline:.3f} s")
    help_s = best_of(args.repeat, lambda: quiet([str(BIN / "atr"), "--help"]))
    print(f"atr --help: {help_s:.3f} s ({help_s / baseline:.1f}x the baseline; target < 0.3 s)")
    imp = best_of(args.repeat, lambda: quiet([py, "-c", "import agent.app"]))
    print(f"import agent.app: {imp:.3f} s ({imp / baseline:.1f}x the baseline)")
    agent = agent_starts(args.starts, args.idle)
    for label, key in (("new data dir", "fresh"), ("restart", "restart")):
        times = agent[f"{key}_first_answer_s"]
        print(
            f"agent start to first answer, {label}: best {min(times):.2f} s, "
            f"median {statistics.median(times):.2f} s of {len(times)} (target < 2 s)"
        )
    parts = ", ".join(f"{k} {v:.0f} MB" for k, v in agent["rss_mb"].items())
    print(f"idle RSS, largest: {agent['rss_total_mb']:.0f} MB in total ({parts}; target < 250 MB)")
    if args.json:
        numbers = {
            "baseline_s": baseline,
            "atr_help_s": help_s,
            "import_agent_app_s": imp,
            **agent,
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
