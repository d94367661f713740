"""Simulated bank statements: six whole months, figures that agree with the transactions,
income that follows the person's profile, determinism, steering and failure paths."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from microlend.adapters.applicant_profile import ApplicantProfiles
from microlend.adapters.bank_statements import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    BankStatements,
    SimulatedStatements,
    StatementsProvider,
)
from microlend.adapters.bureau import SimulatedBureau
from microlend.adapters.errors import AdapterFailure, AdapterTimeout
from microlend.clock import FixedClock
from microlend.simulation.people import make_person

TODAY = date(2026, 3, 10)
MONTHS = ["2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]


def _people(n: int, seed: int = 17):
    rng = random.Random(seed)
    return [make_person(rng, on=TODAY) for _ in range(n)]


def _ask(provider: StatementsProvider, person, reference: str = "s1", **kw) -> BankStatements:
    return provider.statements(reference=reference, name=person.name, id_number=person.id_number,
                               bank_card=person.bank_card, **kw)


@pytest.fixture(scope="module")
def profiles() -> ApplicantProfiles:
    return ApplicantProfiles(bad_share=0.3)


@pytest.fixture(scope="module")
def statements(profiles) -> list[tuple[object, BankStatements]]:
    provider = SimulatedStatements(profiles, clock=FixedClock(TODAY))
    return [(p, _ask(provider, p, f"s{i}")) for i, p in enumerate(_people(150))]


def test_six_whole_calendar_months_before_the_current_one(statements):
    for person, st in statements:
        assert (st.start, st.end) == (date(2025, 9, 1), date(2026, 2, 28))
        assert [m.month for m in st.monthly] == MONTHS and st.summary.months == 6
        assert st.account == "*" + person.bank_card[-4:] and person.bank_card not in repr(st)
        assert all(st.start <= t.on <= st.end for t in st.transactions)


def test_transactions_are_ordered_signed_and_carry_running_balances(statements):
    for _, st in statements:
        balance = st.opening_balance
        assert [t.on for t in st.transactions] == sorted(t.on for t in st.transactions)
        for t in st.transactions:
            assert isinstance(t.amount, Decimal) and t.amount != 0
            assert (t.kind in CREDIT_KINDS) if t.amount > 0 else (t.kind in DEBIT_KINDS)
            balance += t.amount
            assert t.balance_after == balance and balance >= 0


def test_monthly_figures_and_summary_agree_with_the_transactions(statements):
    for _, st in statements:
        for m in st.monthly:
            items = [t for t in st.transactions if f"{t.on:%Y-%m}" == m.month]
            assert m.salary_credits == sum(t.amount for t in items if t.kind == "salary")
            assert m.other_income == sum(t.amount for t in items if t.kind == "income_other")
            assert m.other_credits == sum(t.amount for t in items if t.kind in ("transfer_in", "refund"))
            assert m.debits == -sum(t.amount for t in items if t.amount < 0)
            assert m.debt_payments == -sum(t.amount for t in items
                                           if t.kind in ("loan_repayment", "card_repayment"))
            assert m.closing_balance == (items[-1].balance_after if items else m.closing_balance)
        s = st.summary
        income = sum(m.salary_credits + m.other_income for m in st.monthly) / 6
        assert s.income_monthly_avg == income.quantize(Decimal("0.01"))
        assert s.salary_months == sum(1 for m in st.monthly if m.salary_credits > 0)
        assert s.closing_balance == st.monthly[-1].closing_balance
        assert s.balance_min == min(m.closing_balance for m in st.monthly)
        facts = st.facts()
        assert isinstance(facts["months"], int) and isinstance(facts["income_monthly_avg"], Decimal)


def test_income_follows_the_profile_and_salaried_people_are_paid_monthly(statements, profiles):
    self_employed = 0
    for person, st in statements:
        profile = profiles.profile(person.id_number)
        assert st.summary.income_monthly_avg == pytest.approx(profile.income_monthly, rel=Decimal("0.09"))
        if profile.self_employed:
            self_employed += 1
            assert st.summary.salary_months == 0 and st.summary.salary_monthly_avg == 0
        else:
            assert st.summary.salary_months == 6
            assert {t.counterparty for t in st.transactions if t.kind == "salary"} == {profile.employer}
    assert 0 < self_employed < len(statements)


def test_repayments_follow_the_bureau_report(profiles):
    person = next(p for p in _people(50, seed=2) if profiles.profile(p.id_number).loans_open >= 2)
    profiles_rich = ApplicantProfiles(bad_share=0.3)
    profiles_rich.steer(person.id_number, income_monthly=Decimal("500000"))  # enough to cover every payment
    report = SimulatedBureau(profiles_rich, clock=FixedClock(TODAY)).report(
        reference="b", name=person.name, id_number=person.id_number)
    st = _ask(SimulatedStatements(profiles_rich, clock=FixedClock(TODAY)), person)
    payments = sum(loan.monthly_payment for loan in report.loans if loan.status != "closed" and loan.monthly_payment)
    expected = payments + (report.summary.card_balance * Decimal("0.1")).quantize(Decimal("0.01"))
    assert st.summary.debt_payments_monthly_avg == expected.quantize(Decimal("0.01"))


def test_deterministic_per_person_and_different_between_people():
    person, other = _people(2, seed=8)
    a = _ask(SimulatedStatements(clock=FixedClock(TODAY)), person, "a")
    b = _ask(SimulatedStatements(clock=FixedClock(TODAY)), person, "b")
    assert a.transactions == b.transactions and a.summary == b.summary
    assert _ask(SimulatedStatements(clock=FixedClock(TODAY)), other).transactions != a.transactions


def test_steered_income_and_fewer_months():
    person = _people(1, seed=9)[0]
    profiles = ApplicantProfiles()
    profiles.steer(person.id_number, income_monthly=Decimal("12000.00"), self_employed=False)
    st = _ask(SimulatedStatements(profiles, clock=FixedClock(TODAY)), person, months=3)
    assert [m.month for m in st.monthly] == MONTHS[3:] and st.summary.months == 3
    assert st.summary.income_monthly_avg == pytest.approx(Decimal("12000"), rel=Decimal("0.09"))
    with pytest.raises(ValueError):
        _ask(SimulatedStatements(profiles, clock=FixedClock(TODAY)), person, months=0)


@pytest.mark.parametrize("plan, cls, code", [("timeout", AdapterTimeout, "statements_timeout"),
                                             ("failure", AdapterFailure, "statements_failure")])
def test_timeouts_and_failures(plan, cls, code):
    person = _people(1)[0]
    provider = SimulatedStatements(clock=FixedClock(TODAY)).steer(person.id_number, plan)
    with pytest.raises(cls) as caught:
        _ask(provider, person)
    assert caught.value.code == code and caught.value.extra["fallback"] == "review"
    assert person.bank_card not in str(caught.value)
    queued = SimulatedStatements(clock=FixedClock(TODAY)).will(plan, "statements")
    with pytest.raises(cls):
        _ask(queued, person, "q1")
    first = _ask(queued, person, "q2")
    assert _ask(queued, person, "q2") is first and queued.requests == [("q1", person.id_number),
                                                                       ("q2", person.id_number)]
    with pytest.raises(ValueError):
        queued.will("review")
