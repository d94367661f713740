"""Settings, read from the environment (prefix ``MICROLEND_``) or a ``.env`` file.

Defaults start a development instance on an embedded SQLite file. The
development encryption keys are public; ``MICROLEND_ENV=production`` refuses to
start with them, so a real deployment must set its own.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Public development keys: 32 bytes each, base64. Never use in production.
DEV_FIELD_KEYS = "dev1:" + base64.b64encode(b"microlend-dev-field-key-00000001").decode()
DEV_LOOKUP_KEY = base64.b64encode(b"microlend-dev-lookup-key-0000001").decode()


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except Exception as exc:  # binascii.Error
        raise ValueError(f"{what} is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError(f"{what} must decode to 32 bytes, got {len(raw)}")
    return raw


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MICROLEND_", env_file=".env", extra="ignore")

    env: str = Field("development", description="development | test | production")
    database_url: str = "sqlite:///./microlend.db"
    #: Field-encryption keys as ``id:base64key`` pairs separated by commas.
    field_keys: str = DEV_FIELD_KEYS
    #: Key id used to encrypt new values; the others only decrypt (rotation).
    active_field_key: str = "dev1"
    #: HMAC key for the lookup hashes of ID numbers, phones and cards.
    lookup_key: str = DEV_LOOKUP_KEY
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    #: The simulated payment rail's behaviour: "scripted" (every debit succeeds unless a test says
    #: otherwise) or "behavioural" (each simulated borrower pays on time, late, partly or never).
    simulated_rail: str = Field("scripted", pattern="^(scripted|behavioural)$")
    #: Minimum and maximum age of an applicant on the application date.
    min_applicant_age: int = 18
    max_applicant_age: int = 55
    #: Seconds a process keeps the active rule sets, policy, products and champion before reading them again
    #: (changes made in the same process apply at once; 0 reads them on every decision).
    config_cache_seconds: float = Field(1.0, ge=0, le=60)
    #: Redis for velocity counters (``redis://host:6379/0``); empty keeps them in the database.
    redis_url: str = ""
    #: Key prefix of the velocity counters in Redis (one per platform sharing a Redis).
    redis_prefix: str = Field("microlend:velocity", min_length=1, max_length=100)

    @field_validator("field_keys")
    @classmethod
    def _check_field_keys(cls, value: str) -> str:
        parse_field_keys(value)
        return value

    @field_validator("lookup_key")
    @classmethod
    def _check_lookup_key(cls, value: str) -> str:
        _decode_key(value, "lookup_key")
        return value

    @model_validator(mode="after")
    def _check_production(self) -> "Settings":
        if self.active_field_key not in parse_field_keys(self.field_keys):
            raise ValueError(f"active_field_key {self.active_field_key!r} is not among field_keys")
        if self.env == "production" and (
            self.field_keys == DEV_FIELD_KEYS or self.lookup_key == DEV_LOOKUP_KEY
        ):
            raise ValueError("production refuses the public development keys: set MICROLEND_FIELD_KEYS and MICROLEND_LOOKUP_KEY")
        return self

    def field_key_map(self) -> dict[str, bytes]:
        return parse_field_keys(self.field_keys)

    def lookup_key_bytes(self) -> bytes:
        return _decode_key(self.lookup_key, "lookup_key")


def parse_field_keys(text: str) -> dict[str, bytes]:
    """Parse ``id:base64,id2:base64`` into a key map (ids must be unique)."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key_id, sep, b64 = part.partition(":")
        if not sep or not key_id:
            raise ValueError("field_keys entries must look like id:base64key")
        if key_id in keys:
            raise ValueError(f"duplicate field key id {key_id!r}")
        keys[key_id] = _decode_key(b64, f"field key {key_id!r}")
    if not keys:
        raise ValueError("field_keys is empty")
    return keys


@lru_cache
def get_settings() -> Settings:
    return Settings()
