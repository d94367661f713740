"""Field encryption at rest and keyed lookup hashes.

A token looks like ``v1.<key id>.<base64 nonce+ciphertext>``: AES-256-GCM
with a random 96-bit nonce, the field name as associated data (a ciphertext
moved to another column does not decrypt), and the key id beside it so keys
can rotate: new values use the active key, old ones still decrypt with theirs.
Lookups (is this ID number already a customer?) use HMAC-SHA256 under a
separate key, so the database never holds anything reversible without keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_VERSION = "v1"


class DecryptionError(Exception):
    """A token that is malformed, under an unknown key, or tampered with."""


class FieldCipher:
    def __init__(self, keys: dict[str, bytes], active_key_id: str, lookup_key: bytes):
        if active_key_id not in keys:
            raise ValueError(f"active key {active_key_id!r} is not configured")
        for key_id, key in keys.items():
            if len(key) != 32 or "." in key_id:
                raise ValueError(f"key {key_id!r} must be 32 bytes and its id must not contain '.'")
        self._aead = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id
        self._lookup_key = lookup_key

    @classmethod
    def from_settings(cls, settings) -> "FieldCipher":
        return cls(settings.field_key_map(), settings.active_field_key, settings.lookup_key_bytes())

    def encrypt(self, plaintext: str, *, field: str) -> str:
        nonce = os.urandom(12)
        ciphertext = self._aead[self.active_key_id].encrypt(nonce, plaintext.encode(), field.encode())
        return f"{TOKEN_VERSION}.{self.active_key_id}.{base64.b64encode(nonce + ciphertext).decode()}"

    def decrypt(self, token: str, *, field: str) -> str:
        try:
            version, key_id, payload = token.split(".", 2)
            raw = base64.b64decode(payload, validate=True)
        except ValueError as exc:
            raise DecryptionError("malformed token") from exc
        if version != TOKEN_VERSION or key_id not in self._aead:
            raise DecryptionError(f"unknown token version or key id {key_id!r}")
        try:
            return self._aead[key_id].decrypt(raw[:12], raw[12:], field.encode()).decode()
        except InvalidTag as exc:
            raise DecryptionError("token does not authenticate (wrong field or tampered)") from exc

    def key_id_of(self, token: str) -> str:
        return token.split(".", 2)[1]

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self.active_key_id

    def rotate(self, token: str, *, field: str) -> str:
        """Re-encrypt under the active key (no-op for tokens already under it)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, field=field), field=field)

    def lookup_hash(self, value: str, *, field: str) -> str:
        return hmac.new(self._lookup_key, f"{field}:{value}".encode(), hashlib.sha256).hexdigest()
