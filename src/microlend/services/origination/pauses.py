"""Step-up verification: a paused customer draws nothing until a passed verification releases them.

A pause comes from a step-up outcome (an application or a drawdown) or from staff. The
``customer_pauses`` row is the truth (at most one open pause per customer, a partial unique
index); ``customers.status`` mirrors it ('paused' / 'active') for reading.

Verification proves something only if the person supplies the four elements NOW: the stored ones
were verified at onboarding, so re-sending them would pass for whoever holds the session. The
supplied elements are compared (by keyed hash, the name in clear) with the customer's record; any
difference is a failed attempt (``element_mismatch``, naming the elements, never their values) and
the provider is not asked. Only elements that match the record go to the KYC provider, OUTSIDE any
database transaction (SQLite's writer lock is not held across a network call). Every attempt is
recorded and committed first, passed or not, timeouts included; then, on a match, one transaction
releases the pause and lets origination continue the applications waiting in step_up. Malformed
input is refused (422) and records nothing: it says nothing about who is asking.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update

from microlend.adapters.errors import AdapterError, AdapterTimeout
from microlend.adapters.kyc import ELEMENTS
from microlend.errors import NotFoundError, ValidationError
from microlend.lending.customers import Customer
from microlend.lending.identity import normalize_bank_card, normalize_name, normalize_phone, parse_id_number
from microlend.services.common import session_of
from microlend.store.origination_tables import customer_pauses, verifications
from microlend.store.tables import customers
from microlend.store.uow import UnitOfWork

SOURCE_KINDS = ("application", "drawdown", "staff")
#: The supplied elements differ from the customer's record (the provider is not asked). 16 characters at most:
#: the ``verifications.outcome`` column's width.
ELEMENT_MISMATCH = "element_mismatch"
#: Verification outcomes: the provider's three answers, its two failures, a customer without a card, and
#: elements that are not the customer's.
OUTCOMES = ("match", "mismatch", "not_found", "kyc_timeout", "kyc_failure", "no_card", ELEMENT_MISMATCH)
REASON_MAX = 500
PAUSED, ACTIVE = "paused", "active"


@dataclass(frozen=True)
class Pause:
    id: int
    customer_id: int
    reason: str
    source_kind: str
    source_id: int | None
    paused_by: str
    paused_at: datetime
    released_at: datetime | None
    released_by: str | None
    verification_id: int | None
    #: False when ``pause_customer`` found the customer already paused and returned that pause.
    created: bool = True

    @property
    def open(self) -> bool:
        return self.released_at is None

    def to_dict(self) -> dict:
        return {"id": self.id, "customer_id": self.customer_id, "reason": self.reason,
                "source_kind": self.source_kind, "source_id": self.source_id, "paused_by": self.paused_by,
                "paused_at": self.paused_at.isoformat(), "open": self.open,
                "released_at": self.released_at.isoformat() if self.released_at else None,
                "released_by": self.released_by, "verification_id": self.verification_id}


@dataclass(frozen=True)
class Verification:
    id: int
    customer_id: int
    outcome: str
    passed: bool
    mismatched: tuple[str, ...]
    provider_reference: str | None
    actor: str
    at: datetime
    #: Why it did not pass, in words (None when it passed).
    reason: str | None = None
    #: Whether the customer is still paused after this attempt.
    paused: bool = False
    #: The pause this attempt released, if any.
    released_pause_id: int | None = None
    #: What origination did with the applications waiting in step_up (its own summary).
    resumed: object = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return {"id": self.id, "customer_id": self.customer_id, "outcome": self.outcome, "passed": self.passed,
                "mismatched": list(self.mismatched), "provider_reference": self.provider_reference,
                "actor": self.actor, "at": self.at.isoformat()}


_REASONS = {
    ELEMENT_MISMATCH: "the details given do not match the customer's record: {mismatched}",
    "mismatch": "the provider says these elements do not belong together: {mismatched}",
    "not_found": "the provider does not know the ID number",
    "kyc_timeout": "the verification provider did not answer in time; try again later",
    "kyc_failure": "the verification provider failed; try again later",
    "no_card": "no bank card is bound: bind a card, then verify again",
}


_session = session_of


def _pause(row, *, created: bool = True) -> Pause:
    return Pause(id=row.id, customer_id=row.customer_id, reason=row.reason, source_kind=row.source_kind,
                 source_id=row.source_id, paused_by=row.paused_by, paused_at=row.paused_at,
                 released_at=row.released_at, released_by=row.released_by, verification_id=row.verification_id,
                 created=created)


def _open_pause(session, customer_id: int, *, for_update: bool = False):
    query = select(customer_pauses).where(customer_pauses.c.customer_id == customer_id,
                                          customer_pauses.c.released_at.is_(None))
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).first()


def _customer_row(session, customer_id: int, *, for_update: bool = False):
    query = select(customers).where(customers.c.id == customer_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # one pauser at a time per customer (the index would refuse the second)
    row = session.execute(query).first()
    if row is None:
        raise NotFoundError(f"customer {customer_id} not found", code="customer_not_found", field="customer_id")
    return row


def _set_status(session, customer_id: int, *, old: str, new: str) -> None:
    """Move the customer's status ``old`` -> ``new`` (any other status, e.g. closed, is left alone).

    An ORM update, so a Customer the caller already loaded in this session sees the change too.
    """
    session.execute(update(Customer).where(Customer.id == customer_id, Customer.status == old)
                    .values(status=new).execution_options(synchronize_session="fetch"))


def _encodable(text: str) -> bool:
    """Whether ``text`` can be stored: a lone surrogate (valid JSON, invalid UTF-8) cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_paused(session, customer_id: int) -> bool:
    """Whether the customer has an open pause (drawdowns must be refused while so)."""
    return _open_pause(session, customer_id) is not None


def pause_customer(*, uow: UnitOfWork, customer_id: int, reason: str, source_kind: str,
                   source_id: int | None = None, actor: str, now: datetime) -> Pause:
    """Pause the customer inside the caller's open unit of work (the caller commits).

    A customer already paused keeps their one open pause, which is returned (``created`` False).
    """
    if source_kind not in SOURCE_KINDS:
        raise ValidationError(f"source_kind must be one of {', '.join(SOURCE_KINDS)}", code="invalid_source_kind",
                              field="source_kind")
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not 1 <= len(reason) <= REASON_MAX or not _encodable(reason):
        raise ValidationError(f"a reason of 1 to {REASON_MAX} characters is required", code="invalid_reason",
                              field="reason")
    session = uow.session
    assert session is not None, "pause_customer runs inside the caller's open unit of work"
    _customer_row(session, customer_id, for_update=True)
    existing = _open_pause(session, customer_id, for_update=True)
    if existing is not None:
        return _pause(existing, created=False)
    pause_id = session.execute(insert(customer_pauses).values(
        customer_id=customer_id, reason=reason, source_kind=source_kind, source_id=source_id,
        paused_by=actor, paused_at=now).returning(customer_pauses.c.id)).scalar_one()
    _set_status(session, customer_id, old=ACTIVE, new=PAUSED)
    row = session.execute(select(customer_pauses).where(customer_pauses.c.id == pause_id)).one()
    return _pause(row)


def pause_by_staff(*, uow: UnitOfWork, customer_id: int, reason: str, actor: str, now: datetime) -> Pause:
    """Staff pause a customer by hand (their own unit of work, committed here)."""
    with uow:
        pause = pause_customer(uow=uow, customer_id=customer_id, reason=reason, source_kind="staff",
                               actor=actor, now=now)
        uow.commit()
        return pause


@dataclass(frozen=True)
class Elements:
    """The four elements a person typed for a verification, normalised (never logged, never stored)."""
    name: str
    id_number: str
    phone: str
    bank_card: str

    def __repr__(self) -> str:  # a stray log line or traceback shows no element
        return "Elements(<redacted>)"


def parse_elements(*, name, id_number, phone, bank_card) -> Elements:
    """Normalise the supplied elements; a malformed one is a ValidationError naming its field."""
    given = {"name": name, "id_number": id_number, "phone": phone, "bank_card": bank_card}
    for key, value in given.items():
        if not isinstance(value, str) or not value.strip() or not _encodable(value):
            raise ValidationError(f"{key} is required (as typed by the customer)", code=f"invalid_{key}", field=key)
    return Elements(name=normalize_name(name), id_number=parse_id_number(id_number).number,
                    phone=normalize_phone(phone), bank_card=normalize_bank_card(bank_card))


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def _differences(platform, customer_id: int, supplied: Elements) -> tuple[str, ...] | None:
    """The elements that differ from the customer's record, in ``ELEMENTS`` order (None: no card is bound).

    ID number, phone and card compare by keyed hash (nothing is decrypted); the name in clear,
    ignoring case (Latin names).
    """
    with platform.reader() as uow:
        row = _customer_row(uow.session, customer_id)
    if not row.card_hash:
        return None
    cipher = platform.cipher
    same = {"name": _same(row.name.casefold(), supplied.name.casefold()),
            "id_number": _same(row.id_number_hash, cipher.lookup_hash(supplied.id_number, field="id_number")),
            "phone": _same(row.phone_hash, cipher.lookup_hash(supplied.phone, field="phone")),
            "bank_card": _same(row.card_hash, cipher.lookup_hash(supplied.bank_card, field="bank_card"))}
    return tuple(e for e in ELEMENTS if not same[e])


def _ask_provider(platform, customer_id: int, supplied: Elements) -> tuple[str, tuple[str, ...], str | None]:
    """(outcome, mismatched elements, reference); a timeout or failure is an outcome too.

    The provider is asked only about elements that match the customer's record. The reference is
    the provider's for an answer, and our own request reference (``stepup-...``) for a timeout or
    failure, so that a late answer can still be traced.
    """
    differ = _differences(platform, customer_id, supplied)
    if differ is None:
        return "no_card", (), None
    if differ:
        return ELEMENT_MISMATCH, differ, None
    reference = f"stepup-{customer_id}-{uuid.uuid4().hex[:16]}"  # fresh: a repeated reference gets the first answer
    try:
        result = platform.kyc.verify(reference=reference, name=supplied.name, id_number=supplied.id_number,
                                     phone=supplied.phone, bank_card=supplied.bank_card)
    except AdapterError as exc:
        return ("kyc_timeout" if isinstance(exc, AdapterTimeout) else "kyc_failure"), (), exc.reference
    return result.outcome.value, tuple(result.mismatched), result.provider_reference


def verify_customer(*, platform, customer_id: int, actor: str, name: str, id_number: str, phone: str,
                    bank_card: str) -> Verification:
    """Verify the four elements the person supplies now; a match releases their pause and resumes their
    step-up applications.

    The elements (typed by the customer, or by staff on their behalf: ``actor`` says who) are
    normalised first: a malformed one is a ValidationError and nothing is recorded. Elements that
    differ from the customer's record are a failed ``element_mismatch`` attempt (the provider is not
    asked); elements that match it go to the provider, outside any transaction. The attempt is then
    recorded and committed on its own, whatever its outcome, so that no later failure can lose it. On
    a match a second transaction releases the open pause, sets the customer back to active and lets
    origination continue what waited for this (``settle.resume_after_verification``): all of it or
    none of it. If that second step fails, the pause stays and the customer simply verifies again. A
    failed attempt keeps the pause.
    """
    supplied = parse_elements(name=name, id_number=id_number, phone=phone, bank_card=bank_card)
    outcome, mismatched, reference = _ask_provider(platform, customer_id, supplied)
    passed = outcome == "match"
    with platform.uow() as uow:
        now = platform.clock.now()
        verification_id = uow.session.execute(insert(verifications).values(
            customer_id=customer_id, outcome=outcome, passed=passed, mismatched=",".join(mismatched) or None,
            provider_reference=reference, actor=actor, at=now).returning(verifications.c.id)).scalar_one()
        uow.commit()
    released_id, resumed = None, None
    if passed:
        released_id, resumed = _release(platform, customer_id=customer_id, verification_id=verification_id,
                                        actor=actor)
    with platform.reader() as uow:
        still_paused = is_paused(uow.session, customer_id)
    reason = None if passed else _REASONS[outcome].format(mismatched=", ".join(mismatched))
    return Verification(id=verification_id, customer_id=customer_id, outcome=outcome, passed=passed,
                        mismatched=mismatched, provider_reference=reference, actor=actor, at=now,
                        reason=reason, paused=still_paused, released_pause_id=released_id, resumed=resumed)


def _release(platform, *, customer_id: int, verification_id: int, actor: str) -> tuple[int | None, object]:
    """Release the open pause (if any) for a passed verification and resume the step-up applications."""
    from microlend.services.origination import settle  # origination's flow; imported late (it imports us)

    # The book's clock reads the database (cached for a second): read it before SQLite's writer lock is taken.
    platform.clock.business_date()
    with platform.uow() as uow:
        session = uow.session
        _customer_row(session, customer_id, for_update=True)
        now = platform.clock.now()
        released_id = None
        open_pause = _open_pause(session, customer_id, for_update=True)
        if open_pause is not None:
            session.execute(update(customer_pauses).where(customer_pauses.c.id == open_pause.id).values(
                released_at=now, released_by=actor, verification_id=verification_id))
            released_id = open_pause.id
            settle.trust_paused_device(uow=uow, pause=open_pause, now=now)
        _set_status(session, customer_id, old=PAUSED, new=ACTIVE)
        resumed = settle.resume_after_verification(uow=uow, platform=platform, customer_id=customer_id, actor=actor)
        uow.commit()
    return released_id, resumed


def pause_history(uow: UnitOfWork, customer_id: int) -> dict:
    """The customer's pauses and verification attempts, newest first (404 for an unknown customer)."""
    with _session(uow) as session:
        _customer_row(session, customer_id)
        pauses = session.execute(select(customer_pauses).where(customer_pauses.c.customer_id == customer_id)
                                 .order_by(customer_pauses.c.paused_at.desc(), customer_pauses.c.id.desc())).all()
        attempts = session.execute(select(verifications).where(verifications.c.customer_id == customer_id)
                                   .order_by(verifications.c.at.desc(), verifications.c.id.desc())).all()
    return {
        "customer_id": customer_id,
        "paused": any(p.released_at is None for p in pauses),
        "pauses": [_pause(p).to_dict() for p in pauses],
        "verifications": [
            Verification(id=v.id, customer_id=v.customer_id, outcome=v.outcome, passed=v.passed,
                         mismatched=tuple(v.mismatched.split(",")) if v.mismatched else (),
                         provider_reference=v.provider_reference, actor=v.actor, at=v.at).to_dict()
            for v in attempts],
    }
