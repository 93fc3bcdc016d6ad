"""signify, the independent Authenticode verifier, imported despite oscrypto 1.3.0's bug.

oscrypto (a dependency of signify) reads OpenSSL's version with a pattern that does not
match two-digit patch levels ("OpenSSL 3.0.19"): importing it raises
``LibraryNotFoundError('Error detecting the version of libcrypto')``. The fix is on
oscrypto's main branch but not released (wbond/oscrypto#78). While oscrypto imports, the
pattern is widened to what the fix uses; nothing else changes.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

_NARROW = r"\b(\d\.\d\.\d[a-z]*)\b"
_WIDE = r"\b(\d+\.\d+\.\d+[a-z]*)\b"


def _import_oscrypto() -> None:
    original = re.search

    def search(pattern: Any, string: Any, flags: int = 0) -> Any:
        return original(_WIDE if pattern == _NARROW else pattern, string, flags)

    re.search = search  # type: ignore[assignment]
    try:
        import oscrypto.asymmetric  # noqa: F401, PLC0415
    finally:
        re.search = original


_import_oscrypto()

from signify.authenticode import AuthenticodeFile  # noqa: E402
from signify.x509 import Certificate, CertificateStore  # noqa: E402


def authenticode_file(stream: BinaryIO) -> AuthenticodeFile:
    return AuthenticodeFile.from_stream(stream)


def certificate_store(pem: str) -> CertificateStore:
    """A store trusting the certificates of ``pem`` (the agent's self-signed test certificate)."""
    return CertificateStore(list(Certificate.from_pems(pem.encode())), trusted=True)
