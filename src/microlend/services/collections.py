"""Collections: one case per delinquent loan, kept by the close of business, and the
operators' work on it (assignment, calls, promises to pay).

``sync_cases`` runs inside the close of business's own transaction, a handful of
set-based statements over a range of loan ids: it never loops over loans in Python.
A case is open while its loan is past due (active or written off: recoveries are
still collected); it closes when the loan is current again ("cured") or paid off.
The operator functions run in their own unit of work, like every other service.

Money in ``sync_cases`` stays in SQL (each database's own representation of the
``Money`` column, integer fen on SQLite), so nothing is rounded on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import Date, and_, case, exists, func, insert, literal, null, or_, select, type_coerce, update

from microlend.clock import Clock
from microlend.errors import ConflictError, ValidationError
from microlend.lending.delinquency import Bucket
from microlend.lending.loans import LoanStatus
from microlend.services.common import check_amount, require
from microlend.store.tables import collection_actions, collection_cases, loan_installments, loans
from microlend.store.types import Money
from microlend.store.uow import UnitOfWork

OPEN, CLOSED = "open", "closed"
CASE_STATUSES = (OPEN, CLOSED)
#: Buckets a case can be in (a current loan has no open case).
CASE_BUCKETS = tuple(b.value for b in Bucket if b is not Bucket.CURRENT)

CALL, SMS, PROMISE_TO_PAY, BROKEN_PROMISE, PROMISE_KEPT, NOTE = (
    "call", "sms", "promise_to_pay", "broken_promise", "promise_kept", "note")
ACTION_KINDS = (CALL, SMS, PROMISE_TO_PAY, BROKEN_PROMISE, PROMISE_KEPT, NOTE)
#: Actions that settle the latest promise to pay.
PROMISE_RESOLUTIONS = (BROKEN_PROMISE, PROMISE_KEPT)

#: Loan statuses that stay in collections while past due.
COLLECTIBLE = (LoanStatus.ACTIVE.value, LoanStatus.WRITTEN_OFF.value)
#: Who the close of business writes its actions as.
COB_ACTOR = "cob"

MAX_PAGE = 500
NOTE_MAX, OUTCOME_MAX, ACTOR_MAX = 1000, 40, 100


@dataclass(frozen=True)
class CollectionAction:
    id: int
    case_id: int
    kind: str
    outcome: str | None
    note: str | None
    promise_amount: Decimal | None
    promise_date: date | None
    actor: str
    business_date: date
    at: datetime


@dataclass(frozen=True)
class CollectionCase:
    id: int
    loan_id: int
    customer_id: int
    status: str
    bucket: str
    dpd: int
    amount_overdue: Decimal
    opened_on: date
    updated_on: date
    closed_on: date | None
    close_reason: str | None
    assigned_to: str | None
    #: Oldest first; filled by ``get_case`` only.
    actions: tuple[CollectionAction, ...] = ()


# --- the close of business step ------------------------------------------------------

def _id_range(column, first: int | None, last: int | None) -> list:
    conditions = []
    if first is not None:
        conditions.append(column >= first)
    if last is not None:
        conditions.append(column <= last)
    return conditions


def _past_due_installments(loan_id_column, business_date: date):
    """Unpaid principal, interest and fee of the loan's installments due before the date (correlated)."""
    i = loan_installments.c
    unpaid = (i.principal - i.principal_paid) + (i.interest - i.interest_paid) + (i.fee - i.fee_paid)
    return (select(func.coalesce(func.sum(unpaid), 0))
            .where(i.loan_id == loan_id_column, i.due_date < business_date)
            .scalar_subquery())


def _pending_promise(case_id_column):
    """The case's latest promise to pay, when no broken/kept action came after it (correlated)."""
    ptp, later = collection_actions.alias("ptp"), collection_actions.alias("later")
    newest = ~exists().where(later.c.case_id == ptp.c.case_id, later.c.kind == PROMISE_TO_PAY, later.c.id > ptp.c.id)
    unresolved = ~exists().where(later.c.case_id == ptp.c.case_id, later.c.kind.in_(PROMISE_RESOLUTIONS),
                                 later.c.id > ptp.c.id)
    return ptp, and_(ptp.c.case_id == case_id_column, ptp.c.kind == PROMISE_TO_PAY, newest, unresolved)


def _promise_action(ptp, case_id_column, kind: str, business_date: date, now: datetime):
    """Columns of a COB action about the promise ``ptp`` (its amount and date copied over)."""
    return [case_id_column, literal(kind), null(), null(), ptp.c.promise_amount, ptp.c.promise_date,
            literal(COB_ACTOR), literal(business_date, Date), literal(now, collection_actions.c.at.type)]


_ACTION_COLUMNS = ["case_id", "kind", "outcome", "note", "promise_amount", "promise_date", "actor",
                   "business_date", "at"]


def _rows(conn, statement) -> int:
    """Run a statement; the number of rows it wrote (kept on request: psycopg says -1 for INSERT ... SELECT)."""
    return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def sync_cases(conn, *, business_date: date, first_loan_id: int | None = None, last_loan_id: int | None = None,
               now: datetime | None = None) -> dict[str, int]:
    """Bring the collection cases of loans ``first_loan_id..last_loan_id`` (inclusive; None: unbounded)
    in line with their delinquency on ``business_date``, inside the caller's transaction ``conn``.

    - close open cases whose loan is paid off ("paid_off") or current again ("cured"); a promise
      to pay still pending on such a case is recorded as kept;
    - record a broken promise on open cases whose latest promise fell due before the business date
      while the loan is still past due;
    - refresh bucket, DPD and amount overdue of open cases where they changed;
    - open a case for every past-due loan (active or written off) that has none.

    Running it twice for the same date changes nothing the second time. ``now`` stamps the actions
    it writes (default: the wall clock). Returns the counts of each.
    """
    now = now or datetime.now(timezone.utc)
    cases = collection_cases
    loan_range = _id_range(loans.c.id, first_loan_id, last_loan_id)
    case_range = _id_range(cases.c.loan_id, first_loan_id, last_loan_id)

    # 1. Close the cases of loans that are paid off or current again.
    # A written-off loan stays in collections (recoveries) until what it owed is recovered in full.
    paid_off = loans.c.status == LoanStatus.PAID_OFF.value
    written_off = and_(loans.c.status == LoanStatus.WRITTEN_OFF.value, loans.c.written_off_amount > 0)
    recovered = and_(written_off, loans.c.recovered >= loans.c.written_off_amount)
    closed = _rows(conn,
        update(cases)
        .where(cases.c.status == OPEN, cases.c.loan_id == loans.c.id,
               or_(paid_off, recovered, and_(loans.c.status != LoanStatus.WRITTEN_OFF.value, loans.c.dpd == 0)), *case_range, *loan_range)
        .values(status=CLOSED, closed_on=business_date, updated_on=business_date,
                close_reason=case((paid_off, "paid_off"), (recovered, "recovered"), else_="cured"),
                dpd=loans.c.dpd, bucket=loans.c.bucket,
                amount_overdue=case(
                    (or_(paid_off, recovered), 0),
                    else_=_past_due_installments(cases.c.loan_id, business_date)
                    + (loans.c.penalty_recognized - loans.c.penalty_paid))))

    # 2. A promise still pending when the case closes (the loan paid up) was kept.
    ptp, pending = _pending_promise(cases.c.id)
    _rows(conn, insert(collection_actions).from_select(_ACTION_COLUMNS, (
        select(*_promise_action(ptp, cases.c.id, PROMISE_KEPT, business_date, now))
        .select_from(cases).join(ptp, pending)
        .where(cases.c.status == CLOSED, cases.c.closed_on == business_date,
               cases.c.close_reason.in_(("cured", "paid_off")), *case_range)
    )))

    # 3. A promise whose date has passed while the loan is still past due was broken.
    ptp, pending = _pending_promise(cases.c.id)
    broken = _rows(conn, insert(collection_actions).from_select(_ACTION_COLUMNS, (
        select(*_promise_action(ptp, cases.c.id, BROKEN_PROMISE, business_date, now))
        .select_from(cases).join(loans, loans.c.id == cases.c.loan_id).join(ptp, pending)
        .where(cases.c.status == OPEN, loans.c.dpd > 0, ptp.c.promise_date < business_date,
               *case_range, *loan_range)
    )))

    # The past-due loans of the range, with what they owe.
    amount = type_coerce(case(
        (written_off, loans.c.written_off_amount - loans.c.recovered),
        else_=_past_due_installments(loans.c.id, business_date) + (loans.c.penalty_recognized - loans.c.penalty_paid),
    ), Money)
    target = (select(loans.c.id.label("loan_id"), loans.c.customer_id, loans.c.bucket, loans.c.dpd,
                     amount.label("amount_overdue"))
              .where(loans.c.dpd > 0, loans.c.status.in_(COLLECTIBLE), ~recovered, *loan_range)
              .subquery("target"))

    # 4. Refresh the open cases whose figures moved.
    updated = _rows(conn,
        update(cases)
        .where(cases.c.status == OPEN, cases.c.loan_id == target.c.loan_id, *case_range,
               or_(cases.c.bucket != target.c.bucket, cases.c.dpd != target.c.dpd,
                   cases.c.amount_overdue != target.c.amount_overdue))
        .values(bucket=target.c.bucket, dpd=target.c.dpd, amount_overdue=target.c.amount_overdue,
                updated_on=business_date))

    # 5. Open a case for every past-due loan without one.
    existing = cases.alias("existing")
    opened = _rows(conn, insert(cases).from_select(
        ["loan_id", "customer_id", "status", "bucket", "dpd", "amount_overdue", "opened_on", "updated_on"],
        select(target.c.loan_id, target.c.customer_id, literal(OPEN), target.c.bucket, target.c.dpd,
               target.c.amount_overdue, literal(business_date, Date), literal(business_date, Date))
        .where(~exists().where(existing.c.loan_id == target.c.loan_id, existing.c.status == OPEN)),
    ))

    return {"opened": opened, "updated": updated, "closed": closed, "broken_promises": broken}


# --- operators -----------------------------------------------------------------------

def _case_from(row) -> CollectionCase:
    return CollectionCase(**row._mapping)


def _action_from(row) -> CollectionAction:
    return CollectionAction(**row._mapping)


def _load_case(uow: UnitOfWork, case_id: int, *, for_update: bool = False) -> CollectionCase:
    query = select(collection_cases).where(collection_cases.c.id == case_id)
    if for_update:
        query = query.with_for_update()
    row = uow.session.execute(query).first()
    return _case_from(require(row, "case", case_id, "case_id"))


def _open_case(uow: UnitOfWork, case_id: int) -> CollectionCase:
    found = _load_case(uow, case_id, for_update=True)
    if found.status != OPEN:
        raise ConflictError(f"case {case_id} is closed ({found.close_reason}); it takes no more actions",
                            code="case_closed", field="case_id")
    return found


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is not None:
        value = value.strip() or None
    if value is None:
        if required:
            raise ValidationError(f"{field} is required", code="missing_field", field=field)
        return None
    if len(value) > limit:
        raise ValidationError(f"{field} must be at most {limit} characters", code=f"invalid_{field}", field=field)
    return value


def list_cases(*, uow: UnitOfWork, status: str | None = OPEN, bucket: str | None = None,
               assigned_to: str | None = None, limit: int = 100, after_id: int = 0) -> list[CollectionCase]:
    """Cases in id order, ``limit`` at a time after ``after_id``; ``status`` None or "all" lists both."""
    if status == "all":
        status = None
    if status is not None and status not in CASE_STATUSES:
        raise ValidationError("status must be open, closed or all", code="invalid_status", field="status")
    if bucket is not None and bucket not in CASE_BUCKETS:
        raise ValidationError(f"bucket must be one of {', '.join(CASE_BUCKETS)}", code="invalid_bucket",
                              field="bucket")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be from 1 to {MAX_PAGE}", code="invalid_limit", field="limit")
    if after_id < 0:
        raise ValidationError("after_id must not be negative", code="invalid_after_id", field="after_id")
    c = collection_cases.c
    query = select(collection_cases).where(c.id > after_id)
    if status is not None:
        query = query.where(c.status == status)
    if bucket is not None:
        query = query.where(c.bucket == bucket)
    if assigned_to is not None:
        query = query.where(c.assigned_to == assigned_to)
    with uow:
        return [_case_from(r) for r in uow.session.execute(query.order_by(c.id).limit(limit))]


def get_case(*, uow: UnitOfWork, case_id: int) -> CollectionCase:
    """The case with its actions, oldest first."""
    with uow:
        found = _load_case(uow, case_id)
        rows = uow.session.execute(select(collection_actions).where(collection_actions.c.case_id == case_id)
                                   .order_by(collection_actions.c.id))
        return replace(found, actions=tuple(_action_from(r) for r in rows))


def assign_case(*, uow: UnitOfWork, case_id: int, assignee: str, actor: str, clock: Clock) -> CollectionCase:
    """Give an open case to a collector; the hand-over is noted in the case's actions."""
    assignee = _text(assignee, "assignee", ACTOR_MAX, required=True)
    actor = _text(actor, "actor", ACTOR_MAX, required=True)
    with uow:
        _open_case(uow, case_id)
        uow.session.execute(update(collection_cases).where(collection_cases.c.id == case_id)
                            .values(assigned_to=assignee))
        uow.session.execute(insert(collection_actions).values(
            case_id=case_id, kind=NOTE, outcome="assigned", note=f"assigned to {assignee}", actor=actor,
            business_date=clock.business_date(), at=clock.now()))
        result = _load_case(uow, case_id)
        uow.commit()
        return result


def record_action(*, uow: UnitOfWork, case_id: int, kind: str, actor: str, clock: Clock, note: str | None = None,
                  outcome: str | None = None, promise_amount: Decimal | None = None,
                  promise_date: date | None = None) -> CollectionAction:
    """Record what a collector did on an open case. A promise to pay names a positive amount in
    whole fen and a date not before the business date; other kinds carry no promise."""
    if kind not in ACTION_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(ACTION_KINDS)}", code="invalid_action_kind",
                              field="kind")
    actor = _text(actor, "actor", ACTOR_MAX, required=True)
    note = _text(note, "note", NOTE_MAX, required=kind == NOTE)
    outcome = _text(outcome, "outcome", OUTCOME_MAX)
    today = clock.business_date()
    if kind == PROMISE_TO_PAY:
        if promise_amount is None:
            raise ValidationError("a promise to pay needs promise_amount", code="missing_field",
                                  field="promise_amount")
        promise_amount = check_amount(promise_amount, "promise_amount")
        if promise_date is None:
            raise ValidationError("a promise to pay needs promise_date", code="missing_field", field="promise_date")
        if promise_date < today:
            raise ValidationError(f"promise_date must not be before the business date {today}",
                                  code="invalid_date", field="promise_date")
    else:
        for field, value in (("promise_amount", promise_amount), ("promise_date", promise_date)):
            if value is not None:
                raise ValidationError(f"only a promise_to_pay carries {field}", code="unexpected_field", field=field)
    with uow:
        _open_case(uow, case_id)
        action_id = uow.session.execute(insert(collection_actions).values(
            case_id=case_id, kind=kind, outcome=outcome, note=note, promise_amount=promise_amount,
            promise_date=promise_date, actor=actor, business_date=today, at=clock.now(),
        ).returning(collection_actions.c.id)).scalar_one()
        row = uow.session.execute(select(collection_actions).where(collection_actions.c.id == action_id)).one()
        uow.commit()
        return _action_from(row)
