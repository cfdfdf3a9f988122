"""Small secrets at rest (API secrets, webhook secrets, sealed uploads): AES-256-GCM under the vault keys.

Blob layout: key id (8 ASCII hex) || nonce (12) || ciphertext+tag. `purpose` is bound as associated
data, so a secret sealed for one use does not open for another.
"""

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

NONCE_BYTES = 12


class SealError(Exception):
    pass


def _keys() -> dict[str, bytes]:
    keys = {}
    for text in settings.VAULT_KEYS:
        key = base64.b64decode(text)
        keys[hashlib.sha256(key).hexdigest()[:8]] = key
    return keys


def seal_bytes(data: bytes, *, purpose: str) -> bytes:
    current = base64.b64decode(settings.VAULT_KEYS[0])
    key_id = hashlib.sha256(current).hexdigest()[:8]
    nonce = os.urandom(NONCE_BYTES)
    return key_id.encode() + nonce + AESGCM(current).encrypt(nonce, data, purpose.encode())


def open_bytes(blob: bytes, *, purpose: str) -> bytes:
    blob = bytes(blob)
    key = _keys().get(blob[:8].decode(errors="replace"))
    if key is None:
        raise SealError("sealed with a key that is not configured")
    try:
        return AESGCM(key).decrypt(blob[8 : 8 + NONCE_BYTES], blob[8 + NONCE_BYTES :], purpose.encode())
    except InvalidTag as exc:
        raise SealError("sealed data does not open") from exc


def seal_text(text: str, *, purpose: str) -> bytes:
    return seal_bytes(text.encode(), purpose=purpose)


def open_text(blob: bytes, *, purpose: str) -> str:
    return open_bytes(blob, purpose=purpose).decode()
