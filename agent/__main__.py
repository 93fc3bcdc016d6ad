"""``python -m agent`` runs ``atr-agent``."""

from agent.cli import main

main()
