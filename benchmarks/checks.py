"""The compliance checks against the floor of the same work done by the plain tools.

Builds a synthetic but realistic source release: a tree of text source files with ASF
license headers (Java, Python, C, JavaScript, XML, Markdown; LICENSE, NOTICE, a
pom.xml and a package.json), made into a tar.gz by GNU tar (about 15 MB from the
default 48 MB of text), signed with a real GnuPG key and given a ``.sha512``. Then, in
the same run on the same machine:

* floor — ``sha512sum ARTIFACT`` + ``gpg --verify ARTIFACT.asc ARTIFACT`` (key already
  imported) + ``gzip -dc ARTIFACT > /dev/null``: each tool once, best of ``--repeat``;
* suite — :func:`shared.checks.runner.run_checks` with every registered check (part B's
  too), in this process, the archive index cache cleared before each run, best of
  ``--repeat``; plus each check's own share of one run;
* cold — ``atr check DIR --json`` as a whole new process (interpreter start and imports
  included: what a user waits for), best and median wall time of ``--repeat``, and its CPU
  time (user + system, its GnuPG and SBOM-worker children included), against the floor;
  this tree's code runs (``python -c`` from the repository root, whatever ``atr`` the
  virtualenv installs; checked before measuring), from its compiled bytecode (compiled
  first: an installed atr has it, and a shell with PYTHONDONTWRITEBYTECODE would otherwise
  compile every module on every run);
* ``atr --help`` as a whole new process, best of ``--repeat`` (target < 0.3 s);
* peak RSS of ``atr check DIR --json`` in a child process (the checking process itself;
  its SBOM worker is another).

With ``--release DIR`` it measures a real release instead (a folder with one source
archive, its ``.asc`` and ``KEYS``, as ``scripts/fetch_corpus.py`` makes them: e.g.
``.corpus/httpd``, 10 MB). With ``--big`` it also builds a 1 GB artifact (mostly
incompressible data files beside the sources; takes minutes) and reports the peak RSS
of ``atr check`` on it and the time against the same floor.

    .venv/bin/python benchmarks/checks.py                  # 10 MB release
    .venv/bin/python benchmarks/checks.py --big            # and the 1 GB artifact
    .venv/bin/python benchmarks/checks.py --json out.json
    .venv/bin/python benchmarks/checks.py --release .corpus/httpd

Targets: the cold atr check at most 2.0x the floor (issue 10); peak memory under 300 MB on
1 GB.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.checks.archive_reader import clear_index_cache  # noqa: E402
from shared.checks.base import Status  # noqa: E402
from shared.checks.digests import clear_digest_cache  # noqa: E402
from shared.checks.registry import CHECKS  # noqa: E402
from shared.checks.runner import inputs_from_directory, run_checks  # noqa: E402
from shared.checks.source_scan import clear_scan_cache  # noqa: E402
from tests.support.gpg import GpgFactory, kill_agent  # noqa: E402

PROJECT = "apache-benchmark"
VERSION = "1.4.2"
NAME = f"{PROJECT}-{VERSION}-src"

HEADERS = {
    ".java": ("/*\n", " * ", " */\n"),
    ".c": ("/*\n", " * ", " */\n"),
    ".js": ("/*\n", " * ", " */\n"),
    ".py": ("", "# ", ""),
    ".xml": ("<!--\n", "  ", "-->\n"),
    ".md": ("<!--\n", "  ", "-->\n"),
}
ASF_HEADER = """Licensed to the Apache Software Foundation (ASF) under one
or more contributor license agreements.  See the NOTICE file
distributed with this work for additional information
regarding copyright ownership.  The ASF licenses this file
to you under the Apache License, Version 2.0 (the
"License"); you may not use this file except in compliance
with the License.  You may obtain a copy of the License at

  http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing,
software distributed under the License is distributed on an
"AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
KIND, either express or implied.  See the License for the
specific language governing permissions and limitations
under the License.""".splitlines()

_VOCABULARY = (
    "public private static final return if else for while class interface extends implements "
    "import package new this null true false void int long string list map set value key "
    "result request response context config builder factory handler service client server "
    "stream buffer index count size length offset error exception message event task worker "
    "queue lock state"
)
WORDS = tuple(_VOCABULARY.split(" "))


def header_for(suffix: str) -> str:
    start, prefix, end = HEADERS[suffix]
    return start + "".join(f"{prefix}{line}".rstrip() + "\n" for line in ASF_HEADER) + end


def source_text(rng: random.Random, suffix: str, lines: int) -> str:
    body = []
    for i in range(lines):
        indent = "    " * rng.randint(0, 3)
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        identifier = f"{rng.choice(WORDS)}{rng.randint(0, 999)}"
        body.append(f"{indent}{words} {identifier} = {rng.randint(0, 1 << 30)}; // {i}\n")
    return header_for(suffix) + "".join(body)


def license_text() -> str:
    path = ROOT / "shared" / "checks" / "data" / "apache-2.0.txt"
    if path.exists():
        return path.read_text()
    return "Apache License\nVersion 2.0, January 2004\n"


def build_tree(target: Path, *, min_bytes: int, seed: int = 42) -> int:
    """Write a source tree of at least ``min_bytes`` of text; return the file count."""
    rng = random.Random(seed)
    root = target / NAME
    root.mkdir(parents=True)
    (root / "LICENSE").write_text(license_text())
    (root / "NOTICE").write_text(
        "Apache Benchmark\nCopyright 2024-2025 The Apache Software Foundation\n\n"
        "This product includes software developed at\n"
        "The Apache Software Foundation (http://www.apache.org/).\n"
    )
    (root / "pom.xml").write_text(
        header_for(".xml")
        + "<project><modelVersion>4.0.0</modelVersion><groupId>org.apache.benchmark</groupId>"
        "<artifactId>benchmark</artifactId><version>1.4.2</version><dependencies>"
        "<dependency><groupId>com.google.guava</groupId><artifactId>guava</artifactId>"
        "<version>33.0.0-jre</version></dependency></dependencies></project>\n"
    )
    (root / "package.json").write_text(
        json.dumps({"name": "benchmark", "version": "1.4.2", "dependencies": {"lodash": "4.17.21"}})
    )
    written = 0
    count = 4
    suffixes = list(HEADERS)
    while written < min_bytes:
        module = root / f"module{count // 200:02d}" / "src" / f"pkg{count // 40 % 5}"
        module.mkdir(parents=True, exist_ok=True)
        suffix = suffixes[count % len(suffixes)]
        text = source_text(rng, suffix, rng.randint(40, 400))
        (module / f"File{count:05d}{suffix}").write_text(text)
        written += len(text)
        count += 1
    return count


def add_data_files(target: Path, total: int, *, chunk: int = 64 << 20) -> None:
    """Incompressible data files (like test fixtures) making the archive big."""
    data_dir = target / NAME / "testdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    while total > 0:
        size = min(chunk, total)
        with open(data_dir / f"blob{n:03d}.bin", "wb") as handle:
            left = size
            while left:
                piece = min(left, 8 << 20)
                handle.write(os.urandom(piece))
                left -= piece
        total -= size
        n += 1


def make_release(work: Path, factory: GpgFactory, *, text_bytes: int, data_bytes: int = 0) -> Path:
    tree = work / "tree"
    build_tree(tree, min_bytes=text_bytes)
    if data_bytes:
        add_data_files(tree, data_bytes)
    release = work / "release"
    release.mkdir()
    artifact = release / f"{NAME}.tar.gz"
    # GNU tar, as release builds use it (Python's tarfile adds a pax header to every member)
    subprocess.run(["tar", "-C", str(tree), "-czf", str(artifact), NAME], check=True)
    shutil.rmtree(tree)
    factory.sign("rsa4096", artifact)
    digest = subprocess.run(
        ["sha512sum", artifact.name], cwd=release, capture_output=True, check=True, text=True
    )
    (release / f"{artifact.name}.sha512").write_text(digest.stdout)
    return artifact


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_quiet(cmd: list[str], **kwargs: Any) -> None:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, **kwargs)


_DECOMPRESS = {".gz": "gzip", ".tgz": "gzip", ".bz2": "bzip2", ".xz": "xz"}


def floor_times(artifact: Path, keys: Path, repeat: int) -> dict[str, float]:
    """The plain tools doing the same reading: hash, verify, one decompression pass; each
    tool's best wall time, their sum (``total``) and the median CPU time of the three in a
    row (``cpu``)."""
    tool = _DECOMPRESS.get(artifact.suffix, "gzip")
    home = Path(tempfile.mkdtemp(prefix="atr-bench-"))
    os.chmod(home, 0o700)
    try:
        run_quiet(["gpg", "--homedir", str(home), "--batch", "--import", str(keys)])
        asc = artifact.with_name(artifact.name + ".asc")
        verify = ["gpg", "--homedir", str(home), "--batch", "--trust-model", "always"]
        verify += ["--verify", str(asc), str(artifact)]
        with open(os.devnull, "wb") as null:

            def sha() -> None:
                run_quiet(["sha512sum", str(artifact)])

            def gpg() -> None:
                run_quiet(verify)

            def decompress() -> None:
                subprocess.run([tool, "-dc", str(artifact)], stdout=null, check=True)

            times = {
                "sha512sum": best_of(repeat, sha),
                "gpg --verify": best_of(repeat, gpg),
                f"{tool} -dc": best_of(repeat, decompress),
            }
            times["total"] = sum(times.values())
            times["cpu"] = timed_runs(repeat, lambda: (sha(), gpg(), decompress()))["cpu_median"]
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
    return times


def suite_time(
    release: Path, keys: Path | None, repeat: int
) -> tuple[float, dict[str, float], dict[str, int]]:
    """Best-of time of every registered check; each check's share of one run; the summary."""

    def once() -> Any:
        clear_index_cache()
        clear_scan_cache()
        clear_digest_cache()
        return run_checks(inputs_from_directory(release, keys))

    report = once()
    total = best_of(repeat, once)
    shares: dict[str, float] = {}
    clear_index_cache()
    clear_scan_cache()
    clear_digest_cache()
    inputs = inputs_from_directory(release, keys)
    for check in CHECKS:
        start = time.perf_counter()
        run_checks(inputs, checks=[check])
        shares[check.CHECK_ID] = time.perf_counter() - start
    return total, shares, report.summary


_CHILD = """
import atexit, resource, sys
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
atexit.register(lambda: sys.stderr.write(f"\\nMAXRSS_KB {peak()}\\n"))
from shared.cli import main
main()
"""


def child_peak_rss(release: Path, keys: Path | None) -> tuple[float, int, float]:
    """Peak RSS (MB, of the checking process itself, as it reports at exit), exit code and
    wall time of `atr check DIR [--keys KEYS] --json` run in a child process."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, "check", str(release), "--json"]
        + (["--keys", str(keys)] if keys is not None else []),
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"atr check could not run: {proc.stderr.decode()[-2000:]}")
    reported = [line for line in proc.stderr.decode().splitlines() if line.startswith("MAXRSS_KB ")]
    return int(reported[-1].split()[1]) / 1024, proc.returncode, elapsed


_ATR = 'import sys; from shared.cli import main; sys.argv[0] = "atr"; main()'
"""`atr` from this tree: run with the repository root as the working directory, ``-c`` puts
it first on the import path."""


def check_runs_this_tree() -> None:
    """Refuse to measure another tree's code: a child started as :data:`_ATR` must import
    ``shared`` from this repository (an editable install of another checkout, or a
    PYTHONPATH, could come first)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import shared, shared.checks.policy as p; print(p.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = Path(proc.stdout.strip()).resolve()
    if not imported.is_relative_to(ROOT.resolve()):
        raise SystemExit(f"atr check would run {imported}, not this tree's code ({ROOT})")


def compile_tree() -> None:
    """Write the bytecode of this tree's packages, as installing them does."""
    for package in ("shared", "agent", "desktop"):
        compileall.compile_dir(ROOT / package, quiet=1)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_runs(repeat: int, fn: Callable[[], Any]) -> dict[str, float]:
    """Best and median wall time of ``fn`` (which runs processes), and the median CPU time
    (user + system) of the processes it ran and theirs."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu = _children_cpu()
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu)
    return {
        "best": min(walls),
        "median": statistics.median(walls),
        "cpu_median": statistics.median(cpus),
    }


def cold_time(release: Path, keys: Path | None, repeat: int) -> dict[str, float]:
    """Wall (best, median) and CPU time of ``atr check DIR [--keys KEYS] --json`` as a whole
    new process (without ``keys``, DIR/KEYS is the keys)."""
    cmd = [sys.executable, "-c", _ATR, "check", str(release), "--json"]
    if keys is not None:
        cmd += ["--keys", str(keys)]

    def once() -> None:
        proc = subprocess.run(
            cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
        if proc.returncode not in (0, 1):
            raise SystemExit(f"atr check could not run: {proc.stderr.decode()[-2000:]}")

    return timed_runs(repeat, once)


def help_time(repeat: int) -> float:
    """Best wall time of ``atr --help`` as a whole new process."""
    cmd = [sys.executable, "-c", _ATR, "--help"]
    return best_of(repeat, lambda: run_quiet(cmd, cwd=ROOT))


def describe(summary: dict[str, int]) -> str:
    return ", ".join(f"{summary[s.value]} {s.value}" for s in Status)


def bench(
    work: Path, factory: GpgFactory, *, text_mb: int, data_mb: int, repeat: int, label: str
) -> dict[str, Any]:
    print(f"\n== {label}: building the release ...", flush=True)
    start = time.perf_counter()
    artifact = make_release(work, factory, text_bytes=text_mb << 20, data_bytes=data_mb << 20)
    keys = work / "KEYS"
    keys.write_text(factory.keys_file(["rsa4096", "ed25519"]))
    size = artifact.stat().st_size
    print(
        f"   {artifact.name}: {size / 1e6:.1f} MB compressed, "
        f"built in {time.perf_counter() - start:.0f} s"
    )
    floor = floor_times(artifact, keys, repeat)
    cold, cold_ratio = _cold(artifact.parent, keys, floor, repeat)
    total, shares, summary = suite_time(artifact.parent, keys, repeat)
    ratio = total / floor["total"]
    print(f"   suite in this process (warm): {total:.3f} s  ->  {ratio:.2f}x the floor")
    print("   per check: " + ", ".join(f"{k} {v:.3f} s" for k, v in shares.items()))
    print(f"   results: {describe(summary)}")
    rss, code, wall = child_peak_rss(artifact.parent, keys)
    print(f"   atr check --json in a child: exit {code}, {wall:.2f} s, peak RSS {rss:.0f} MB")
    return {
        "label": label,
        "artifact_bytes": size,
        "floor_s": floor,
        "cold_s": cold,
        "cold_ratio": cold_ratio,
        "suite_s": total,
        "ratio": ratio,
        "per_check_s": shares,
        "summary": summary,
        "atr_check": {"exit": code, "wall_s": wall, "peak_rss_mb": rss},
    }


def bench_release(folder: Path, repeat: int) -> dict[str, Any]:
    """The same measures on a real release folder (source archive, .asc, KEYS)."""
    archives = [p for p in folder.iterdir() if p.suffix in _DECOMPRESS and p.is_file()]
    if len(archives) != 1:
        raise SystemExit(f"{folder}: expected one source archive, found {len(archives)}")
    artifact, keys = archives[0], folder / "KEYS"
    print(f"\n== {artifact.name}: {artifact.stat().st_size / 1e6:.1f} MB compressed")
    floor = floor_times(artifact, keys, repeat)
    cold, ratio = _cold(folder, None, floor, repeat)
    total, shares, summary = suite_time(folder, None, repeat)
    print(f"   suite in this process (warm): {total:.3f} s  ->  {total / floor['total']:.2f}x")
    print("   per check: " + ", ".join(f"{k} {v:.3f} s" for k, v in shares.items()))
    print(f"   results: {describe(summary)}")
    rss, code, wall = child_peak_rss(folder, None)
    print(f"   atr check --json in a child: exit {code}, {wall:.2f} s, peak RSS {rss:.0f} MB")
    return {
        "label": artifact.name,
        "artifact_bytes": artifact.stat().st_size,
        "floor_s": floor,
        "cold_s": cold,
        "cold_ratio": ratio,
        "suite_s": total,
        "ratio": total / floor["total"],
        "per_check_s": shares,
        "summary": summary,
        "atr_check": {"exit": code, "wall_s": wall, "peak_rss_mb": rss},
    }


def _cold(
    release: Path, keys: Path | None, floor: dict[str, float], repeat: int
) -> tuple[dict[str, float], float]:
    """Measure and print the cold atr check against the floor; its times and the ratio of
    its best wall time to the floor's."""
    print("   floor: " + ", ".join(f"{k} {v:.3f} s" for k, v in floor.items()))
    cold = cold_time(release, keys, repeat)
    ratio = cold["best"] / floor["total"]
    print(
        f"   atr check, cold process: best {cold['best']:.3f} s, median {cold['median']:.3f} s "
        f"->  {ratio:.2f}x the floor (target <= 2.0x); CPU {cold['cpu_median']:.3f} s "
        f"({cold['cpu_median'] / floor['cpu']:.2f}x the floor's {floor['cpu']:.3f} s)"
    )
    return cold, ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size-mb", type=int, default=48, help="MB of source text (about 10 MB gzipped)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="also check a 1 GB artifact (minutes)")
    parser.add_argument("--json", type=Path, help="write the numbers to this file")
    parser.add_argument("--release", type=Path, help="measure this real release folder instead")
    args = parser.parse_args()
    check_runs_this_tree()
    compile_tree()
    help_s = help_time(max(args.repeat, 3))
    print(f"atr --help, cold process: {help_s:.3f} s (target < 0.3 s)")
    if args.release:
        numbers = bench_release(args.release, args.repeat)
        numbers["help_s"] = help_s
        if args.json:
            args.json.write_text(json.dumps(numbers, indent=2))
        verdict = "OK" if numbers["cold_ratio"] <= 2.0 else "OVER TARGET"
        print(f"\n{numbers['label']}: atr check {numbers['cold_ratio']:.2f}x the floor ({verdict})")
        return
    home = Path(tempfile.mkdtemp(prefix="atr-bench-keys-"))
    os.chmod(home, 0o700)
    results = []
    try:
        factory = GpgFactory(home)
        with tempfile.TemporaryDirectory(prefix="atr-bench-") as tmp:
            results.append(
                bench(
                    Path(tmp),
                    factory,
                    text_mb=args.size_mb,
                    data_mb=0,
                    repeat=args.repeat,
                    label="source release",
                )
            )
        if args.big:
            with tempfile.TemporaryDirectory(prefix="atr-bench-big-") as tmp:
                results.append(
                    bench(
                        Path(tmp),
                        factory,
                        text_mb=64,
                        data_mb=1000,
                        repeat=1,
                        label="1 GB artifact",
                    )
                )
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"help_s": help_s, "results": results}, indent=2))
    first = results[0]
    verdict = "OK" if first["cold_ratio"] <= 2.0 else "OVER TARGET"
    print(f"\nsource release: atr check {first['cold_ratio']:.2f}x the floor ({verdict})")
    if args.big:
        big = results[1]["atr_check"]["peak_rss_mb"]
        print(f"1 GB artifact: peak RSS {big:.0f} MB ({'OK' if big < 300 else 'OVER TARGET'})")


if __name__ == "__main__":
    main()
