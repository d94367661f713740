"""Tests for microlend.lending.ledger: balanced journal entries and the trial balance."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microlend.lending.ledger import (
    Account,
    Accounts,
    AccountType,
    EntryBuilder,
    EntryKind,
    JournalEntry,
    JournalLine,
    TrialBalanceRow,
    UnbalancedEntryError,
    check_balanced,
    trial_balance,
)
from microlend.money import FEN, ZERO

DAY = date(2025, 1, 15)


def entry(*lines: JournalLine) -> JournalEntry:
    return JournalEntry(EntryKind.DISBURSEMENT, DAY, "test", tuple(lines))


# --------------------------------------------------------------------------- chart


def test_chart_of_accounts():
    codes = Accounts.by_code()
    assert len(codes) == len(Accounts.all()) == 12
    assert not Accounts.SUSPENSE.normal_debit  # a liability: money owed back to borrowers
    assert codes["1101"] is Accounts.PRINCIPAL
    assert Accounts.PRINCIPAL.normal_debit
    assert Accounts.CREDIT_LOSS_EXPENSE.normal_debit
    assert not Accounts.INTEREST_INCOME.normal_debit
    # The allowance is an asset account with a credit balance (contra).
    assert Accounts.LOSS_ALLOWANCE.type is AccountType.ASSET
    assert not Accounts.LOSS_ALLOWANCE.normal_debit
    assert not Account("2001", "Deposits", AccountType.LIABILITY).normal_debit
    assert not Account("3001", "Capital", AccountType.EQUITY).normal_debit


# --------------------------------------------------------------------------- entries


def test_balanced_entry():
    e = entry(
        JournalLine("1101", debit=Decimal("1000.00"), loan_id=7),
        JournalLine("1001", credit=Decimal("1000.00"), loan_id=7),
    )
    assert e.total == Decimal("1000.00")


def test_balanced_entry_with_several_lines():
    # 1,140.00 in = 1,000.00 principal + 140.00 interest.
    e = entry(
        JournalLine("1001", debit=Decimal("1140.00")),
        JournalLine("1101", credit=Decimal("1000.00")),
        JournalLine("1102", credit=Decimal("140.00")),
    )
    assert e.total == Decimal("1140.00")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        # unbalanced: 100.00 against 99.99
        ((JournalLine("1101", debit=Decimal("100.00")), JournalLine("1001", credit=Decimal("99.99"))), "debits"),
        # a single line cannot balance anything
        ((JournalLine("1101", debit=Decimal("0")),), "two lines"),
        ((), "two lines"),
        # a line with both sides
        ((JournalLine("1101", debit=Decimal("5"), credit=Decimal("5")),
          JournalLine("1001", debit=Decimal("5"), credit=Decimal("5"))), "one positive side"),
        # a line with neither side
        ((JournalLine("1101"), JournalLine("1001")), "one positive side"),
        # negative amounts, even when they would "balance"
        ((JournalLine("1101", debit=Decimal("-5")), JournalLine("1001", credit=Decimal("-5"))), "one positive side"),
        ((JournalLine("1101", debit=Decimal("5"), credit=Decimal("-5")),
          JournalLine("1001", credit=Decimal("5"))), "one positive side"),
        # sub-fen
        ((JournalLine("1101", debit=Decimal("0.005")), JournalLine("1001", credit=Decimal("0.005"))), "whole fen"),
        # unknown account
        ((JournalLine("9999", debit=Decimal("1")), JournalLine("1001", credit=Decimal("1"))), "unknown account"),
    ],
)
def test_entry_refuses(lines, message):
    with pytest.raises(UnbalancedEntryError, match=message):
        entry(*lines)
    with pytest.raises(UnbalancedEntryError):
        check_balanced(list(lines))


def test_entry_is_frozen():
    e = entry(JournalLine("1101", debit=Decimal("1")), JournalLine("1001", credit=Decimal("1")))
    with pytest.raises(AttributeError):
        e.lines = ()  # type: ignore[misc]


# --------------------------------------------------------------------------- builder


def test_builder_pairs_and_drops_zero_moves():
    b = EntryBuilder(EntryKind.REPAYMENT, DAY, "repayment", "ref-1")
    assert b.empty
    b.move(Decimal("0.00"), debit=Accounts.SETTLEMENT, credit=Accounts.PENALTY_RECEIVABLE, loan_id=3)
    assert b.empty
    b.move(Decimal("140.00"), debit=Accounts.SETTLEMENT, credit=Accounts.INTEREST_RECEIVABLE, loan_id=3)
    b.move(Decimal("1000.00"), debit=Accounts.SETTLEMENT, credit=Accounts.PRINCIPAL, loan_id=3)
    e = b.build()
    assert e.kind is EntryKind.REPAYMENT
    assert e.reference == "ref-1"
    assert e.entry_date == DAY
    assert [(l.account, l.debit, l.credit, l.loan_id) for l in e.lines] == [
        ("1001", Decimal("140.00"), ZERO, 3), ("1102", ZERO, Decimal("140.00"), 3),
        ("1001", Decimal("1000.00"), ZERO, 3), ("1101", ZERO, Decimal("1000.00"), 3),
    ]
    assert e.total == Decimal("1140.00")


def test_builder_refuses_negative_and_empty():
    b = EntryBuilder(EntryKind.ACCRUAL, DAY, "x")
    with pytest.raises(UnbalancedEntryError):
        b.move(Decimal("-0.01"), debit=Accounts.INTEREST_RECEIVABLE, credit=Accounts.INTEREST_INCOME)
    with pytest.raises(UnbalancedEntryError):
        b.build()   # only zero or refused moves: no lines


def test_builder_refuses_sub_fen_at_build():
    b = EntryBuilder(EntryKind.ACCRUAL, DAY, "x")
    b.move(Decimal("0.001"), debit=Accounts.INTEREST_RECEIVABLE, credit=Accounts.INTEREST_INCOME)
    with pytest.raises(UnbalancedEntryError, match="whole fen"):
        b.build()


# --------------------------------------------------------------------------- trial balance


def test_trial_balance_lists_every_account_sorted():
    tb = trial_balance({})
    assert [r.account.code for r in tb.rows] == sorted(a.code for a in Accounts.all())
    assert all(r.debit == ZERO and r.credit == ZERO and r.balance == ZERO for r in tb.rows)
    assert tb.balanced


def test_trial_balance_balances_by_normal_side():
    # Disburse 10,000; accrue 140 interest; book a 300 allowance; collect 1,140.
    sums = {
        "1001": (Decimal("1140.00"), Decimal("10000.00")),   # settlement: net credit 8,860
        "1101": (Decimal("10000.00"), Decimal("1000.00")),   # principal: 9,000 debit
        "1102": (Decimal("140.00"), Decimal("140.00")),      # interest receivable: 0
        "1109": (ZERO, Decimal("300.00")),                   # allowance (contra): 300 on its credit side
        "4001": (ZERO, Decimal("140.00")),                   # income: 140 credit
        "5001": (Decimal("300.00"), ZERO),                   # expense: 300 debit
    }
    tb = trial_balance(sums)
    by_code = {r.account.code: r for r in tb.rows}
    assert by_code["1001"].balance == Decimal("-8860.00")   # an asset in credit shows negative
    assert by_code["1101"].balance == Decimal("9000.00")
    assert by_code["1102"].balance == ZERO
    assert by_code["1109"].balance == Decimal("300.00")     # contra: positive when in credit
    assert by_code["4001"].balance == Decimal("140.00")
    assert by_code["5001"].balance == Decimal("300.00")
    assert by_code["4002"].balance == ZERO
    # totals: debits 1,140 + 10,000 + 140 + 300 = 11,580; credits 10,000 + 1,000 + 140 + 300 + 140 = 11,580
    assert tb.total_debit == Decimal("11580.00")
    assert tb.total_credit == Decimal("11580.00")
    assert tb.balanced


def test_trial_balance_detects_imbalance():
    tb = trial_balance({"1101": (Decimal("10.00"), ZERO), "1001": (ZERO, Decimal("9.99"))})
    assert not tb.balanced


def test_row_balance_of_a_contra_account():
    row = TrialBalanceRow(Accounts.LOSS_ALLOWANCE, debit=Decimal("50.00"), credit=Decimal("80.00"))
    assert row.balance == Decimal("30.00")
    row = TrialBalanceRow(Accounts.PRINCIPAL, debit=Decimal("50.00"), credit=Decimal("80.00"))
    assert row.balance == Decimal("-30.00")


# --------------------------------------------------------------------------- property

ACCOUNTS = Accounts.all()

moves = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n) * FEN),
        st.sampled_from(ACCOUNTS),
        st.sampled_from(ACCOUNTS),
    ),
    min_size=1, max_size=20,
)


@given(st.lists(moves, min_size=1, max_size=6))
@settings(max_examples=100, deadline=None)
def test_random_moves_build_balanced_entries_and_a_balanced_trial_balance(batches):
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for batch in batches:
        b = EntryBuilder(EntryKind.ACCRUAL, DAY, "random")
        for amount, debit, credit in batch:
            b.move(amount, debit=debit, credit=credit)
        nonzero = [m for m in batch if m[0] > 0]
        if not nonzero:
            assert b.empty
            continue
        e = b.build()
        assert len(e.lines) == 2 * len(nonzero)
        debits = sum((l.debit for l in e.lines), ZERO)
        credits = sum((l.credit for l in e.lines), ZERO)
        assert debits == credits == e.total == sum((m[0] for m in nonzero), ZERO)
        for line in e.lines:
            sums[line.account][0] += line.debit
            sums[line.account][1] += line.credit
    tb = trial_balance({k: (v[0], v[1]) for k, v in sums.items()})
    assert len(tb.rows) == len(ACCOUNTS)
    assert tb.balanced
    # Balances by normal side net to zero once the sides are put back:
    # sum over debit-normal of balance - sum over credit-normal of balance == 0.
    net = sum((r.balance if r.account.normal_debit else -r.balance for r in tb.rows), ZERO)
    assert net == ZERO
