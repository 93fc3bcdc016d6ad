"""The one OpenPGP facade of the product.

* :mod:`shared.openpgp.keys` — pgpy keys held by the desktop: generate, load,
  describe, protect and sign (detached, ASCII-armored).
* :mod:`shared.openpgp.gnupg` — verification with GnuPG in a throwaway home, as
  the agent does it: streams big files and honours revocation and expiry, which
  pgpy does not.

Nothing else in the product imports pgpy or runs ``gpg`` to verify. The names are
imported on first use: ``shared.openpgp.gnupg`` (all that ``atr check`` needs) does
not pull in pgpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.openpgp.gnupg import SignatureResult, SignatureStatus, verify_detached
    from shared.openpgp.keys import (
        KeyInfo,
        generate_key,
        key_info,
        load_key,
        public_armor,
        sign_challenge,
        sign_detached,
    )

__all__ = [
    "KeyInfo",
    "SignatureResult",
    "SignatureStatus",
    "generate_key",
    "key_info",
    "load_key",
    "public_armor",
    "sign_challenge",
    "sign_detached",
    "verify_detached",
]

_HOME = {
    "SignatureResult": "gnupg",
    "SignatureStatus": "gnupg",
    "verify_detached": "gnupg",
    "KeyInfo": "keys",
    "generate_key": "keys",
    "key_info": "keys",
    "load_key": "keys",
    "public_armor": "keys",
    "sign_challenge": "keys",
    "sign_detached": "keys",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
