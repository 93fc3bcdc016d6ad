"""A project's signing keys: publish, import a KEYS file, revoke, and the generated KEYS file.

* :mod:`agent.keys.material` — keys as GnuPG reads them (one key, a KEYS file block by
  block, a revocation), with the key policy's verdict; no database;
* :mod:`agent.keys.service` — the writers by role (:class:`ProjectKeys`), the KEYS import
  (:func:`import_keys_file`) and revocation (:func:`revoke_key`) with GnuPG outside the
  write transaction, and the reads;
* :mod:`agent.keys.generate` — the KEYS file text;
* :mod:`agent.keys.signed` — which releases carry signatures by a key.
"""

from agent.keys.service import (
    CommitterKeys,
    PmcKeys,
    ProjectKeys,
    get_project_key,
    import_keys_file,
    keys_file,
    list_project_keys,
    revoke_key,
)

__all__ = [
    "CommitterKeys",
    "PmcKeys",
    "ProjectKeys",
    "get_project_key",
    "import_keys_file",
    "keys_file",
    "list_project_keys",
    "revoke_key",
]
