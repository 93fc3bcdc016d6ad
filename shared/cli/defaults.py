"""Defaults of the ``atr`` command line that its help names (no imports: ``--help`` is quick)."""

from __future__ import annotations

DEFAULT_AGENT = "http://127.0.0.1:8765"
"""Where ``atr-agent serve`` listens without configuration."""
