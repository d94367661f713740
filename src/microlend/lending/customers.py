"""Customers as the domain sees them: identity facts plus encrypted contact data.

The ID number, phone and bank card are held only as ciphertext tokens (for
reading back), keyed hashes (for lookups and uniqueness) and masked forms (for
display); the plain values never reach the database or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(eq=False)
class Customer:
    name: str
    id_number_token: str
    id_number_hash: str
    id_number_masked: str
    birth_date: date
    sex: str
    province_code: str
    phone_token: str
    phone_hash: str
    phone_masked: str
    created_at: datetime
    card_token: str | None = None
    card_hash: str | None = None
    card_masked: str | None = None
    status: str = "active"
    #: Language of the notices the borrower reads ("zh" or "en").
    language: str = "zh"
    id: int | None = None

    @property
    def has_bound_card(self) -> bool:
        return self.card_token is not None
