"""``diagnostic.emit``: emit ``count`` log lines paced at ``rate`` lines per second.

An operator's tool (``benchmarks/stream.py`` measures the event stream with it).
Arguments: ``count`` (1 to 100000), ``rate`` (lines per second, above 0, at most
10000) and optionally ``payload_bytes`` (0 to 65536) of filler in each line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from agent.engine.tasks.context import InvalidTaskArgs, TaskContext

MAX_COUNT = 100_000
MAX_RATE = 10_000.0
MAX_PAYLOAD = 64 * 1024
_ALLOWED = frozenset({"count", "rate", "payload_bytes"})


@dataclass(frozen=True)
class EmitArgs:
    """Validated arguments of a ``diagnostic.emit`` task."""

    count: int
    rate: float
    payload_bytes: int = 0


def _int(args: dict[str, Any], name: str, low: int, high: int, default: int | None) -> int:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTaskArgs(f"diagnostic.emit: {name!r} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidTaskArgs(f"diagnostic.emit: {name!r} must be {low} to {high}, got {value}")
    return value


def parse_args(args: dict[str, Any]) -> EmitArgs:
    """Check ``args``; raises :class:`InvalidTaskArgs` naming the bad field."""
    unknown = sorted(set(args) - _ALLOWED)
    if unknown:
        raise InvalidTaskArgs(f"diagnostic.emit: unknown arguments {unknown}")
    count = _int(args, "count", 1, MAX_COUNT, None)
    rate = args.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        raise InvalidTaskArgs(f"diagnostic.emit: 'rate' must be a number, got {rate!r}")
    if not 0 < rate <= MAX_RATE:
        raise InvalidTaskArgs(f"diagnostic.emit: 'rate' must be above 0 and at most {MAX_RATE}")
    payload = _int(args, "payload_bytes", 0, MAX_PAYLOAD, 0)
    return EmitArgs(count=count, rate=float(rate), payload_bytes=payload)


def run(ctx: TaskContext) -> dict[str, Any]:
    """Emit the lines, each at its due time ``start + i / rate`` (no drift over a long run)."""
    emit = parse_args(ctx.task.args)
    payload = "x" * emit.payload_bytes
    start = time.monotonic()
    for i in range(emit.count):
        delay = start + i / emit.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ctx.log(
            f"line {i + 1}/{emit.count}" + (f" {payload}" if payload else ""),
            data={"seq": i + 1, "sent_at": time.time()},
        )
    return {"emitted": emit.count, "seconds": round(time.monotonic() - start, 3)}
