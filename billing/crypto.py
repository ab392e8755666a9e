"""Secrets kept encrypted at rest (a commune's Mollie API key), with Fernet (AES-128-CBC and
HMAC-SHA256, from ``cryptography``).

The key:

* ``settings.FOYER_ENCRYPTION_KEY`` when it is set: a Fernet key, 32 url-safe base64-encoded
  bytes, made with ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``.
  Set it in production, so that rotating ``SECRET_KEY`` does not make the stored secrets
  unreadable.
* otherwise derived from ``settings.SECRET_KEY`` with HKDF-SHA256 and a fixed ``info`` string
  (so this key is used for nothing else). Changing ``SECRET_KEY`` then loses the stored secrets:
  each commune must enter its key again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.translation import gettext as _

from foyer.errors import FoyerError

HKDF_INFO = b"foyer.billing.crypto.v1"


def _fernet() -> Fernet:
    key = getattr(settings, "FOYER_ENCRYPTION_KEY", "")
    if not key:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
            settings.SECRET_KEY.encode()
        )
        key = base64.urlsafe_b64encode(derived)
    return Fernet(key)


def encrypt_secret(text: str) -> str:
    """The secret as an opaque token, safe to store (a new token each time)."""
    return _fernet().encrypt(text.encode()).decode()


def decrypt_secret(token: str) -> str:
    """The secret back; a token made under another key cannot be read: the commune must enter
    its secret again."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise FoyerError(
            "secret_unreadable",
            _(
                "La clé enregistrée ne peut plus être lue : enregistrez-la à nouveau dans les réglages de la régie."
            ),
            status=409,
        ) from exc
