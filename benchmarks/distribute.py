"""Publishing a release of about 1 GB to the dist repository and PyPI, against the plain clients.

Starts a real ``svnserve`` and two real ``pypiserver`` instances, and an agent (SQLite, two
workers) whose dist repository is the svnserve one and whose project has a PyPI channel.
A release of ``--size-mb`` (a source archive and a wheel, each with half of the bytes, each
signed and checksummed) goes through its checks and vote; then the benchmark times the
agent's distribution from ``start`` to:

* **published** — every file accepted by both channels (the last ``distribution.step`` done);
* **verified** — every file downloaded back from its channel and its SHA-512 compared.

The baseline, in the same run, on the same servers: the plain clients a release manager
would run by hand — ``svnmucc put`` of the same files into the same repository (one commit,
as the agent does) and ``twine upload`` of the wheel and sdist to the second pypiserver.
Reported: the agent's times against the sum of the plain clients (what a person does one
after the other) and against the slower of them (both at once, as the agent's two workers
do), and the peak memory of the agent and its workers during the distribution: their RSS
summed (pages shared between them, such as libpython and libcrypto, counted in each) and
their PSS summed (each shared page split between its sharers: what they take together).

    .venv/bin/python benchmarks/distribute.py                 # 1 GB
    .venv/bin/python benchmarks/distribute.py --size-mb 200 --json out.json

Target (issue 7): at most 1.3x the plain clients, the agent's peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.distribute_support import (  # noqa: E402
    add_voters,
    approve_plan,
    big_source_release,
    passed_release,
)
from tests.support.agent import PROJECT, AgentProcess  # noqa: E402
from tests.support.packages import python_wheel, signed  # noqa: E402
from tests.support.pypiserver import PypiServer  # noqa: E402
from tests.support.svnserve import SvnServe  # noqa: E402

USER, PASSWORD = "release-bot", "bench-password"
PACKAGE = "apache-acme-bench"


class MemoryWatch(threading.Thread):
    """Samples the RSS of a process and its children every 50 ms; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.peak_pss = 0
        """the peak of the summed proportional set size: shared pages (libpython, libcrypto,
        the interpreter's files) counted once across the processes rather than in each"""
        self.peak_tools = 0
        self.peaks: dict[str, int] = {}
        """the peak RSS of each process (name and pid)"""
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            ours = ours_pss = tools = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                try:
                    mem = proc.memory_full_info()
                    rss = mem.rss
                    name = proc.name()
                except psutil.NoSuchProcess:
                    continue
                key = f"{name}[{proc.pid}]"
                self.peaks[key] = max(self.peaks.get(key, 0), rss)
                if name.startswith(("svn", "gpg")):
                    tools += rss
                else:
                    ours += rss
                    ours_pss += mem.pss
            self.peak = max(self.peak, ours)
            self.peak_pss = max(self.peak_pss, ours_pss)
            self.peak_tools = max(self.peak_tools, tools)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def build_release(folder: Path, version: str, size: int, sign) -> list[Path]:  # type: ignore[no-untyped-def]
    """A source archive and a wheel, each with half of ``size`` (one upload of 1 GiB is past
    what pypiserver's waitress takes; PyPI's own default limit is 100 MB a file)."""
    files = big_source_release(folder / "src", version, sign=sign, extra_bytes=size // 2)
    wheel = python_wheel(folder / "pkg", PACKAGE, version, padding=size // 2)
    return files + signed([wheel], sign=sign)


def api(agent: AgentProcess, method: str, path: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    with agent.client(agent.admin_token, timeout=600) as c:
        r = c.request(method, path, **kwargs)
    r.raise_for_status()
    return r


def distribute(agent: AgentProcess, version: str) -> dict[str, float]:
    approve_plan(agent, agent.committer, version)
    since = api(agent, "GET", "/health").json()["last_event_id"]
    watch = MemoryWatch(agent.pid)
    watch.start()
    start = time.monotonic()
    with agent.client(agent.committer.token, timeout=600) as c:
        c.post(
            f"/projects/{PROJECT}/releases/{version}/distribution/start", json={}
        ).raise_for_status()
    published = None
    while True:
        status = api(agent, "GET", f"/projects/{PROJECT}/releases/{version}/distribution").json()
        steps = [f for ch in status["channels"] for f in ch["files"]]
        if published is None and steps and all(f["state"] in ("done", "failed") for f in steps):
            published = time.monotonic()
        if status["state"] in ("verified", "failed"):
            break
        time.sleep(0.1)
    end = time.monotonic()
    watch.stop()
    if status["state"] != "verified":
        failures = [
            {k: ch.get(k) for k in ("name", "state", "error")}
            | {"files": [f for f in ch["files"] if f["state"] != "done"]}
            for ch in status["channels"]
        ]
        raise SystemExit(f"the distribution failed: {json.dumps(failures, indent=1)}")
    events = api(agent, "GET", "/events", params={"since": since, "limit": 1000}).json()["events"]
    uploaded = [e for e in events if e["kind"] == "distribution.step" and e["data"].get("uploaded")]
    return {
        "published_s": (published or end) - start,
        "verified_s": end - start,
        "peak_rss_mb": watch.peak / 2**20,
        "peak_pss_mb": watch.peak_pss / 2**20,
        "peak_tools_rss_mb": watch.peak_tools / 2**20,
        "uploads": len({e["data"]["path"] + e["data"]["channel"] for e in uploaded}),
        "peak_rss_by_process_mb": {k: round(v / 2**20) for k, v in sorted(watch.peaks.items())},
    }


def plain_clients(files: list[Path], svn_url: str, pypi: PypiServer) -> dict[str, float]:
    actions: list[str] = [
        "mkdir",
        f"{svn_url}/release/plain",
        "mkdir",
        f"{svn_url}/release/plain/b",
    ]
    for path in files:
        actions += ["put", str(path), f"{svn_url}/release/plain/b/{path.name}"]
    with tempfile.TemporaryDirectory() as config:
        start = time.monotonic()
        subprocess.run(
            ["svnmucc", "--non-interactive", "--no-auth-cache", "--config-dir", config,
             "--username", USER, "--password-from-stdin", "-m", "plain client", *actions],
            input=PASSWORD + "\n", text=True, check=True, capture_output=True,
        )  # fmt: skip
        svn_s = time.monotonic() - start
    packages = [p for p in files if p.suffix == ".whl"]
    start = time.monotonic()
    subprocess.run(
        [str(Path(sys.executable).parent / "twine"), "upload", "--disable-progress-bar",
         "--non-interactive", "--repository-url", pypi.url, "-u", USER, "-p", PASSWORD,
         *map(str, packages)],
        check=True, capture_output=True,
    )  # fmt: skip
    twine_s = time.monotonic() - start
    return {"svn_s": svn_s, "twine_s": twine_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atr-bench-") as tmp:
        root = Path(tmp)
        with (
            SvnServe(root / "svn", user=USER, password=PASSWORD) as svn,
            PypiServer(root / "pypi", users={USER: PASSWORD}) as pypi,
            PypiServer(root / "pypi-plain", users={USER: PASSWORD}) as plain_pypi,
        ):
            agent = AgentProcess(
                root / "agent",
                workers=2,
                config={
                    "vote_min_hours_floor": 0.01,
                    "announce_delay_minutes": 0,
                    "dist_svn_url": svn.url,
                    "dist_svn_credential": "dist-svn",
                    "max_upload_bytes": 4 * 2**30,
                },
            )
            agent.start()
            try:
                for name, channels in (("dist-svn", ["svn"]), ("pypi", ["pypi"])):
                    body = {"secret": PASSWORD, "username": USER, "channels": channels}
                    api(agent, "PUT", f"/credentials/{name}", json=body)
                pypi_channel = {
                    "name": "pypi", "kind": "pypi", "url": pypi.url, "files": ["*.whl"],
                    "package": PACKAGE, "credential": "pypi",
                }  # fmt: skip
                with agent.client(agent.pmc_token) as c:
                    c.put(f"/projects/{PROJECT}/distribution-settings",
                          json={"channels": [pypi_channel]}).raise_for_status()  # fmt: skip
                voters = add_voters(agent)
                print(f"building and voting a release of {args.size_mb} MB …", flush=True)
                files = build_release(
                    root / "files", "1.0.0", args.size_mb * 2**20, agent.committer.key.sign
                )
                passed_release(agent, voters, root, "1.0.0", files=files)
                print("distributing …", flush=True)
                ours = distribute(agent, "1.0.0")
            except SystemExit:
                problems = [
                    line
                    for line in agent.log_text().splitlines()
                    if " ERROR " in line or " WARNING " in line
                ]
                print("\n".join(problems[-40:]), file=sys.stderr)
                raise
            finally:
                agent.stop()
            print("the plain clients …", flush=True)
            plain = plain_clients(files, svn.url, plain_pypi)
            total = sum(os.path.getsize(p) for p in files)
    sequential = plain["svn_s"] + plain["twine_s"]
    parallel = max(plain["svn_s"], plain["twine_s"])
    report = {
        "bytes": total,
        **ours,
        **plain,
        "published_vs_plain_sequential": ours["published_s"] / sequential,
        "published_vs_plain_parallel": ours["published_s"] / parallel,
        "verified_vs_plain_sequential": ours["verified_s"] / sequential,
    }
    print(f"release: {total / 2**20:,.0f} MB in {len(files)} files")
    print(
        f"agent:  published in {ours['published_s']:.1f} s, verified in "
        f"{ours['verified_s']:.1f} s, {ours['uploads']} uploads; agent + workers at their "
        f"peak: RSS {ours['peak_rss_mb']:.0f} MB summed, PSS {ours['peak_pss_mb']:.0f} MB "
        f"(shared pages once); svn/gpg child processes {ours['peak_tools_rss_mb']:.0f} MB"
    )
    print(f"        by process (MB): {ours['peak_rss_by_process_mb']}")
    print(f"plain:  svnmucc {plain['svn_s']:.1f} s + twine {plain['twine_s']:.1f} s")
    print(f"ratio:  published {report['published_vs_plain_sequential']:.2f}x the plain clients one "
          f"after the other, {report['published_vs_plain_parallel']:.2f}x the slower of them; "
          f"with verification {report['verified_vs_plain_sequential']:.2f}x")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
