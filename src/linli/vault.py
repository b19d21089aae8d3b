"""Secrets at rest: provider credentials (API keys, private keys, AppSecrets) sealed with Fernet.

A credential a merchant or the platform enters is sealed before it is written and opened
only in memory, where a provider client needs it. Fernet (AES-128-CBC with HMAC-SHA256,
from ``cryptography``) refuses a token that was altered or sealed under another key.

The keys come from ``LINLI_VAULT_KEYS`` (comma-separated Fernet keys, newest first, for
rotation: seal with the first, open with any), else one key derived from
``LINLI_SECRET_KEY`` by HKDF-SHA256, so a deployment that sets only its secret key still
never stores a credential in the clear. The key ring is a port the composition root fills
(``linli.domains.bootstrap``); unfilled, sealing refuses rather than writing plain text.

Nothing here logs a secret; ``mask`` is the only way one is shown again (its last four
characters).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linli.composition import Port

_INFO = b"linli vault v1"

ring: Port[MultiFernet | None] = Port("vault.ring", None)


class VaultError(RuntimeError):
    """A sealed value cannot be opened (altered, or sealed under a key no longer configured)."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from the app's secret key (domain-separated from its other uses)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


def key_ring(vault_keys: str, secret_key: str) -> MultiFernet:
    """The configured keys, newest first; the derived key when none is configured. A key
    that is not a Fernet key is refused at start-up (``ValueError``), not at first use."""
    keys = [k.strip() for k in vault_keys.split(",") if k.strip()]
    try:
        fernets = [Fernet(k) for k in keys] if keys else [Fernet(derived_key(secret_key))]
    except (ValueError, TypeError) as e:
        raise ValueError("LINLI_VAULT_KEYS must be Fernet keys (32 url-safe base64 bytes each), comma-separated") from e
    return MultiFernet(fernets)


def _ring() -> MultiFernet:
    r = ring.get()
    if r is None:
        raise VaultError("the vault has no key: linli.domains.bootstrap fills it from the settings")
    return r


def seal(plain: str) -> str:
    """``plain`` encrypted under the newest key, as ASCII text for a column."""
    return _ring().encrypt(plain.encode()).decode("ascii")


def open_sealed(token: str) -> str:
    """The plain text of a sealed value; ``VaultError`` if it was altered or its key is gone."""
    try:
        return _ring().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError) as e:
        raise VaultError("a sealed credential cannot be opened with the configured keys") from e


def rotate(token: str) -> str:
    """The same secret sealed again under the newest key (for a key rotation job)."""
    try:
        return _ring().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError) as e:
        raise VaultError("a sealed credential cannot be opened with the configured keys") from e


def mask(plain: str | None) -> str:
    """How a secret is shown again: its last four characters at most, never the whole."""
    if not plain:
        return ""
    tail = plain[-4:] if len(plain) >= 12 else ""
    return "••••" + tail
