"""The card-code vault's cryptography. Pure functions over bytes and str; no database here.

* Each code is sealed with AES-256-GCM under the current vault key. The stored blob is
  nonce (12 bytes) || ciphertext || tag; the key's id (first 8 hex digits of SHA-256 of the key)
  is stored beside it, so keys can rotate while old rows still open.
* The blind index is HMAC-SHA256 under a separate key over the normalised code. It is unique
  across the vault, so it finds a code (redemption, traceability) and refuses duplicates without
  ever decrypting. It is also the AEAD associated data: a ciphertext moved onto another row fails
  to open.
* The hint shows at most a quarter of the code and nothing of codes shorter than 8 characters.
"""

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12
MASK = "•"


class VaultError(Exception):
    """A code could not be sealed or opened (unknown key, tampered blob)."""


@dataclass(frozen=True)
class SealedCode:
    blind_index: str
    ciphertext: bytes
    key_id: str
    hint: str


def _decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("vault keys must be base64") from exc
    if len(key) != 32:
        raise ImproperlyConfigured("vault keys must be 32 bytes (AES-256)")
    return key


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class Keyring:
    """The configured keys: the first is current (seals new codes), the others only open old ones."""

    def __init__(self, encoded_keys: list[str], index_key: str):
        if not encoded_keys:
            raise ImproperlyConfigured("VAULT_KEYS is empty")
        keys = [_decode_key(k) for k in encoded_keys]
        self.current_id = key_id_of(keys[0])
        self._aead = {key_id_of(k): AESGCM(k) for k in keys}
        self._index_key = _decode_key(index_key)

    @property
    def key_ids(self) -> list[str]:
        return list(self._aead)

    def blind_index(self, normalized: str) -> str:
        return hmac.new(self._index_key, normalized.encode(), hashlib.sha256).hexdigest()

    def seal(self, code: str) -> SealedCode:
        normalized = normalize(code)
        if not normalized:
            raise VaultError("empty code")
        index = self.blind_index(normalized)
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._aead[self.current_id].encrypt(nonce, normalized.encode(), index.encode())
        return SealedCode(blind_index=index, ciphertext=blob, key_id=self.current_id, hint=hint_of(normalized))

    def open(self, *, ciphertext: bytes, key_id: str, blind_index: str) -> str:
        aead = self._aead.get(key_id)
        if aead is None:
            raise VaultError(f"vault key {key_id} is not configured")
        blob = bytes(ciphertext)
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], blind_index.encode()).decode()
        except InvalidTag as exc:
            raise VaultError("ciphertext does not open: tampered or moved") from exc

    def reseal(self, *, ciphertext: bytes, key_id: str, blind_index: str) -> tuple[bytes, str]:
        """Re-encrypt under the current key (rotation). Returns (blob, key_id)."""
        plaintext = self.open(ciphertext=ciphertext, key_id=key_id, blind_index=blind_index)
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._aead[self.current_id].encrypt(nonce, plaintext.encode(), blind_index.encode())
        return blob, self.current_id


@lru_cache(maxsize=4)
def _keyring_for(keys: tuple[str, ...], index_key: str) -> Keyring:
    return Keyring(list(keys), index_key)


def keyring() -> Keyring:
    """The keyring for the current settings (cached; tests that override settings get a fresh one)."""
    return _keyring_for(tuple(settings.VAULT_KEYS), settings.VAULT_INDEX_KEY)


def normalize(code: str) -> str:
    """Codes compare without surrounding blanks, inner spaces or dashes, and case-insensitively."""
    return "".join(code.split()).replace("-", "").upper()


def hint_of(normalized: str) -> str:
    """At most a quarter of the code, at most 4 characters, from its end; nothing below 8 characters."""
    shown = min(4, len(normalized) // 4) if len(normalized) >= 8 else 0
    return MASK * 4 + (normalized[-shown:] if shown else "")


def blind_index_of(code: str) -> str:
    return keyring().blind_index(normalize(code))


def seal(code: str) -> SealedCode:
    return keyring().seal(code)


def new_key() -> str:
    """A fresh base64 key for VAULT_KEYS / VAULT_INDEX_KEY."""
    return base64.b64encode(os.urandom(32)).decode()


# --- Bulk sealing and sealed files (code imports) ----------------------------------------------


class BulkSealer:
    """Seals many already-normalised codes in a tight loop: the same blobs and indexes as `Keyring.seal`,
    without its per-code overhead (one AEAD object, one-shot HMAC, the nonces of a chunk from one read
    of the OS random source)."""

    def __init__(self, ring: Keyring | None = None):
        ring = ring or keyring()
        self.key_id = ring.current_id
        self._encrypt = ring._aead[ring.current_id].encrypt
        self._index_key = ring._index_key

    def index(self, normalized: str) -> str:
        """The blind index of a normalised code (equal to `Keyring.blind_index`)."""
        return hmac.digest(self._index_key, normalized.encode(), "sha256").hex()

    def seal_many(self, items) -> list[bytes]:
        """Ciphertext blobs (nonce || ciphertext || tag) for a sequence of (normalised code, blind index)."""
        encrypt = self._encrypt
        nonces = os.urandom(NONCE_BYTES * len(items))
        blobs = []
        append = blobs.append
        offset = 0
        for code, index in items:
            nonce = nonces[offset : offset + NONCE_BYTES]
            offset += NONCE_BYTES
            append(nonce + encrypt(nonce, code.encode(), index.encode()))
        return blobs


def seal_bytes(data: bytes, *, context: str) -> tuple[bytes, str]:
    """Seal a whole file (an upload waiting for confirmation) under the current vault key.

    `context` is bound as associated data, so the blob opens only for the owner it was sealed for.
    Returns (blob, key_id)."""
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ring._aead[ring.current_id].encrypt(nonce, data, context.encode()), ring.current_id


def open_bytes(blob: bytes, *, key_id: str, context: str) -> bytes:
    aead = keyring()._aead.get(key_id)
    if aead is None:
        raise VaultError(f"vault key {key_id} is not configured")
    blob = bytes(blob)
    try:
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
    except InvalidTag as exc:
        raise VaultError("sealed file does not open: tampered or moved") from exc
