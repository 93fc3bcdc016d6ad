"""Time to the desktop's first window, from the PyInstaller binary (issue 10: < 2 s).

Starts one real agent (the test suite's seeded world: a PMC member with a key), then runs
``atr-desktop --smoke-test`` headless (``QT_QPA_PLATFORM=offscreen``) ``--repeat`` times:
it logs in with the key, opens the main window and shows the project tree. The time is
from the process start to the line ``smoke: main window`` (login included), best and
median. The baseline, measured in the same run, is the same smoke test from the source
tree (``python -c 'from desktop.app import main; main()'``), so a busy machine shows as a
slower baseline too.

The binary is the one ``tests/integration/test_packaging.py`` builds for the current
sources (``.cache/atr-desktop/<digest>/``), built first if it is missing; ``--binary``
measures another one.

    .venv/bin/python benchmarks/desktop_start.py [--repeat 5] [--binary PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.test_packaging import CACHE, sources_digest  # noqa: E402
from tests.support.agent import AgentProcess  # noqa: E402

SOURCE_MAIN = "import sys; from desktop.app import main; sys.exit(main())"


def first_window(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from the start of ``cmd`` to its ``smoke: main window`` line."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    seen: float | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if seen is None and line.startswith("smoke: main window"):
            seen = time.monotonic() - start
    if proc.wait(timeout=120) != 0 or seen is None:
        raise SystemExit(f"the smoke test failed: {' '.join(cmd[:2])} ended with {proc.returncode}")
    return seen


def build() -> Path:
    """The binary of the current sources, as the packaging test builds it."""
    binary = CACHE / sources_digest() / "atr-desktop" / "atr-desktop"
    if not binary.exists():
        print("building the desktop binary (about a minute) …", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "tests/integration/test_packaging.py", "-k", "desktop_binary"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return binary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--binary", type=Path, help="a built atr-desktop (default: build one)")
    parser.add_argument("--json", type=Path, help="write the numbers to this file")
    args = parser.parse_args()
    binary = (args.binary or build()).resolve()
    files = binary.parent.rglob("*")
    size = sum(p.stat().st_size for p in files if p.is_file() and not p.is_symlink()) / 1e6
    root = Path(tempfile.mkdtemp(prefix="atr-bench-desktop-"))
    agent = AgentProcess(root / "agent")
    agent.start()
    try:
        key = agent.pmc.key.write_secret(root / "pmc-secret.asc")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
        env.update(QT_QPA_PLATFORM="offscreen", HOME=str(root))
        login = ["--agent", agent.url, "--user", agent.pmc.name, "--key", str(key), "--smoke-test"]
        source = [sys.executable, "-c", SOURCE_MAIN]
        runs: dict[str, list[float]] = {"source": [], "binary": []}
        for i in range(args.repeat):  # interleaved: both see the same machine
            for name, cmd in (("source", source), ("binary", [str(binary)])):
                env["ATR_DESKTOP_HOME"] = str(root / f"home-{name}-{i}")
                runs[name].append(first_window(cmd + login, env, root))
    finally:
        agent.stop()
        shutil.rmtree(root, ignore_errors=True)
    best = {name: min(times) for name, times in runs.items()}
    median = {name: statistics.median(times) for name, times in runs.items()}
    print(f"desktop binary: {size:.0f} MB ({binary.parent})")
    ratio = median["binary"] / median["source"]
    for name, note in (("source", ""), ("binary", f" ({ratio:.2f}x the source; target < 2 s)")):
        print(
            f"first window from the {name}: best {best[name]:.2f} s, "
            f"median {median[name]:.2f} s{note}"
        )
    if args.json:
        numbers = {"size_mb": size, "runs_s": runs, "best_s": best, "median_s": median}
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
