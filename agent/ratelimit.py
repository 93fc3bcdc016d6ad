"""A sliding-window rate limit per client address, in one agent process."""

from __future__ import annotations

import threading
from collections import deque

from agent.store import RateLimited

WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000
"""Past this many addresses, idle ones are forgotten: the map stays bounded."""


class AddressLimiter:
    """At most ``limit`` calls per address in any :data:`WINDOW_SECONDS`."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str, limit: int, now: float) -> None:
        """Count one call from ``address`` at ``now`` (monotonic seconds), or raise
        :class:`RateLimited` (429) if it had ``limit`` calls in the window already."""
        with self._lock:
            if len(self._seen) > MAX_ADDRESSES:
                cutoff = now - WINDOW_SECONDS
                self._seen = {a: q for a, q in self._seen.items() if q and q[-1] > cutoff}
            stamps = self._seen.setdefault(address, deque())
            while stamps and stamps[0] <= now - WINDOW_SECONDS:
                stamps.popleft()
            if len(stamps) >= limit:
                raise RateLimited(
                    f"too many {self.what} from {address} in a minute",
                    retry_after=max(1, int(stamps[0] + WINDOW_SECONDS - now) + 1),
                    hint="wait a minute",
                )
            stamps.append(now)
