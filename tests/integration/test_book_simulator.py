"""The book simulator: a consistent book (ledger, loans, lines, close of business) at any size."""

from __future__ import annotations

import copy
import random
from dataclasses import fields
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from microlend.lending.daily import close_day
from microlend.lending.delinquency import DEFAULT_POLICY
from microlend.lending.identity import parse_id_number
from microlend.lending.ledger import Accounts
from microlend.lending.loans import apply_payment, new_loan, refresh_summary
from microlend.lending.postings import expected_loan_balances
from microlend.lending.products import REFERENCE_PRODUCT, RepaymentMethod
from microlend.lending.schedule import build_schedule
from microlend.money import ZERO
from microlend.security.masking import mask_id_number
from microlend.services import drawdowns
from microlend.services.ledger import get_trial_balance
from microlend.simulation.behaviour import Behaviour, BehaviourMix
from microlend.simulation.book import _pay_due, build_book
from microlend.store import tables

AS_OF = date(2026, 3, 9)
#: More bad borrowers than the default mix, so every behaviour shows up in a small book.
RISKY = BehaviourMix(on_time=0.6, late=0.2, partial=0.1, never=0.1)


def count(platform, table) -> int:
    with platform.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def check_book(platform, as_of: date = AS_OF, first_simulated: int = 1) -> None:
    """Every loan reconciles with its ledger lines plus its share of the aggregated accruals, the
    aggregated lines equal the loans' shares, the trial balance balances and a fresh close of
    business of ``as_of`` changes nothing."""
    lines, loans = tables.journal_lines, tables.loans
    with platform.engine.connect() as conn:
        rows = conn.execute(select(lines.c.loan_id, lines.c.account_code, func.sum(lines.c.debit),
                                   func.sum(lines.c.credit)).group_by(lines.c.loan_id, lines.c.account_code)).all()
        shares = conn.execute(select(func.sum(loans.c.cob_interest), func.sum(loans.c.cob_fee),
                                     func.sum(loans.c.cob_penalty))).one()
    by_code = Accounts.by_code()
    ledger: dict[int | None, dict[str, Decimal]] = {}
    for loan_id, code, debit, credit in rows:
        balance = debit - credit if by_code[code].normal_debit else credit - debit
        ledger.setdefault(loan_id, {})[code] = balance
    aggregated = ledger.get(None, {})
    assert [aggregated.get(c, ZERO) for c in ("1102", "1103", "1104")] == [s or ZERO for s in shares]
    assert get_trial_balance(uow=platform.uow()).balanced
    with platform.uow() as uow:
        for loan_id in uow.loans.list_ids():
            loan = uow.loans.get(loan_id)
            own = ledger.get(loan_id, {})
            cob = {"1102": loan.cob_interest, "1103": loan.cob_fee, "1104": loan.cob_penalty}
            for code, expected in expected_loan_balances(loan).items():
                assert own.get(code, ZERO) + cob.get(code, ZERO) == expected, (loan_id, code)
            if loan.status != "active" or loan_id < first_simulated:
                continue
            assert loan.cob_through == as_of
            result = close_day(loan, as_of, DEFAULT_POLICY)
            assert (result.interest_delta, result.fee_delta, result.penalty_delta) == (0, 0, 0), loan_id
            assert (result.penalty_exact, result.dpd, result.bucket, result.loan_class) == \
                (loan.penalty_exact, loan.dpd, loan.bucket, loan.loan_class), loan_id
            assert result.summary == {k: getattr(loan, k) for k in result.summary}, loan_id


def test_a_book_of_300_loans_is_consistent(platform):
    seen = []
    summary = build_book(platform.engine, loans=300, as_of=AS_OF, cipher=platform.cipher, seed=11, mix=RISKY,
                         batch_size=120, progress=seen.append)
    assert seen == [120, 240, 300]
    assert summary.loans == count(platform, tables.loans) == count(platform, tables.drawdowns) == 300
    assert summary.customers == count(platform, tables.customers) == count(platform, tables.credit_lines)
    assert 300 / 1.6 < summary.customers < 300 / 1.1
    assert summary.installments == count(platform, tables.loan_installments)
    assert summary.repayments == count(platform, tables.repayments) > 0
    assert set(summary.by_behaviour) == {b.value for b in Behaviour}
    assert {"active", "paid_off", "written_off"} <= set(summary.by_status)
    assert {"current", "M1"} <= set(summary.by_bucket)
    assert sum(summary.by_region.values()) == sum(summary.by_industry.values()) == summary.customers
    assert summary.accrued["interest"] > 0 and summary.accrued["penalty"] > 0
    check_book(platform)

    with platform.uow() as uow:
        loans = [uow.loans.get(i) for i in uow.loans.list_ids()]
        lines = {line.id: line for line in (uow.lines.get(loan.credit_line_id) for loan in loans)}
        customer = uow.customers.get(loans[0].customer_id)
    # Loans: spread over the year before as_of, terms and methods of the product, paid-off ones settled.
    assert min(loan.start_date for loan in loans) >= AS_OF - timedelta(days=366)
    assert {loan.term for loan in loans} == set(REFERENCE_PRODUCT.terms)
    assert {loan.method for loan in loans} == {m.value for m in RepaymentMethod}
    for loan in loans:
        assert loan.principal >= REFERENCE_PRODUCT.drawdown_min
        if loan.status == "paid_off":
            assert loan.closed_on is not None and all(i.settled for i in loan.installments)
    # Lines: used is the outstanding principal; every drawdown fitted; frozen exactly when delinquent.
    for line in lines.values():
        mine = [loan for loan in loans if loan.credit_line_id == line.id]
        assert line.used == sum((loan.principal_outstanding for loan in mine), ZERO)
        assert sum((loan.principal for loan in mine), ZERO) <= line.limit
        assert line.limit % 100 == 0 and 500 <= line.limit <= 200_000
        delinquent = any(loan.status == "written_off" or (loan.status == "active" and loan.dpd > 0) for loan in mine)
        assert (line.status == "frozen") == delinquent
    # Customers: PII encrypted, hashed and masked as onboarding does.
    number = platform.cipher.decrypt(customer.id_number_token, field="id_number")
    info = parse_id_number(number)
    assert customer.id_number_hash == platform.cipher.lookup_hash(number, field="id_number")
    assert customer.id_number_masked == mask_id_number(number)
    assert (customer.province_code, customer.birth_date, customer.sex) == (info.province_code, info.birth_date, info.sex)
    assert 18 <= info.age_on(AS_OF - timedelta(days=400)) and info.age_on(AS_OF) <= 55
    with platform.engine.connect() as conn:
        run = conn.execute(select(tables.cob_runs).where(tables.cob_runs.c.business_date == AS_OF)).one()
        languages = set(conn.scalars(select(tables.customers.c.language)))
        written_off = conn.execute(select(func.count()).select_from(tables.write_offs)).scalar()
    assert run.status == "done" and run.report["simulated"] is True
    assert languages == {"zh", "en"}
    assert written_off == summary.by_status["written_off"]


def test_building_twice_continues_after_existing_data(platform, make_line):
    line = make_line()
    drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher, clock=platform.clock,
                               line_id=line.id, amount=Decimal("1000"), term=5)
    first = build_book(platform.engine, loans=40, as_of=AS_OF, cipher=platform.cipher, seed=3)
    # With every database check on (foreign keys, PostgreSQL's balance trigger) the rows still go in.
    second = build_book(platform.engine, loans=30, as_of=AS_OF, cipher=platform.cipher, seed=3, trusted_load=False)
    assert first.first_loan_id == 2 and second.first_loan_id == first.last_loan_id + 1
    assert count(platform, tables.loans) == 71
    with platform.engine.connect() as conn:
        hashes = list(conn.scalars(select(tables.customers.c.id_number_hash)))
        runs = conn.execute(select(func.count()).select_from(tables.cob_runs)).scalar()
    assert len(hashes) == len(set(hashes)) == 1 + first.customers + second.customers
    assert runs == 1
    # The services carry on after the simulator's ids (PostgreSQL sequences were moved on).
    later = make_line()
    assert later.customer_id == len(hashes) + 1
    check_book(platform, first_simulated=first.first_loan_id)


def test_forked_workers_build_the_same_kind_of_book(platform):
    summary = build_book(platform.engine, loans=90, as_of=AS_OF, cipher=platform.cipher, seed=5, mix=RISKY,
                         batch_size=20, workers=2)
    assert summary.loans == count(platform, tables.loans) == 90
    assert summary.repayments == count(platform, tables.repayments)
    assert summary.journal_entries == count(platform, tables.journal_entries)
    check_book(platform)


@pytest.mark.parametrize("method", list(RepaymentMethod))
def test_the_on_time_shortcut_equals_apply_payment(method):
    rng = random.Random(4)
    for _ in range(60):
        start = date(2025, 1, 1) + timedelta(days=rng.randrange(0, 365))
        term = rng.choice(REFERENCE_PRODUCT.terms)
        schedule = build_schedule(principal=Decimal(rng.randrange(100, 50_000)), daily_rate=Decimal("0.0004"),
                                  term=term, start=start, method=method)
        slow = new_loan(schedule=schedule, product=REFERENCE_PRODUCT, customer_id=1, credit_line_id=1, term=term)
        slow.id = 1
        if rng.random() < 0.3:  # an earlier late payment with penalty
            first = slow.installments[0]
            late = first.due_date + timedelta(days=5)
            owed = sum(o for c, _, o in slow.buckets(late) if c not in ("accrued_interest", "prepaid_principal"))
            apply_payment(slow, owed, late)
        fast = copy.deepcopy(slow)
        for slow_inst, fast_inst in zip(slow.installments, fast.installments):
            if slow_inst.settled:
                continue
            owed = slow_inst.principal_unpaid + slow_inst.interest_unpaid + slow_inst.fee_unpaid
            expected = apply_payment(slow, owed, slow_inst.due_date)
            assert _pay_due(fast, fast_inst) == expected
        refresh_summary(fast, fast.closed_on)
        assert state(fast) == state(slow) and slow.status == "paid_off"


def state(loan) -> dict:
    """A loan's fields and its installments' fields (no ORM bookkeeping)."""
    data = {f.name: getattr(loan, f.name) for f in fields(loan) if f.name != "installments"}
    data["installments"] = [{f.name: getattr(i, f.name) for f in fields(i)} for i in loan.installments]
    return data
