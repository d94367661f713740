"""API keys and roles.

A key reads ``mlk_<key id>_<secret>``. The key id finds the row; only the
SHA-256 of the secret is stored (the secret has 256 bits of entropy, so a slow
password hash would add latency to every request and no safety), compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

from microlend.errors import AuthenticationError

PREFIX = "mlk"


class Role(str, Enum):
    ADMIN = "admin"          #: everything, including products and keys
    OPERATOR = "operator"    #: staff: customers, lines, loans, repayments, ledger reports
    BORROWER = "borrower"    #: one customer's own records only


@dataclass(frozen=True)
class Principal:
    """Who is asking."""

    key_id: str
    role: Role
    customer_id: int | None = None
    name: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR)

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.key_id}"


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret_hash: str
    token: str


def generate_key() -> NewKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, hash_secret(secret), f"{PREFIX}_{key_id}_{secret}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str]:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        raise AuthenticationError("the API key is malformed", code="invalid_api_key", field="authorization")
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
