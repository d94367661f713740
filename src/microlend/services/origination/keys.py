"""The identifiers risk rules key on: device ids and IP addresses normalised, every one hashed.

Velocity windows and block lists never see an identifier in clear: each is a keyed hash
(HMAC with the platform's lookup key), the same hash customers are looked up by, so a
block-listed phone matches the phone of any application or customer.
"""

from __future__ import annotations

import ipaddress
import re

from microlend.errors import ValidationError
from microlend.lending.identity import normalize_bank_card, normalize_phone, parse_id_number
from microlend.security.fields import FieldCipher

KEY_KINDS = ("id_number", "phone", "device", "ip", "card")
#: The cipher's hash domain per key kind (cards share the customers' ``bank_card`` domain).
_HASH_FIELD = {"id_number": "id_number", "phone": "phone", "device": "device", "ip": "ip", "card": "bank_card"}
_DEVICE = re.compile(r"^[\x21-\x7e]{4,128}$")


def normalize_device(value: str) -> str:
    """A device id as the app reports it: 4 to 128 printable ASCII characters, compared case-insensitively."""
    if not isinstance(value, str) or not _DEVICE.match(value.strip()):
        raise ValidationError("device id must be 4 to 128 printable ASCII characters without spaces",
                              code="invalid_device_id", field="device_id")
    return value.strip().lower()


def normalize_ip(value: str) -> str:
    """An IPv4 or IPv6 address in its canonical text form."""
    try:
        return str(ipaddress.ip_address(value.strip() if isinstance(value, str) else value))
    except ValueError:
        raise ValidationError("ip must be an IPv4 or IPv6 address", code="invalid_ip", field="ip") from None


def normalize_key(kind: str, value: str) -> str:
    """The canonical form of an identifier of ``kind`` (raises a ValidationError naming the field)."""
    if kind == "id_number":
        return parse_id_number(value).number
    if kind == "phone":
        return normalize_phone(value)
    if kind == "card":
        return normalize_bank_card(value)
    if kind == "device":
        return normalize_device(value)
    if kind == "ip":
        return normalize_ip(value)
    raise ValidationError(f"unknown key kind {kind!r} (known: {', '.join(KEY_KINDS)})", code="invalid_key_kind",
                          field="kind")


def key_hash(cipher: FieldCipher, kind: str, normalized: str) -> str:
    """The keyed hash of an already normalised identifier."""
    return cipher.lookup_hash(normalized, field=_HASH_FIELD[kind])


def mask_ip(ip: str) -> str:
    """The network part only: ``203.0.113.*`` or the first four groups of an IPv6 address."""
    if ":" in ip:
        return ":".join(ip.split(":")[:4]) + ":*"
    return ".".join(ip.split(".")[:3]) + ".*"
