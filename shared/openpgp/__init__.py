"""The one OpenPGP facade of the product.

* :mod:`shared.openpgp.keys` — pgpy keys held by the desktop: generate, load,
  describe, protect and sign (detached, ASCII-armored).
* :mod:`shared.openpgp.gnupg` — verification with GnuPG in a throwaway home, as
  the agent does it: streams big files and honours revocation and expiry, which
  pgpy does not.

Nothing else in the product imports pgpy or runs ``gpg`` to verify.
"""

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
