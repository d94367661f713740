"""The manual review queue: applications the automatic decision referred to a person.

One case per referred application (``review_cases``); every action on it is a row in
``review_events`` with who and when. An operator claims a case (so two people do not work on one
application), then approves or rejects it with a note; only the claimer, or an administrator,
decides. Deciding settles the application through origination (``settle.settle``: a credit line on
approval) in the same transaction as the case's own change, so the case and the application never
disagree. The case row is locked (FOR UPDATE on PostgreSQL; SQLite has one writer at a time), so
two operators cannot both claim or both decide one case.

The policy's offer bounds what an operator may grant: a lower limit is their call, a higher one
(or any limit where the decision made no offer) overrides the credit policy and needs an
administrator; the approval's event note says so. A case shows the applicant's name masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, insert, select, update

from microlend.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from microlend.security.masking import mask_name
from microlend.services.common import check_amount, session_of
from microlend.store.origination_tables import applications, decision_records, review_cases, review_events
from microlend.store.uow import UnitOfWork

OPEN, CLAIMED, APPROVED, REJECTED = "open", "claimed", "approved", "rejected"
STATUSES = (OPEN, CLAIMED, APPROVED, REJECTED)
NOTE_MAX = 1000
SYSTEM = "system"
MAX_PAGE = 500


@dataclass(frozen=True)
class ReviewEvent:
    id: int
    action: str
    actor: str
    note: str | None
    at: datetime

    def to_dict(self) -> dict:
        return {"id": self.id, "action": self.action, "actor": self.actor, "note": self.note,
                "at": self.at.isoformat()}


@dataclass(frozen=True)
class ReviewCase:
    id: int
    application_id: int
    status: str
    reasons: list
    claimed_by: str | None
    claimed_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    created_at: datetime
    #: Filled by ``get_case`` and the actions: the audit trail, oldest first.
    events: tuple[ReviewEvent, ...] = ()
    #: Filled by ``get_case`` and the actions: the application in short (masked identity, offer, decision record).
    application: dict | None = None
    #: What ``settle.settle`` returned when this call decided the case.
    settlement: dict | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {"id": self.id, "application_id": self.application_id, "status": self.status,
                "reasons": self.reasons, "claimed_by": self.claimed_by, "claimed_at": iso(self.claimed_at),
                "decided_by": self.decided_by, "decided_at": iso(self.decided_at), "note": self.note,
                "created_at": self.created_at.isoformat(), "events": [e.to_dict() for e in self.events],
                "application": self.application, "settlement": _jsonable(self.settlement)}


def _jsonable(value):
    """Decimals as strings and times as ISO text, so a settlement reads the same in JSON and on the CLI."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- reading --------------------------------------------------------------------------------

_session = session_of


def _case(row, *, events=(), application=None) -> ReviewCase:
    return ReviewCase(id=row.id, application_id=row.application_id, status=row.status,
                      reasons=json.loads(row.reasons), claimed_by=row.claimed_by, claimed_at=row.claimed_at,
                      decided_by=row.decided_by, decided_at=row.decided_at, note=row.note,
                      created_at=row.created_at, events=tuple(events), application=application)


def _row(session, case_id: int, *, lock: bool = False):
    query = select(review_cases).where(review_cases.c.id == case_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None:
        raise NotFoundError(f"review case {case_id} not found", code="review_case_not_found", field="case_id")
    return row


def _events(session, case_id: int) -> list[ReviewEvent]:
    rows = session.execute(select(review_events).where(review_events.c.case_id == case_id)
                           .order_by(review_events.c.at, review_events.c.id)).all()
    return [ReviewEvent(id=r.id, action=r.action, actor=r.actor, note=r.note, at=r.at) for r in rows]


def _application(session, application_id: int) -> dict | None:
    a = session.execute(select(applications).where(applications.c.id == application_id)).first()
    if a is None:
        return None
    record_id = a.decision_record_id or session.execute(
        select(func.max(decision_records.c.id)).where(decision_records.c.application_id == application_id,
                                                      decision_records.c.kind == "application")).scalar()
    money = lambda v: str(v) if v is not None else None  # noqa: E731
    return {"id": a.id, "status": a.status, "customer_id": a.customer_id, "name": mask_name(a.name),
            "id_number": a.id_number_masked, "phone": a.phone_masked, "product_code": a.product_code,
            "declared_income": money(a.declared_income), "score": a.score, "band": a.band,
            "offered_limit": money(a.offered_limit), "offered_daily_rate": money(a.offered_daily_rate),
            "created_at": a.created_at.isoformat(), "decision_record_id": record_id}


def _full(session, case_id: int) -> ReviewCase:
    row = _row(session, case_id)
    return _case(row, events=_events(session, case_id), application=_application(session, row.application_id))


def list_cases(uow: UnitOfWork, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[ReviewCase]:
    """Cases oldest first (the queue's order), optionally of one status; without events."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}", code="invalid_status", field="status")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationError(f"limit is 1 to {MAX_PAGE} and offset at least 0", code="invalid_page", field="limit")
    query = select(review_cases).order_by(review_cases.c.created_at, review_cases.c.id).limit(limit).offset(offset)
    if status is not None:
        query = query.where(review_cases.c.status == status)
    with _session(uow) as session:
        return [_case(r) for r in session.execute(query).all()]


def get_case(uow: UnitOfWork, case_id: int) -> ReviewCase:
    """One case with its events and the application in short (including its decision record id)."""
    with _session(uow) as session:
        return _full(session, case_id)


def case_of_application(uow: UnitOfWork, application_id: int) -> ReviewCase | None:
    with _session(uow) as session:
        row = session.execute(select(review_cases.c.id).where(review_cases.c.application_id == application_id)).first()
        return _full(session, row.id) if row else None


# --- changing -------------------------------------------------------------------------------

def _event(session, case_id: int, action: str, actor: str, at: datetime, note: str | None = None) -> None:
    session.execute(insert(review_events).values(case_id=case_id, action=action, actor=actor, note=note, at=at))


def _check_note(note) -> str:
    text = note.strip() if isinstance(note, str) else ""
    if not 1 <= len(text) <= NOTE_MAX:
        raise ValidationError(f"a note of 1 to {NOTE_MAX} characters is required (why this decision)",
                              code="invalid_note", field="note")
    try:
        text.encode("utf-8")  # a lone surrogate is valid JSON but cannot be stored
    except UnicodeEncodeError:
        raise ValidationError("the note is not valid text (it holds an unpaired surrogate)", code="invalid_note",
                              field="note") from None
    return text


def _check_limit(session, application_id: int, limit: Decimal | None, *, is_admin: bool) -> str | None:
    """Refuse an operator's limit above the decision's offer; what the event note says about a limit given.

    An operator may grant the offered limit or less. A higher limit, or any limit where the decision
    made no offer, overrides the credit policy: an administrator's call (403 ``limit_above_offer``).
    """
    if limit is None:
        return None
    offered = session.execute(select(applications.c.offered_limit)
                              .where(applications.c.id == application_id)).scalar()
    if offered is not None and limit <= offered:
        return None if limit == offered else f"limit {limit} below the offered {offered}"
    if not is_admin:
        what = f"the offered limit ({offered})" if offered is not None else "no limit: the decision made no offer"
        raise PermissionDeniedError(f"an operator may approve at most the decision's offer, here {what}; "
                                    f"a higher limit overrides the credit policy and needs an administrator",
                                    code="limit_above_offer", field="limit")
    return (f"limit {limit} above the offered {offered}" if offered is not None
            else f"limit {limit} where the decision made no offer") + ": administrator override of the policy"


def _with_detail(note: str, detail: str | None) -> str:
    """``note [detail]`` within the event note's length (the person's note is shortened, never the detail)."""
    if not detail:
        return note
    tail = f" [{detail}]"
    if len(note) + len(tail) > NOTE_MAX:
        note = note[:NOTE_MAX - len(tail) - 1] + "\u2026"
    return note + tail


def open_case(*, uow: UnitOfWork, application_id: int, reasons: list[dict], now: datetime) -> ReviewCase:
    """Put a referred application in the queue, inside the caller's open unit of work (the caller commits).

    An application has at most one case: opening it again returns the existing case.
    """
    session = uow.session
    assert session is not None, "open_case runs inside the caller's open unit of work"
    existing = session.execute(select(review_cases).where(review_cases.c.application_id == application_id)).first()
    if existing is not None:
        return _case(existing)
    case_id = session.execute(insert(review_cases).values(
        application_id=application_id, status=OPEN, reasons=json.dumps(list(reasons or []), ensure_ascii=False,
                                                                        default=str),
        created_at=now).returning(review_cases.c.id)).scalar_one()
    _event(session, case_id, "opened", SYSTEM, now)
    return _case(_row(session, case_id), events=_events(session, case_id))


def _closed(row) -> ConflictError:
    return ConflictError(f"review case {row.id} was already {row.status} by {row.decided_by}", code="review_closed",
                         field="case_id")


def _claimed_by_other(row) -> ConflictError:
    return ConflictError(f"review case {row.id} is claimed by {row.claimed_by}", code="review_claimed",
                         field="case_id")


def claim(*, platform, case_id: int, actor: str) -> ReviewCase:
    """Take an open case; a case claimed by someone else is a 409 ``review_claimed``; claiming again is a no-op."""
    with platform.uow() as uow:
        session = uow.session
        row = _row(session, case_id, lock=True)
        if row.status in (APPROVED, REJECTED):
            raise _closed(row)
        if row.status == CLAIMED:
            if row.claimed_by != actor:
                raise _claimed_by_other(row)
            return _full(session, case_id)
        now = platform.clock.now()
        session.execute(update(review_cases).where(review_cases.c.id == case_id)
                        .values(status=CLAIMED, claimed_by=actor, claimed_at=now))
        _event(session, case_id, "claimed", actor, now)
        case = _full(session, case_id)
        uow.commit()
        return case


def release(*, platform, case_id: int, actor: str, is_admin: bool = False, note: str | None = None) -> ReviewCase:
    """Put a claimed case back in the queue: the claimer, or an administrator (for someone who left)."""
    note = _check_note(note) if note is not None and note.strip() else None
    with platform.uow() as uow:
        session = uow.session
        row = _row(session, case_id, lock=True)
        if row.status in (APPROVED, REJECTED):
            raise _closed(row)
        if row.status == OPEN:
            raise ConflictError(f"review case {case_id} is not claimed", code="review_not_claimed", field="case_id")
        if row.claimed_by != actor and not is_admin:
            raise _claimed_by_other(row)
        now = platform.clock.now()
        session.execute(update(review_cases).where(review_cases.c.id == case_id)
                        .values(status=OPEN, claimed_by=None, claimed_at=None))
        _event(session, case_id, "released", actor, now, note)
        case = _full(session, case_id)
        uow.commit()
        return case


def _decide(*, platform, case_id: int, actor: str, note, status: str, limit: Decimal | None,
            is_admin: bool) -> ReviewCase:
    note = _check_note(note)
    if limit is not None:
        limit = check_amount(limit, "limit")
    # The book's clock reads the database (cached for a second): read it before SQLite's writer lock is taken.
    platform.clock.business_date()
    with platform.uow() as uow:
        session = uow.session
        row = _row(session, case_id, lock=True)
        if row.status in (APPROVED, REJECTED):
            raise _closed(row)
        if not is_admin:
            if row.status == OPEN:
                raise ConflictError(f"claim review case {case_id} before deciding it", code="review_not_claimed",
                                    field="case_id")
            if row.claimed_by != actor:
                raise _claimed_by_other(row)
        limit_detail = _check_limit(session, row.application_id, limit, is_admin=is_admin)
        from microlend.services.origination import settle  # origination's flow; imported late (it imports us)

        settlement = settle.settle(uow=uow, platform=platform, application_id=row.application_id, status=status,
                                   actor=actor, note=note, limit=limit)
        now = platform.clock.now()
        session.execute(update(review_cases).where(review_cases.c.id == case_id)
                        .values(status=status, decided_by=actor, decided_at=now, note=note))
        _event(session, case_id, status, actor, now, _with_detail(note, limit_detail))
        case = _full(session, case_id)
        uow.commit()
    return replace(case, settlement=settlement)


def approve(*, platform, case_id: int, actor: str, note: str, limit: Decimal | None = None,
            is_admin: bool = False) -> ReviewCase:
    """Approve the application (a credit line with the offered limit, or ``limit`` if given) and close the case.

    An operator's ``limit`` is at most the offer; above it (or with no offer) only an administrator.
    """
    return _decide(platform=platform, case_id=case_id, actor=actor, note=note, status=APPROVED, limit=limit,
                   is_admin=is_admin)


def reject(*, platform, case_id: int, actor: str, note: str, is_admin: bool = False) -> ReviewCase:
    """Reject the application and close the case."""
    return _decide(platform=platform, case_id=case_id, actor=actor, note=note, status=REJECTED, limit=None,
                   is_admin=is_admin)
