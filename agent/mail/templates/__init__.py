"""The default mail templates shipped with the agent (Jinja2, one file per kind of mail).

Each template defines two blocks, ``subject`` and ``body``. A project overrides one
by putting a file of the same name in ``DATA_DIR/mail-templates/<project>/`` (or
``DATA_DIR/mail-templates/`` for every project); an override may start with
``{% extends "default/<name>" %}`` and replace only one block.
"""
