"""Helpers shared by the origination tests: applicants, applications, policies, records.

Applicants are ``make_person`` identities; ``steer_good`` fixes what the simulated bureau and
statements report about one so that the demo scorecard gives a good band and the default policy
approves a limit of about three months' declared income (no rule hits on a clean history).
Tests that need a particular policy outcome whatever band the scorecard gives store a policy in
which every band behaves alike (``uniform_policy``).
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from microlend.lending.identity import normalize_bank_card, normalize_phone
from microlend.rules.policy import default_policy
from microlend.services.origination import applications as apps
from microlend.services.origination import policies
from microlend.services.origination.keys import key_hash, normalize_device, normalize_ip
from microlend.simulation.people import Person, make_person
from microlend.store.origination_tables import (
    applications,
    consents,
    decision_records,
    review_cases,
    risk_sharing_arrangements,
)

TODAY = date(2026, 3, 10)
BANDS = ("A", "B", "C", "D", "E")


def person(n: int) -> Person:
    """The ``n``-th test applicant (deterministic; distinct ID numbers, phones and cards)."""
    return make_person(random.Random(50_000 + n), on=TODAY)


def steer_good(platform, who: Person, *, income: str = "12000.00", **overrides) -> None:
    """A clean credit file: no arrears, few enquiries, low utilisation, a steady salary."""
    clean: dict[str, Any] = dict(
        bad=False, overdue_now=False, overdue_amount=Decimal(0), enquiries_6m=0, enquiries_12m=1,
        loan_enquiries_12m=0, delinquencies_24m=0, revolving_utilisation=0.1, utilisation_all=0.1,
        income_monthly=Decimal(income), loans_open=0, loan_balance=Decimal(0), loan_limit=Decimal(0),
        self_employed=False)
    platform.bureau.profiles.steer(who.id_number, **{**clean, **overrides})


def good_person(platform, n: int, **overrides) -> Person:
    who = person(n)
    steer_good(platform, who, **overrides)
    return who


def application(who: Person, n: int | None = None, **overrides) -> apps.ApplicationInput:
    """An application by ``who`` from its own device and IP (``n`` picks them; by default they follow
    from the ID number, so two applicants never share them by accident)."""
    tag = n if n is not None else int(hashlib.sha256(who.id_number.encode()).hexdigest()[:6], 16)
    data: dict[str, Any] = dict(
        name=who.name, id_number=who.id_number, phone=who.phone, bank_card=who.bank_card,
        device_id=f"device-{tag:08d}", ip=f"203.{tag % 256}.{tag >> 8 & 255}.{(tag >> 16) % 254 + 1}",
        declared_income=Decimal("10000.00"), industry="retail", region=who.id_number[:2], consent_given=True,
        consent_text_version="consent-v1")
    data.update(overrides)
    return apps.ApplicationInput(**data)


def body(who: Person, n: int | None = None, **overrides) -> dict[str, Any]:
    """The JSON body of ``POST /v1/applications`` for ``who``."""
    data = application(who, n)
    out: dict[str, Any] = {
        "name": data.name, "id_number": data.id_number, "phone": data.phone, "bank_card": data.bank_card,
        "device_id": data.device_id, "ip": data.ip, "declared_income": str(data.declared_income),
        "industry": data.industry, "region": data.region,
        "consent": {"given": True, "text_version": "consent-v1"},
    }
    out.update(overrides)
    return out


def submit(platform, who: Person, n: int | None = None, *, key: str | None = None, fingerprint: str | None = None,
           **overrides) -> dict[str, Any]:
    return apps.submit(platform=platform, data=application(who, n, **overrides), actor="test",
                       idempotency_key=key, request_fingerprint=fingerprint)


def keys_of(platform, who: Person, *, device: str | None = None, ip: str | None = None) -> dict[str, str]:
    """The hashed velocity keys of ``who`` (device and IP only when given)."""
    cipher = platform.cipher
    keys = {"id_number": key_hash(cipher, "id_number", who.id_number),
            "phone": key_hash(cipher, "phone", normalize_phone(who.phone)),
            "card": key_hash(cipher, "card", normalize_bank_card(who.bank_card))}
    if device is not None:
        keys["device"] = key_hash(cipher, "device", normalize_device(device))
    if ip is not None:
        keys["ip"] = key_hash(cipher, "ip", normalize_ip(ip))
    return keys


# --- policies -------------------------------------------------------------------------------------

def uniform_document(band: dict[str, str], *, downturn: dict[str, str] | None = None, name: str = "test-policy",
                     version: int = 1, **changes) -> dict[str, Any]:
    """The default policy with every band set to ``band`` and every band's downturn override set to
    ``downturn`` (none when None): the outcome no longer depends on which band the scorecard gives."""
    document = default_policy().to_document()
    document.update(name=name, version=version, bands={b: dict(band) for b in BANDS})
    document["downturn"] = {"on": False, "bands": {} if downturn is None else {b: dict(downturn) for b in BANDS}}
    document.update(changes)
    return document


def store_policy(platform, document: dict[str, Any]) -> dict[str, Any]:
    return policies.store_policy(uow=platform.uow(), clock=platform.clock, document=document, actor="test")


def set_downturn(platform, on: bool) -> dict[str, Any]:
    return policies.set_downturn(uow=platform.uow(), clock=platform.clock, on=on, actor="test")


#: The default policy's bands, to make every band behave like one of them.
DEFAULT_BANDS = default_policy().to_document()["bands"]
DEFAULT_DOWNTURN = default_policy().to_document()["downturn"]["bands"]


# --- reading back ----------------------------------------------------------------------------------

def record_of(platform, application_id: int) -> dict[str, Any]:
    with platform.reader() as reader:
        text = reader.session.execute(select(decision_records.c.record)
                                      .where(decision_records.c.application_id == application_id)).scalar_one()
    return json.loads(text)


def hits(record: dict[str, Any]) -> set[str]:
    return {r["id"] for r in record["rules"]["results"] if r["hit"]}


def reason_codes(view: dict[str, Any]) -> list[str]:
    return [r["code"] for r in view["reasons"]]


def count(platform, table, *where) -> int:
    with platform.reader() as reader:
        return reader.session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def arrangement(platform, application_id: int):
    with platform.reader() as reader:
        return reader.session.execute(select(risk_sharing_arrangements).where(
            risk_sharing_arrangements.c.application_id == application_id)).first()


def review_case(platform, application_id: int):
    with platform.reader() as reader:
        return reader.session.execute(select(review_cases).where(
            review_cases.c.application_id == application_id)).first()


def consent_of(platform, application_id: int):
    with platform.reader() as reader:
        return reader.session.execute(select(consents).where(consents.c.application_id == application_id)).first()


def application_row(platform, application_id: int):
    with platform.reader() as reader:
        return reader.session.execute(select(applications).where(applications.c.id == application_id)).one()
