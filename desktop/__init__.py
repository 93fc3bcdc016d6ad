"""``atr-desktop``: the PySide6 client where release managers keep their keys and follow releases live.

See docs/desktop.md. ``desktop`` imports ``shared``, never ``agent``.
"""
