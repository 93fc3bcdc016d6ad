"""Agent → client event stream: latency and throughput with many websocket clients.

Starts a real agent (temporary data dir, SQLite, one worker) on a free loopback port, connects
``--clients`` websocket clients (spread over ``--procs`` client processes so the clients do not
become the bottleneck), then runs the ``diagnostic.emit`` task, which writes ``--count`` log
lines at ``--rate`` lines per second from a worker process. Each client records, for every
``task.log`` line of that task, the time from the moment the worker emitted it (``data.sent_at``,
before it is written to the database) to its arrival.

The baseline, measured in the same run on the same machine, is the transport floor: a bare
``websockets`` server that broadcasts the same number of frames of the same size at the same rate to
the same clients. The agent's numbers are reported beside it and as ratios.

    .venv/bin/python benchmarks/stream.py                 # 20 clients, 2,000 events/s, 10 s
    .venv/bin/python benchmarks/stream.py --json out.json
    .venv/bin/python benchmarks/stream.py --database-url postgresql://user@host/emptydb

With ``--database-url`` the agent runs on that (empty) PostgreSQL database instead of SQLite:
the worker's events then reach the API's event bus through LISTEN/NOTIFY rather than its
20 ms poll.

Target (issue 2): p99 under 50 ms and no event lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.asyncio.server import broadcast, serve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.openpgp import generate_key, public_armor  # noqa: E402
from shared.protocol import PROTOCOL_VERSION  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- client processes ------------------------------------------------------------------------


async def _client(
    url: str, token: str | None, expected: int, ready: asyncio.Event, deadline: float
):
    latencies: list[float] = []
    seen: set[int] = set()
    async with connect(url, max_size=None, ping_interval=None) as ws:
        if token is not None:
            await ws.send(
                json.dumps({"kind": "hello", "protocol": PROTOCOL_VERSION, "token": token})
            )
            welcome = json.loads(await ws.recv())
            if welcome.get("kind") != "welcome":
                raise RuntimeError(f"agent refused the benchmark client: {welcome}")
            await ws.send(json.dumps({"kind": "subscribe", "scope": {}, "since": None}))
        ready.set()
        while len(seen) < expected:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
            except TimeoutError:
                break
            now = time.time()
            frame = json.loads(raw)
            kind = frame.get("kind")
            if kind == "event":
                events = [frame["event"]]
            elif kind == "events":
                events = frame["events"]
            else:
                continue
            for event in events:
                data = event.get("data", {})
                # Only the diagnostic task's lines: the revision's checks log lines too.
                if event.get("kind") != "task.log" or "sent_at" not in data:
                    continue
                seq = data["seq"]
                if seq in seen:
                    raise RuntimeError(f"duplicate event {seq}")
                seen.add(seq)
                latencies.append(now - data["sent_at"])
    return latencies, len(seen)


def client_process(url, token, n, expected, deadline, ready_q, out_q):
    async def main():
        events = [asyncio.Event() for _ in range(n)]
        tasks = [
            asyncio.create_task(_client(url, token, expected, events[i], deadline))
            for i in range(n)
        ]
        await asyncio.gather(*(e.wait() for e in events))
        ready_q.put(n)
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    out = []
    for res in results:
        if isinstance(res, BaseException):
            out.append({"error": repr(res), "latencies": [], "received": 0})
        else:
            out.append({"latencies": res[0], "received": res[1]})
    out_q.put(out)


def run_clients(url, token, *, clients, procs, expected, duration, start):
    ctx = mp.get_context("spawn")
    ready_q, out_q = ctx.Queue(), ctx.Queue()
    deadline = time.time() + duration + 60
    sizes = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [
        ctx.Process(target=client_process, args=(url, token, n, expected, deadline, ready_q, out_q))
        for n in sizes
        if n
    ]
    for w in workers:
        w.start()
    connected = 0
    while connected < clients:
        connected += ready_q.get(timeout=60)
    started = time.time()
    start()
    results = []
    for _ in workers:
        results.extend(out_q.get(timeout=duration + 120))
    elapsed = time.time() - started
    for w in workers:
        w.join(timeout=10)
    return results, elapsed


def summarize(name, results, expected, elapsed):
    latencies = [lat for r in results for lat in r["latencies"]]
    received = [r["received"] for r in results]
    errors = [r["error"] for r in results if "error" in r]
    return {
        "name": name,
        "clients": len(results),
        "expected_per_client": expected,
        "lost": sum(expected - n for n in received),
        "errors": errors,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "delivered_per_s": sum(received) / elapsed if elapsed else 0.0,
    }


# --- baseline: a bare websockets broadcast server --------------------------------------------


def baseline_server(port: int, count: int, rate: float, payload: int, go: mp.Event, stop: mp.Event):
    async def main():
        clients = set()

        async def handler(ws):
            clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)

        async with serve(handler, "127.0.0.1", port, max_size=None, ping_interval=None):
            await asyncio.to_thread(go.wait)
            interval = 1.0 / rate
            t0 = time.time()
            for seq in range(count):
                target = t0 + seq * interval
                delay = target - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = time.time()
                frame = {
                    "kind": "event",
                    "event": {
                        "id": seq + 1,
                        "at": datetime.fromtimestamp(now).astimezone().isoformat(),
                        "kind": "task.log",
                        "data": {"seq": seq, "sent_at": now, "message": "x" * payload},
                    },
                }
                broadcast(clients, json.dumps(frame))
            await asyncio.to_thread(stop.wait)

    asyncio.run(main())


def run_baseline(args):
    ctx = mp.get_context("spawn")
    port = free_port()
    go, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(
        target=baseline_server, args=(port, args.count, args.rate, args.payload, go, stop)
    )
    server.start()
    time.sleep(1.0)
    try:
        results, elapsed = run_clients(
            f"ws://127.0.0.1:{port}",
            None,
            clients=args.clients,
            procs=args.procs,
            expected=args.count,
            duration=args.count / args.rate,
            start=go.set,
        )
    finally:
        stop.set()
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
    return summarize("baseline (bare websockets broadcast)", results, args.count, elapsed)


# --- the agent --------------------------------------------------------------------------------


def agent_env(args, **extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    if args.database_url:
        env["ATR_DATABASE_URL"] = args.database_url
    return env


def cli(args, data_dir: Path, *cmd: str) -> str:
    out = subprocess.run(
        [str(BIN / "atr-agent"), "--data-dir", str(data_dir), *cmd],
        check=True,
        capture_output=True,
        text=True,
        env=agent_env(args),
    )
    return out.stdout.strip().splitlines()[-1]


def run_agent(args):
    with tempfile.TemporaryDirectory(prefix="atr-bench-") as tmp:
        data = Path(tmp) / "data"
        key = generate_key("Bench Admin", "bench@example.org", bits=2048)
        key_file = Path(tmp) / "admin.asc"
        key_file.write_text(public_armor(key))
        token = cli(args, data, "bootstrap", "--admin", "bench", "--key", str(key_file))
        cli(args, data, "committee", "add", "bench")
        cli(args, data, "project", "add", "bench-project", "--committee", "bench")
        port = free_port()
        env = agent_env(args, ATR_WORKERS="1")
        agent = subprocess.Popen(
            [str(BIN / "atr-agent"), "--data-dir", str(data), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{base}/health", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                http.post(
                    "/projects/bench-project/releases", json={"version": "1.0.0"}
                ).raise_for_status()
                blob = http.post("/uploads", content=b"benchmark\n").raise_for_status().json()
                http.post(
                    "/projects/bench-project/releases/1.0.0/revisions",
                    json={"files": {"README": blob["sha256"]}},
                ).raise_for_status()

                def start():
                    http.post(
                        "/tasks",
                        json={
                            "type": "diagnostic.emit",
                            "project": "bench-project",
                            "version": "1.0.0",
                            "args": {
                                "count": args.count,
                                "rate": args.rate,
                                "payload_bytes": args.payload,
                            },
                        },
                    ).raise_for_status()

                results, elapsed = run_clients(
                    f"ws://127.0.0.1:{port}/api/v1/ws",
                    token,
                    clients=args.clients,
                    procs=args.procs,
                    expected=args.count,
                    duration=args.count / args.rate,
                    start=start,
                )
        finally:
            agent.terminate()
            try:
                agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                agent.kill()
    database = "PostgreSQL" if args.database_url else "SQLite"
    return summarize(f"agent (worker → {database} → bus → websocket)", results, args.count, elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--payload", type=int, default=80, help="bytes of log message per event")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument(
        "--database-url",
        help="run the agent on this empty PostgreSQL database (default: SQLite in a temp dir)",
    )
    args = parser.parse_args()
    args.count = int(args.rate * args.seconds)

    baseline = run_baseline(args)
    agent = run_agent(args)
    report = {
        "clients": args.clients,
        "rate": args.rate,
        "events": args.count,
        "database": "postgresql" if args.database_url else "sqlite",
        "baseline": baseline,
        "agent": agent,
        "ratio_p50": agent["p50_ms"] / baseline["p50_ms"] if baseline["p50_ms"] else None,
        "ratio_p99": agent["p99_ms"] / baseline["p99_ms"] if baseline["p99_ms"] else None,
        "target_met": agent["p99_ms"] < 50 and agent["lost"] == 0 and not agent["errors"],
    }
    for row in (baseline, agent):
        print(
            f"{row['name']:<48} p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
            f"max {row['max_ms']:7.2f} ms  delivered {row['delivered_per_s']:9.0f}/s  "
            f"lost {row['lost']}  errors {len(row['errors'])}"
        )
    print(
        f"ratio agent/baseline: p50 {report['ratio_p50']:.2f}x  p99 {report['ratio_p99']:.2f}x  "
        f"target (p99 < 50 ms, none lost): {'met' if report['target_met'] else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["target_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
