"""Tests for microlend.lending.pricing: IRR-based annualized rates and the cap.

Every expected figure below is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microlend.errors import BusinessRuleError
from microlend.lending.pricing import (
    PERIODS_PER_YEAR,
    AnnualizedRates,
    annualized_rates,
    check_apr_cap,
    periodic_irr,
)
from microlend.lending.products import RepaymentMethod
from microlend.lending.schedule import build_schedule
from microlend.money import FEN

EP = RepaymentMethod.EQUAL_PRINCIPAL
EI = RepaymentMethod.EQUAL_INSTALLMENT

YEAR_OF_STARTS = [date(2025, 1, 1) + timedelta(days=k) for k in range(365)]


def npv(rate: float, principal: float, payments: list[float]) -> float:
    return -principal + sum(c / (1 + rate) ** k for k, c in enumerate(payments, start=1))


def reference(start: date, method=EP):
    return build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0.0005"), term=10, start=start, method=method)


# --------------------------------------------------------------------------- simple rate


def test_simple_rate_is_daily_rate_times_365_for_every_start():
    # Equal principal on 10,000 / 10 leaves openings of whole thousands, so every
    # row's interest 1000k x 0.0005 x d = 0.5 k d is exact (no rounding):
    # simple = sum(opening x 0.0005 x d) x 365 / sum(opening x d) = 0.0005 x 365 = 0.1825.
    for start in YEAR_OF_STARTS:
        assert annualized_rates(reference(start)).simple == Decimal("0.182500"), start


def test_simple_rate_equal_installment_is_close_to_daily_rate_times_365():
    # Interest rounded to the fen moves it by well under 1e-5.
    for start in YEAR_OF_STARTS[::7]:
        assert abs(annualized_rates(reference(start, EI)).simple - Decimal("0.1825")) < Decimal("0.00001")


# --------------------------------------------------------------------------- apr


def test_apr_of_the_reference_loan_for_every_start():
    # 0.0005 a day is about 0.0005 x 365 / 12 = 1.52% a month -> 18.25% x 12-period IRR;
    # months of 28..31 days move the monthly IRR between roughly 0.0005 x 28 and 0.0005 x 31,
    # weighted over a 10-month run; the calendar keeps it within 0.1805..0.1840.
    for method in (EP, EI):
        for start in YEAR_OF_STARTS:
            rates = annualized_rates(reference(start, method))
            assert Decimal("0.1805") < rates.apr < Decimal("0.1840"), (method, start, rates.apr)
            # apr is the periodic IRR times 12 (each rounded to 1e-6 on its own)
            assert abs(rates.apr - rates.periodic_irr * PERIODS_PER_YEAR) <= Decimal("0.000012")
            assert rates.effective_annual > rates.apr


def test_flat_fee_product_apr():
    # Daily rate 0, fee 0.6% of 10,000 = 60.00 a month, 12 months, equal principal:
    # payments 833.33 + 60 = 893.33 (x11) and 833.37 + 60 = 893.37.
    # Annuity factor 10,000 / 893.33 = 11.194 -> monthly IRR about 1.086%
    # (a(12, 0.01086) = (1 - 1.01086^-12) / 0.01086 = 11.194), so apr = 12 x 1.086% = 13.03%.
    # Note the "flat" 0.6% x 12 = 7.2% hides nearly twice its true rate.
    s = build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0"), term=12,
                       start=date(2025, 1, 15), monthly_fee_rate=Decimal("0.006"))
    rates = annualized_rates(s)
    assert Decimal("0.129") < rates.apr < Decimal("0.131")
    # effective: 1.01086^12 - 1 = 0.1384
    assert Decimal("0.137") < rates.effective_annual < Decimal("0.140")
    assert rates.effective_annual > rates.apr
    # simple: 720 x 365 / sum(opening x days). Openings fall 10,000 -> 833.37 over
    # about 30.4 days each: sum ~ 30.4 x 65,000 ~ 1.98 m principal-days -> ~0.133.
    assert Decimal("0.130") < rates.simple < Decimal("0.136")


def test_zero_cost_loan_has_zero_rates():
    s = build_schedule(principal=Decimal("1200.00"), daily_rate=Decimal("0"), term=12, start=date(2025, 1, 15))
    rates = annualized_rates(s)
    assert rates == AnnualizedRates(Decimal("0"), Decimal("0"), Decimal("0"), Decimal("0"))


# --------------------------------------------------------------------------- periodic_irr


def test_periodic_irr_annuity_solved_by_hand():
    # 11,000 repaid by 12 x 1,000: a(12, i) = 11.
    # At i = 1.35%: 1.0135^12 = 1.17459, (1 - 1/1.17459) / 0.0135 = 11.010 (> 11);
    # da/di ~ -70, so i ~ 0.0135 + 0.010 / 70 = 0.01364.
    i = periodic_irr(11000.0, [1000.0] * 12)
    assert 0.0136 < i < 0.0137
    # Substituting back: NPV at i is 0 (relative 1e-9), and the root is bracketed.
    assert abs(npv(i, 11000.0, [1000.0] * 12)) < 1e-9 * 11000
    assert npv(0.0136, 11000.0, [1000.0] * 12) > 0 > npv(0.0137, 11000.0, [1000.0] * 12)


@pytest.mark.parametrize(
    ("principal", "payments", "expected"),
    [
        (100.0, [110.0], 0.10),          # 110 / 1.1 = 100
        (100.0, [0.0, 121.0], 0.10),     # 121 / 1.1^2 = 100
        (100.0, [90.0], -0.10),          # a loss: 90 / 0.9 = 100
        (1000.0, [600.0, 600.0], 0.13066238629180748),  # 600 v + 600 v^2 = 1000 -> v = (-1 + sqrt(1 + 4 x 5/3)) / 2
    ],
)
def test_periodic_irr_small_cases(principal, payments, expected):
    # Last case: 3 v^2 + 3 v - 5 = 0 -> v = (-3 + sqrt(69)) / 6 = 0.884437..., i = 1/v - 1 = 0.1306624.
    assert periodic_irr(principal, payments) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_periodic_irr_zero_rate():
    # 1,200 repaid by 12 x 100: nothing on top -> exactly 0.
    assert periodic_irr(1200.0, [100.0] * 12) == 0.0


@pytest.mark.parametrize(("principal", "payments"), [(0.0, [1.0]), (-5.0, [1.0]), (100.0, [])])
def test_periodic_irr_refuses_degenerate_input(principal, payments):
    with pytest.raises(ValueError):
        periodic_irr(principal, payments)


def test_periodic_irr_large_rate_falls_back_to_bisection():
    # 100 repaid by a single 600: i = 5.0 (500%); Newton from the flat guess may overshoot.
    assert periodic_irr(100.0, [600.0]) == pytest.approx(5.0, rel=1e-9)


@given(
    principal=st.integers(min_value=100, max_value=1_000_000),
    n=st.integers(min_value=1, max_value=60),
    ratio=st.floats(min_value=0.5, max_value=3.0),
    jitter=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=60, max_size=60),
)
@settings(max_examples=200, deadline=None)
def test_periodic_irr_npv_is_zero_for_random_cash_flows(principal, n, ratio, jitter):
    weights = jitter[:n]
    if sum(weights) == 0:
        weights = [1.0] * n
    total = principal * ratio
    payments = [total * w / sum(weights) for w in weights]
    i = periodic_irr(float(principal), payments)
    assert i > -0.99
    assert abs(npv(i, float(principal), payments)) <= 1e-9 * principal


@given(
    principal_fen=st.integers(min_value=10_000, max_value=20_000_000),
    term=st.integers(min_value=1, max_value=36),
    rate_millionths=st.integers(min_value=0, max_value=1000),
    fee_ten_thousandths=st.integers(min_value=0, max_value=100),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    method=st.sampled_from([EP, EI]),
)
@settings(max_examples=150, deadline=None)
def test_npv_at_the_irr_of_a_schedule_is_zero(principal_fen, term, rate_millionths, fee_ten_thousandths, start, method):
    s = build_schedule(
        principal=Decimal(principal_fen) * FEN, daily_rate=Decimal(rate_millionths) * Decimal("0.000001"),
        term=term, start=start, method=method, monthly_fee_rate=Decimal(fee_ten_thousandths) * Decimal("0.0001"),
    )
    payments = [float(r.total) for r in s.installments]
    principal = float(s.principal)
    i = periodic_irr(principal, payments)
    assert i >= -1e-12
    assert abs(npv(i, principal, payments)) <= 1e-9 * principal
    rates = annualized_rates(s)
    assert rates.apr >= 0
    assert rates.effective_annual >= rates.apr or rates.apr == 0


# --------------------------------------------------------------------------- cap


def rates_with_apr(apr: str) -> AnnualizedRates:
    return AnnualizedRates(apr=Decimal(apr), effective_annual=Decimal("0"), simple=Decimal("0"), periodic_irr=Decimal("0"))


def test_check_apr_cap_refuses_above_cap():
    with pytest.raises(BusinessRuleError) as info:
        check_apr_cap(rates_with_apr("0.240001"), Decimal("0.24"))
    assert info.value.code == "apr_above_cap"
    assert info.value.field == "daily_rate"


@pytest.mark.parametrize("apr", ["0.24", "0.240000", "0.182500", "0"])
def test_check_apr_cap_accepts_at_or_below_cap(apr):
    check_apr_cap(rates_with_apr(apr), Decimal("0.24"))


def test_check_apr_cap_on_real_schedules():
    # 0.0007 a day: 0.0007 x 365 = 25.55% simple, IRR apr above 25% -> over a 24% cap.
    dear = build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0.0007"), term=10, start=date(2025, 1, 15))
    with pytest.raises(BusinessRuleError) as info:
        check_apr_cap(annualized_rates(dear), Decimal("0.24"))
    assert info.value.code == "apr_above_cap"
    check_apr_cap(annualized_rates(reference(date(2025, 1, 15))), Decimal("0.24"))
