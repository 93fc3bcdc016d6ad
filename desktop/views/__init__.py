"""Widgets, one module per screen. They render view-models and forward clicks: no I/O, no crypto."""
