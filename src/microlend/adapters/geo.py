"""Where a phone number and an IP address are registered: the province behind each.

Cross-checks compare them with the province of the ID number. A real deployment
plugs in a carrier number-segment table and an IP geolocation database behind
:class:`GeoLocator`; both are local look-ups (no network call on the decision path).
The simulated locator is deterministic: a phone's province follows its number segment
(digits 4 to 7) and an IP's its first two octets, and tests can pin either.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

#: Province-level codes (GB/T 2260, first two digits of an ID number) the simulation draws from.
PROVINCES = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
             "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65")


class GeoLocator(Protocol):
    def phone_province(self, phone: str) -> str | None:
        """The province a mobile number segment is registered in, or None when unknown."""
        ...

    def ip_province(self, ip: str) -> str | None:
        """The province an IP address is located in, or None when unknown (foreign, private, IPv6 not on file)."""
        ...


class SimulatedGeo:
    """Deterministic look-ups with per-value pins for tests (``pin_phone``, ``pin_ip``)."""

    def __init__(self) -> None:
        self._phones: dict[str, str | None] = {}
        self._ips: dict[str, str | None] = {}

    def pin_phone(self, phone: str, province: str | None) -> "SimulatedGeo":
        self._phones[phone] = province
        return self

    def pin_ip(self, ip: str, province: str | None) -> "SimulatedGeo":
        self._ips[ip] = province
        return self

    def phone_province(self, phone: str) -> str | None:
        if phone in self._phones:
            return self._phones[phone]
        return _pick(phone[3:7]) if len(phone) == 11 else None

    def ip_province(self, ip: str) -> str | None:
        if ip in self._ips:
            return self._ips[ip]
        parts = ip.split(".")
        if len(parts) != 4 or parts[0] in ("10", "127") or (parts[0] == "192" and parts[1] == "168"):
            return None  # private, loopback and IPv6 addresses are not on file
        return _pick(".".join(parts[:2]))


def _pick(segment: str) -> str:
    digest = hashlib.sha256(segment.encode()).digest()
    return PROVINCES[int.from_bytes(digest[:4], "big") % len(PROVINCES)]
