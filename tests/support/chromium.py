"""Debian's headless Chromium for the page tests: ``chromium(*args)`` and ``needs_chromium``.

The flags keep it off the network (this machine's network is closed; without them it
retries Google's hosts at every start) and in a fresh profile each time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (./dev test installs it)"
)


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with ``args`` in a throwaway profile."""
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="atr-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
