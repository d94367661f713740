"""Tests for microlend.lending.schedule: due dates and repayment schedules.

Every expected figure below is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microlend.lending.products import RepaymentMethod
from microlend.lending.schedule import (
    Schedule,
    add_months,
    annuity_payment,
    build_installments,
    build_schedule,
    days_in_month,
    due_dates,
    monthly_fee_amount,
)
from microlend.money import FEN, ZERO, is_whole_fen

EP = RepaymentMethod.EQUAL_PRINCIPAL
EI = RepaymentMethod.EQUAL_INSTALLMENT


def half_up(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------- calendar


@pytest.mark.parametrize(
    ("year", "month", "days"),
    [(2025, 1, 31), (2025, 2, 28), (2024, 2, 29), (2000, 2, 29), (1900, 2, 28), (2025, 4, 30), (2025, 12, 31)],
)
def test_days_in_month(year, month, days):
    assert days_in_month(year, month) == days


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),   # clamped to February's last day
        (date(2025, 1, 31), 2, date(2025, 3, 31)),   # back to the 31st: counted from the drawdown
        (date(2025, 1, 31), 3, date(2025, 4, 30)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),   # leap year
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2025, 8, 30), 6, date(2026, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),  # year roll-over
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2025, 1, 15), 0, date(2025, 1, 15)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2025, 1, 15), -1, date(2024, 12, 15)),
        (date(2025, 1, 28), 1, date(2025, 2, 28)),
        (date(2025, 1, 29), 1, date(2025, 2, 28)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


def test_due_dates_always_from_the_drawdowns_day():
    # Drawn 31 Jan 2025: 28 Feb (clamped), then 31 Mar, not 28 Mar (no chaining).
    assert due_dates(date(2025, 1, 31), 4) == [
        date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 31),
    ]
    # Drawn 30 Aug 2025, six months: Sep 30, Oct 30, Nov 30, Dec 30, Jan 30, Feb 28.
    assert due_dates(date(2025, 8, 30), 6) == [
        date(2025, 9, 30), date(2025, 10, 30), date(2025, 11, 30),
        date(2025, 12, 30), date(2026, 1, 30), date(2026, 2, 28),
    ]
    assert due_dates(date(2025, 1, 15), 1) == [date(2025, 2, 15)]
    assert due_dates(date(2025, 1, 15), 0) == []


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)), st.integers(0, 120))
@settings(max_examples=200, deadline=None)
def test_add_months_property(start, months):
    result = add_months(start, months)
    # month arithmetic, counted in months since year 0
    assert result.year * 12 + result.month - 1 == start.year * 12 + start.month - 1 + months
    assert result.day == min(start.day, calendar.monthrange(result.year, result.month)[1])


# --------------------------------------------------------------------------- equal principal


def test_equal_principal_reference_case():
    s = build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0.0005"), term=10, start=date(2025, 1, 31))
    rows = s.installments
    assert len(rows) == 10
    assert [r.number for r in rows] == list(range(1, 11))
    # Row 1: 31 Jan -> 28 Feb = 28 days; 10,000 x 0.0005 x 28 = 140.00.
    assert rows[0].period_start == date(2025, 1, 31)
    assert rows[0].due_date == date(2025, 2, 28)
    assert rows[0].days == 28
    assert rows[0].opening_principal == Decimal("10000")
    assert rows[0].interest == Decimal("140.00")
    # Row 2: 28 Feb -> 31 Mar = 31 days; 9,000 x 0.0005 x 31 = 139.50.
    assert rows[1].days == 31
    assert rows[1].opening_principal == Decimal("9000.00")
    assert rows[1].interest == Decimal("139.50")
    # Row 3: 31 Mar -> 30 Apr = 30 days; 8,000 x 0.0005 x 30 = 120.00.
    assert rows[2].interest == Decimal("120.00")
    # 10,000 / 10 = 1,000.00 each.
    assert all(r.principal == Decimal("1000.00") for r in rows)
    assert [r.due_date for r in rows] == due_dates(date(2025, 1, 31), 10)
    # Days 28,31,30,31,30,31,31,30,31,30 on openings 10..1 thousand:
    # sum(thousands x days) = 280+279+240+217+180+155+124+90+62+30 = 1657;
    # interest = 1657 x 1000 x 0.0005 = 828.50.
    assert s.total_interest == Decimal("828.50")
    assert s.total_principal == Decimal("10000")
    assert s.total_fees == ZERO
    assert s.total_cost == Decimal("828.50")
    assert s.total_repayment == Decimal("10828.50")
    # row total = principal + interest + fee
    assert rows[0].total == Decimal("1140.00")


def test_equal_principal_last_absorbs_split_remainder():
    # 10,000.00 / 3 = 3,333.33, 3,333.33 and 3,333.34.
    s = build_schedule(principal=Decimal("10000.00"), daily_rate=Decimal("0.0005"), term=3, start=date(2025, 3, 1))
    assert [r.principal for r in s.installments] == [Decimal("3333.33"), Decimal("3333.33"), Decimal("3333.34")]
    # 1 Mar -> 1 Apr: 31 days; 10,000 x 0.0005 x 31 = 155.00.
    # 1 Apr -> 1 May: 30 days; 6,666.67 x 0.0005 x 30 = 100.00005 -> 100.00.
    # 1 May -> 1 Jun: 31 days; 3,333.34 x 0.0005 x 31 = 51.66677 -> 51.67.
    assert [r.interest for r in s.installments] == [Decimal("155.00"), Decimal("100.00"), Decimal("51.67")]
    assert [r.opening_principal for r in s.installments] == [
        Decimal("10000.00"), Decimal("6666.67"), Decimal("3333.34"),
    ]


def test_interest_rounds_half_up():
    # 1 Apr -> 1 May 2025 = 30 days; 1,000.00 x 0.0000015 x 30 = 0.045 exactly:
    # half up gives 0.05 (half even would give 0.04, round down 0.04).
    s = build_schedule(principal=Decimal("1000.00"), daily_rate=Decimal("0.0000015"), term=1, start=date(2025, 4, 1))
    assert s.installments[0].days == 30
    assert s.installments[0].interest == Decimal("0.05")


def test_zero_rate_has_no_interest():
    s = build_schedule(principal=Decimal("1200.00"), daily_rate=Decimal("0"), term=12, start=date(2025, 1, 15))
    assert s.total_interest == 0
    assert all(r.principal == Decimal("100.00") for r in s.installments)


# --------------------------------------------------------------------------- equal installment


def test_equal_installment_reference_case():
    s = build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0.0005"), term=10,
                       start=date(2025, 1, 15), method=EI)
    rows = s.installments
    payment = rows[0].total
    # A textbook monthly annuity at 0.0005 x 30.4 = 1.52% per month:
    # 10,000 x 0.0152 / (1 - 1.0152^-10) = about 1,085.5; actual days move it a little.
    assert Decimal("1080") < payment < Decimal("1090")
    assert all(r.total == payment for r in rows[:-1])
    # The last absorbs the rounding: within a few fen of the level payment.
    assert abs(rows[-1].total - payment) <= Decimal("0.05")
    assert s.total_principal == Decimal("10000")
    # Principal grows as interest falls.
    assert all(a.principal < b.principal for a, b in zip(rows, rows[1:-1]))
    # The first row is still interest on actual days: 15 Jan -> 15 Feb = 31 days,
    # 10,000 x 0.0005 x 31 = 155.00.
    assert rows[0].interest == Decimal("155.00")


def test_annuity_payment_solves_the_balance_recurrence():
    # Independent check with exact fractions: B_k = B_{k-1}(1 + r d_k) - A, B_n = 0.
    periods = list(zip([date(2025, 1, 15), *due_dates(date(2025, 1, 15), 10)[:-1]], due_dates(date(2025, 1, 15), 10)))
    r = Fraction(Decimal("0.0005"))
    # B_n = P prod(g) - A sum_k prod_{j>k} g_j = 0
    growth = [1 + r * (b - a).days for a, b in periods]
    prod_all = Fraction(1)
    for g in growth:
        prod_all *= g
    denominator = Fraction(0)
    for k in range(len(growth)):
        tail = Fraction(1)
        for g in growth[k + 1:]:
            tail *= g
        denominator += tail
    exact = Fraction(10000) * prod_all / denominator
    expected = half_up(Decimal(exact.numerator) / Decimal(exact.denominator))
    assert annuity_payment(Decimal("10000"), Decimal("0.0005"), periods) == expected


def test_equal_installment_zero_rate_is_level():
    # 100.00 / 3 at 0%: the level payment is 33.333.. -> 33.33; last 33.34.
    s = build_schedule(principal=Decimal("100.00"), daily_rate=Decimal("0"), term=3,
                       start=date(2025, 1, 15), method=EI)
    assert [r.principal for r in s.installments] == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]


def test_build_installments_short_first_period_and_numbering():
    # Re-scheduling 7,085.00 from 1 Feb: (1 Feb -> 15 Feb = 14 days), (15 Feb -> 15 Mar = 28 days).
    rows = build_installments(
        principal=Decimal("7085.00"), daily_rate=Decimal("0.0005"),
        periods=[(date(2025, 2, 1), date(2025, 2, 15)), (date(2025, 2, 15), date(2025, 3, 15))],
        method=EP, first_number=4,
    )
    assert [r.number for r in rows] == [4, 5]
    # 7085 / 2 = 3542.50 each. 7085 x 0.0005 x 14 = 49.595 -> 49.60; 3542.50 x 0.0005 x 28 = 49.595 -> 49.60.
    assert [r.principal for r in rows] == [Decimal("3542.50"), Decimal("3542.50")]
    assert [r.interest for r in rows] == [Decimal("49.60"), Decimal("49.60")]
    assert all(r.fee == ZERO for r in rows)


# --------------------------------------------------------------------------- fees


@pytest.mark.parametrize(
    ("principal", "rate", "expected"),
    [
        ("10000", "0.006", "60.00"),       # 10,000 x 0.6%
        ("1234.56", "0.006", "7.41"),      # 7.40736 -> 7.41
        ("1250.00", "0.0037", "4.63"),     # 4.625 -> 4.63 half up (half even: 4.62)
        ("1000.00", "0", "0.00"),
    ],
)
def test_monthly_fee_amount(principal, rate, expected):
    assert monthly_fee_amount(Decimal(principal), Decimal(rate)) == Decimal(expected)


def test_fee_product_schedule():
    s = build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0"), term=12,
                       start=date(2025, 1, 15), monthly_fee_rate=Decimal("0.006"))
    assert s.monthly_fee == Decimal("60.00")
    assert all(r.fee == Decimal("60.00") for r in s.installments)
    # 12 x 60 = 720 in fees, no interest.
    assert s.total_fees == Decimal("720.00")
    assert s.total_interest == ZERO
    assert s.total_cost == Decimal("720.00")
    assert s.total_repayment == Decimal("10720.00")
    # 10,000 / 12 = 833.333.. -> 833.33 x 11 and 10,000 - 9,166.63 = 833.37.
    assert [r.principal for r in s.installments] == [Decimal("833.33")] * 11 + [Decimal("833.37")]
    assert s.installments[0].total == Decimal("893.33")


def test_fee_with_interest_equal_installment():
    # The fee is added on top of the level payment of principal + interest.
    base = build_schedule(principal=Decimal("5000"), daily_rate=Decimal("0.0004"), term=6,
                          start=date(2025, 5, 10), method=EI)
    fee = build_schedule(principal=Decimal("5000"), daily_rate=Decimal("0.0004"), term=6,
                         start=date(2025, 5, 10), method=EI, monthly_fee_rate=Decimal("0.002"))
    # 5,000 x 0.2% = 10.00 a month.
    assert fee.monthly_fee == Decimal("10.00")
    for a, b in zip(base.installments, fee.installments):
        assert (a.principal, a.interest) == (b.principal, b.interest)
        assert b.total == a.total + Decimal("10.00")


# --------------------------------------------------------------------------- properties


@st.composite
def schedules(draw):
    principal = Decimal(draw(st.integers(min_value=10_000, max_value=20_000_000))) * FEN
    term = draw(st.integers(min_value=1, max_value=36))
    daily_rate = Decimal(draw(st.integers(min_value=0, max_value=1000))) * Decimal("0.000001")
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)))
    method = draw(st.sampled_from([EP, EI]))
    return build_schedule(principal=principal, daily_rate=daily_rate, term=term, start=start, method=method)


@given(schedules())
@settings(max_examples=200, deadline=None)
def test_schedule_invariants(s: Schedule):
    rows = s.installments
    assert sum((r.principal for r in rows), ZERO) == s.principal
    assert [r.number for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].period_start == s.start
    assert rows[0].opening_principal == s.principal
    assert all(a.due_date < b.due_date for a, b in zip(rows, rows[1:]))
    assert all(a.due_date == b.period_start for a, b in zip(rows, rows[1:]))
    assert rows[0].due_date > s.start
    for r in rows:
        for amount in (r.principal, r.interest, r.fee):
            assert is_whole_fen(amount)
            assert amount >= 0
        assert r.interest == half_up(r.opening_principal * s.daily_rate * r.days)
    for a, b in zip(rows, rows[1:]):
        assert b.opening_principal == a.opening_principal - a.principal
    assert rows[-1].principal == rows[-1].opening_principal
    if s.method is EI:
        payment = annuity_payment(s.principal, s.daily_rate, [(r.period_start, r.due_date) for r in rows])
        # rows before the last pay the level amount unless clamped to what is left
        for r in rows[:-1]:
            assert r.total == payment or r.principal in (ZERO, r.opening_principal)
        # each row's rounding is at most half a fen of interest, so the last is off by a few fen at most
        assert abs(rows[-1].total - payment) <= FEN * len(rows)
    else:
        each = rows[0].principal
        assert all(r.principal == each for r in rows[:-1])
        assert each <= rows[-1].principal < each + FEN * len(rows)
