"""Collection cases: kept by the close of business step, worked by operators, on both databases."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.services import collections, drawdowns
from microlend.store.tables import collection_actions, collection_cases, loan_installments, loans

ZEROS = {"opened": 0, "updated": 0, "closed": 0, "broken_promises": 0}


def draw(platform, line_id, amount="5000", term=5) -> int:
    return drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                      clock=platform.clock, line_id=line_id, amount=Decimal(amount),
                                      term=term).loan_id


def make_delinquent(platform, loan_id, dpd, bucket="M1", **loan_values) -> None:
    """What the close of business does: the first installment fell due ``dpd`` days ago."""
    today = platform.clock.business_date()
    with platform.engine.begin() as conn:
        conn.execute(update(loan_installments)
                     .where(loan_installments.c.loan_id == loan_id, loan_installments.c.number == 1)
                     .values(due_date=today - timedelta(days=dpd)))
        conn.execute(update(loans).where(loans.c.id == loan_id).values(dpd=dpd, bucket=bucket, **loan_values))


def set_loan(platform, loan_id, **values) -> None:
    with platform.engine.begin() as conn:
        conn.execute(update(loans).where(loans.c.id == loan_id).values(**values))


def sync(platform, on: date | None = None, **kw) -> dict:
    with platform.engine.begin() as conn:
        return collections.sync_cases(conn, business_date=on or platform.clock.business_date(),
                                      now=platform.clock.now(), **kw)


def expected_overdue(platform, loan_id) -> Decimal:
    """Unpaid parts of installments due before today, plus unpaid penalty, computed in Python."""
    today = platform.clock.business_date()
    with platform.engine.connect() as conn:
        rows = conn.execute(select(loan_installments).where(loan_installments.c.loan_id == loan_id,
                                                            loan_installments.c.due_date < today)).all()
        loan = conn.execute(select(loans).where(loans.c.id == loan_id)).one()
    owed = sum((r.principal - r.principal_paid + r.interest - r.interest_paid + r.fee - r.fee_paid for r in rows),
               Decimal("0"))
    return owed + loan.penalty_recognized - loan.penalty_paid


def case_of(platform, loan_id, status="open") -> collections.CollectionCase:
    found = [c for c in collections.list_cases(uow=platform.reader(), status=status) if c.loan_id == loan_id]
    assert len(found) == 1, found
    return collections.get_case(uow=platform.reader(), case_id=found[0].id)


def promise(platform, case_id, days=2, amount="300.00"):
    return collections.record_action(
        uow=platform.uow(), clock=platform.clock, case_id=case_id, kind="promise_to_pay", actor="op",
        promise_amount=Decimal(amount), promise_date=platform.clock.business_date() + timedelta(days=days))


def count(platform, table) -> int:
    with platform.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_case_opened_for_a_past_due_loan_only(platform, make_line):
    late = draw(platform, make_line().id)
    healthy = draw(platform, make_line().id)
    make_delinquent(platform, late, 5, penalty_recognized=Decimal("3.75"), penalty_paid=Decimal("1.25"))
    assert sync(platform) == {**ZEROS, "opened": 1}
    c = case_of(platform, late)
    assert (c.status, c.bucket, c.dpd, c.opened_on, c.updated_on) == ("open", "M1", 5, platform.clock.business_date(),
                                                                     platform.clock.business_date())
    assert c.amount_overdue == expected_overdue(platform, late) > Decimal("2.50")
    assert c.amount_overdue.as_tuple().exponent == -2
    assert c.closed_on is None and c.close_reason is None and c.actions == ()
    assert [x.loan_id for x in collections.list_cases(uow=platform.reader())] == [late]
    assert healthy != late


def test_case_updated_then_second_sync_changes_nothing(platform, make_line, clock):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 5)
    sync(platform)
    assert sync(platform) == ZEROS  # same day, same figures
    clock.advance(30)
    set_loan(platform, loan_id, dpd=35, bucket="M2", penalty_recognized=Decimal("12.34"))
    assert sync(platform) == {**ZEROS, "updated": 1}
    c = case_of(platform, loan_id)
    assert (c.bucket, c.dpd, c.updated_on, c.opened_on) == ("M2", 35, clock.business_date(),
                                                           clock.business_date() - timedelta(days=30))
    assert c.amount_overdue == expected_overdue(platform, loan_id)
    with platform.engine.connect() as conn:
        before = conn.execute(select(collection_cases)).all()
    assert sync(platform) == ZEROS
    with platform.engine.connect() as conn:
        assert conn.execute(select(collection_cases)).all() == before
    assert count(platform, collection_cases) == 1


def test_cured_case_closes_and_a_new_delinquency_opens_a_new_case(platform, make_line, clock):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 3)
    sync(platform)
    first = case_of(platform, loan_id)
    clock.advance(1)
    set_loan(platform, loan_id, dpd=0, bucket="current")
    assert sync(platform) == {**ZEROS, "closed": 1}
    closed = collections.get_case(uow=platform.reader(), case_id=first.id)
    assert (closed.status, closed.close_reason, closed.closed_on, closed.dpd, closed.bucket) == (
        "closed", "cured", clock.business_date(), 0, "current")
    assert sync(platform) == ZEROS
    assert collections.list_cases(uow=platform.reader()) == []
    clock.advance(30)
    set_loan(platform, loan_id, dpd=2, bucket="M1")
    assert sync(platform) == {**ZEROS, "opened": 1}
    assert case_of(platform, loan_id).id != first.id
    assert [c.id for c in collections.list_cases(uow=platform.reader(), status="closed")] == [first.id]
    assert len(collections.list_cases(uow=platform.reader(), status="all")) == 2


def test_paid_off_and_written_off_loans(platform, make_line):
    paid = draw(platform, make_line().id)
    written_off = draw(platform, make_line().id)
    make_delinquent(platform, paid, 10)
    make_delinquent(platform, written_off, 200, bucket="M3+", status="written_off")
    assert sync(platform)["opened"] == 2
    set_loan(platform, paid, status="paid_off")  # the COB has not reset its DPD yet
    assert sync(platform) == {**ZEROS, "closed": 1}
    c = case_of(platform, paid, status="closed")
    assert (c.close_reason, c.amount_overdue) == ("paid_off", Decimal("0.00"))
    recovery = case_of(platform, written_off)  # written off, still collected
    assert (recovery.bucket, recovery.dpd) == ("M3+", 200)


def test_loan_id_range_limits_the_step(platform, make_line):
    a = draw(platform, make_line().id)
    b = draw(platform, make_line().id)
    make_delinquent(platform, a, 4)
    make_delinquent(platform, b, 4)
    assert sync(platform, first_loan_id=b, last_loan_id=b)["opened"] == 1
    assert [c.loan_id for c in collections.list_cases(uow=platform.reader())] == [b]
    set_loan(platform, b, dpd=0, bucket="current")
    assert sync(platform, first_loan_id=a, last_loan_id=a) == {**ZEROS, "opened": 1}  # b untouched
    assert sorted(c.loan_id for c in collections.list_cases(uow=platform.reader())) == [a, b]
    assert sync(platform, last_loan_id=max(a, b)) == {**ZEROS, "closed": 1}


def test_sync_is_part_of_the_callers_transaction(platform, make_line):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 4)
    with platform.engine.connect() as conn:
        tx = conn.begin()
        assert collections.sync_cases(conn, business_date=platform.clock.business_date())["opened"] == 1
        tx.rollback()
    assert count(platform, collection_cases) == 0


def test_broken_promise_detected_once(platform, make_line, clock):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 5)
    sync(platform)
    case_id = case_of(platform, loan_id).id
    ptp = promise(platform, case_id, days=1, amount="300")
    assert (ptp.kind, ptp.promise_amount, ptp.actor) == ("promise_to_pay", Decimal("300.00"), "op")
    clock.advance(1)
    set_loan(platform, loan_id, dpd=6)
    assert sync(platform)["broken_promises"] == 0  # due today: not broken yet
    clock.advance(1)
    set_loan(platform, loan_id, dpd=7)
    assert sync(platform) == {**ZEROS, "updated": 1, "broken_promises": 1}
    assert sync(platform) == ZEROS
    clock.advance(1)
    assert sync(platform)["broken_promises"] == 0  # one promise, broken once
    kinds = [(a.kind, a.actor) for a in case_of(platform, loan_id).actions]
    assert kinds == [("promise_to_pay", "op"), ("broken_promise", "cob")]
    broken = case_of(platform, loan_id).actions[-1]
    assert (broken.promise_amount, broken.promise_date, broken.business_date) == (
        Decimal("300.00"), ptp.promise_date, clock.business_date() - timedelta(days=1))


def test_promise_kept_when_the_loan_is_cured(platform, make_line, clock):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 5)
    sync(platform)
    case_id = case_of(platform, loan_id).id
    promise(platform, case_id, days=3)
    clock.advance(2)
    set_loan(platform, loan_id, dpd=0, bucket="current")
    assert sync(platform) == {**ZEROS, "closed": 1}
    assert sync(platform) == ZEROS
    actions = collections.get_case(uow=platform.reader(), case_id=case_id).actions
    assert [(a.kind, a.actor) for a in actions] == [("promise_to_pay", "op"), ("promise_kept", "cob")]
    assert count(platform, collection_actions) == 2


def test_actions_refused_on_a_closed_case(platform, make_line, clock):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 5)
    sync(platform)
    case_id = case_of(platform, loan_id).id
    set_loan(platform, loan_id, dpd=0, bucket="current")
    sync(platform)
    with pytest.raises(ConflictError) as err:
        collections.record_action(uow=platform.uow(), clock=clock, case_id=case_id, kind="call", actor="op")
    assert (err.value.code, err.value.field) == ("case_closed", "case_id")
    with pytest.raises(ConflictError):
        collections.assign_case(uow=platform.uow(), clock=clock, case_id=case_id, assignee="li", actor="op")
    assert count(platform, collection_actions) == 0


def test_assign_list_filters_and_paging(platform, make_line, clock):
    ids = [draw(platform, make_line().id) for _ in range(3)]
    for loan_id, (dpd, bucket) in zip(ids, [(5, "M1"), (40, "M2"), (45, "M2")]):
        make_delinquent(platform, loan_id, dpd, bucket)
    sync(platform)
    cases = collections.list_cases(uow=platform.reader())
    assigned = collections.assign_case(uow=platform.uow(), clock=clock, case_id=cases[1].id, assignee=" wang ",
                                       actor="admin:x")
    assert assigned.assigned_to == "wang"
    note = collections.get_case(uow=platform.reader(), case_id=cases[1].id).actions[-1]
    assert (note.kind, note.outcome, note.actor, note.at) == ("note", "assigned", "admin:x", clock.now())
    assert [c.id for c in collections.list_cases(uow=platform.reader(), assigned_to="wang")] == [cases[1].id]
    assert [c.id for c in collections.list_cases(uow=platform.reader(), bucket="M2")] == [cases[1].id, cases[2].id]
    page = collections.list_cases(uow=platform.reader(), limit=2)
    rest = collections.list_cases(uow=platform.reader(), limit=2, after_id=page[-1].id)
    assert [c.id for c in page + rest] == [c.id for c in cases]
    with pytest.raises(ValidationError) as err:
        collections.list_cases(uow=platform.reader(), bucket="M9")
    assert (err.value.code, err.value.field) == ("invalid_bucket", "bucket")
    with pytest.raises(ValidationError) as err:
        collections.list_cases(uow=platform.reader(), status="pending")
    assert err.value.field == "status"


@pytest.mark.parametrize("kwargs,code,field", [
    ({"kind": "visit"}, "invalid_action_kind", "kind"),
    ({"kind": "promise_to_pay", "promise_date": date(2026, 3, 12)}, "missing_field", "promise_amount"),
    ({"kind": "promise_to_pay", "promise_amount": Decimal("100")}, "missing_field", "promise_date"),
    ({"kind": "promise_to_pay", "promise_amount": Decimal("0"), "promise_date": date(2026, 3, 12)},
     "invalid_amount", "promise_amount"),
    ({"kind": "promise_to_pay", "promise_amount": Decimal("10.001"), "promise_date": date(2026, 3, 12)},
     "invalid_amount", "promise_amount"),
    ({"kind": "promise_to_pay", "promise_amount": Decimal("100"), "promise_date": date(2026, 3, 9)},
     "invalid_date", "promise_date"),
    ({"kind": "call", "promise_amount": Decimal("100")}, "unexpected_field", "promise_amount"),
    ({"kind": "note"}, "missing_field", "note"),
    ({"kind": "call", "note": "x" * 1001}, "invalid_note", "note"),
    ({"kind": "call", "actor": " "}, "missing_field", "actor"),
])
def test_action_validation(platform, make_line, kwargs, code, field):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 5)
    sync(platform)
    case_id = case_of(platform, loan_id).id
    with pytest.raises(ValidationError) as err:
        collections.record_action(uow=platform.uow(), clock=platform.clock, case_id=case_id,
                                  **{"actor": "op", **kwargs})
    assert (err.value.code, err.value.field) == (code, field)
    assert count(platform, collection_actions) == 0


def test_unknown_case(platform, clock):
    with pytest.raises(NotFoundError) as err:
        collections.get_case(uow=platform.reader(), case_id=999)
    assert (err.value.code, err.value.field) == ("case_not_found", "case_id")
    with pytest.raises(NotFoundError):
        collections.record_action(uow=platform.uow(), clock=clock, case_id=999, kind="call", actor="op")
    with pytest.raises(NotFoundError):
        collections.assign_case(uow=platform.uow(), clock=clock, case_id=999, assignee="li", actor="op")


def test_promise_due_today_is_allowed(platform, make_line):
    loan_id = draw(platform, make_line().id)
    make_delinquent(platform, loan_id, 5)
    sync(platform)
    action = promise(platform, case_of(platform, loan_id).id, days=0, amount="0.01")
    assert action.promise_date == platform.clock.business_date() and action.promise_amount == Decimal("0.01")
