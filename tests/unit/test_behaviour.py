"""Simulated borrower behaviour: a pure function of the card, and a rail that follows it."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from microlend.adapters.payment_rail import RailOutcome
from microlend.simulation.behaviour import Behaviour, BehaviouralRail, BehaviourMix, behaviour_of
from microlend.simulation.people import make_card


def card_with(behaviour: Behaviour, mix: BehaviourMix = BehaviourMix()) -> str:
    rng = random.Random(1)
    while True:
        card = make_card(rng)
        if behaviour_of(card, mix) is behaviour:
            return card


def test_behaviour_is_deterministic_and_follows_the_mix():
    rng = random.Random(3)
    cards = [make_card(rng) for _ in range(20_000)]
    first = [behaviour_of(c) for c in cards]
    assert first == [behaviour_of(c) for c in cards]
    shares = Counter(first)
    assert abs(shares[Behaviour.ON_TIME] / 20_000 - 0.86) < 0.015
    assert abs(shares[Behaviour.NEVER] / 20_000 - 0.02) < 0.005
    only_late = BehaviourMix(on_time=0, late=1, partial=0, never=0)
    assert {behaviour_of(c, only_late) for c in cards[:200]} == {Behaviour.LATE}
    with pytest.raises(ValueError):
        BehaviourMix(on_time=-1)


def test_on_time_payers_are_debited_and_disbursements_always_succeed():
    rail = BehaviouralRail(seed=5)
    assert rail.debit(reference="CD1", card_number=card_with(Behaviour.ON_TIME), amount=Decimal("350.00")).outcome \
        is RailOutcome.SUCCEEDED
    never = card_with(Behaviour.NEVER)
    paid = rail.disburse(reference="DD1", card_number=never, amount=Decimal("5000.00"))
    assert paid.outcome is RailOutcome.SUCCEEDED and paid.amount == Decimal("5000.00")


def test_late_payers_fail_first_then_catch_up():
    rail, card = BehaviouralRail(seed=5), card_with(Behaviour.LATE)
    first = rail.debit(reference="CD1", card_number=card, amount=Decimal("200.00"))
    assert first.outcome is RailOutcome.FAILED and first.failure_code == "insufficient_funds"
    assert rail.debit(reference="CD1", card_number=card, amount=Decimal("200.00")) is first  # same reference
    outcomes = [rail.debit(reference=f"CD{n}", card_number=card, amount=Decimal("200.00")).outcome
                for n in range(2, 40)]
    assert RailOutcome.SUCCEEDED in outcomes and RailOutcome.FAILED in outcomes
    after_success = outcomes.index(RailOutcome.SUCCEEDED) + 1
    assert outcomes[after_success] is RailOutcome.FAILED  # the next instalment: first attempt fails again


def test_partial_payers_pay_part_and_never_payers_nothing():
    rail = BehaviouralRail(seed=9)
    partial = card_with(Behaviour.PARTIAL)
    for n in range(20):
        result = rail.debit(reference=f"P{n}", card_number=partial, amount=Decimal("1000.00"))
        assert result.outcome is RailOutcome.SUCCEEDED and result.failure_code == "insufficient_funds"
        assert Decimal("300.00") <= result.amount <= Decimal("700.00")
        assert result.amount == result.amount.quantize(Decimal("0.01"))
    never = card_with(Behaviour.NEVER)
    codes = {rail.debit(reference=f"N{n}", card_number=never, amount=Decimal("100.00")).failure_code
             for n in range(40)}
    assert codes == {"insufficient_funds", "card_error"}


def test_queued_outcomes_take_precedence():
    rail = BehaviouralRail()
    card = card_with(Behaviour.NEVER)
    rail.will("succeed", "partial:12.34")
    assert rail.debit(reference="A", card_number=card, amount=Decimal("50.00")).outcome is RailOutcome.SUCCEEDED
    assert rail.debit(reference="B", card_number=card, amount=Decimal("50.00")).amount == Decimal("12.34")
    assert rail.debit(reference="C", card_number=card, amount=Decimal("50.00")).outcome is RailOutcome.FAILED
