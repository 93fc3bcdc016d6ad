"""Code shared by the agent, the desktop and the ``atr`` CLI.

Nothing here imports Qt, a database or a web framework: it is the wire contract
(:mod:`shared.protocol`), the release lifecycle (:mod:`shared.lifecycle`), the
OpenPGP facade (:mod:`shared.openpgp`), the agent client (:mod:`shared.client`)
and the domain code that runs anywhere.
"""

__version__ = "0.1.0"
