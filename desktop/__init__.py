"""``atr-desktop``: the PySide6 client where release managers keep keys and follow releases.

See docs/desktop.md. ``desktop`` imports ``shared``, never ``agent``.
"""
