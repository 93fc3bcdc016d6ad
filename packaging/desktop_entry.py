"""Entry script for the PyInstaller bundle of the desktop (see atr-desktop.spec)."""

from desktop.app import main

raise SystemExit(main())
