"""Errors of the desktop, below :class:`shared.errors.AtrError`.

::

    AtrError
    └── DesktopError              anything the desktop itself refuses or cannot do
        ├── KeystoreError         a local key cannot be stored, found or used
        │   ├── KeyNotFound       no key with that fingerprint in the keystore
        │   ├── PassphraseRequired  the key is protected and no passphrase is known
        │   └── WrongPassphrase   the passphrase does not unlock the key
        ├── KeyringUnavailable    the OS keyring cannot store or read a passphrase
        ├── SettingsError         the settings file cannot be read or written
        ├── PolicyChanged         the project's policy changed since the editor loaded it
        └── DistributionSettingsChanged  the project's distribution settings changed meanwhile

Errors met while talking to the agent are :class:`shared.errors.ClientError`;
the session shows every error's :meth:`~shared.errors.AtrError.diagnostics`.
"""

from __future__ import annotations

from shared.errors import AtrError


class DesktopError(AtrError):
    """Root of the desktop's own errors."""


class KeystoreError(DesktopError):
    """A local key cannot be stored, found or used."""


class KeyNotFound(KeystoreError):
    """No key with the given fingerprint is in the keystore."""


class PassphraseRequired(KeystoreError):
    """The key is protected and no passphrase was given or remembered."""


class WrongPassphrase(KeystoreError):
    """The passphrase does not unlock the key."""


class KeyringUnavailable(DesktopError):
    """The OS keyring cannot store or read a passphrase."""


class SettingsError(DesktopError):
    """The settings file cannot be read or written."""


class PolicyChanged(DesktopError):
    """The project's check policy changed on the agent since the editor loaded it."""


class DistributionSettingsChanged(DesktopError):
    """The project's distribution settings changed on the agent since the editor loaded them."""
