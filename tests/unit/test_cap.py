"""The dearest price over every calendar (lending/cap.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microlend.errors import BusinessRuleError
from microlend.lending.cap import dearest_apr
from microlend.lending.pricing import annualized_rates
from microlend.lending.products import REFERENCE_PRODUCT, RepaymentMethod, product_from_dict, validate_product
from microlend.lending.schedule import build_schedule


@settings(max_examples=150, deadline=None)
@given(start=st.dates(date(2020, 1, 1), date(2095, 12, 31)), term=st.sampled_from([5, 10, 20]),
       method=st.sampled_from(list(RepaymentMethod)))
def test_no_start_date_is_dearer_than_the_dearest(start, term, method):
    rate = Decimal("0.0005")
    worst, _ = dearest_apr(principal=Decimal("10000"), daily_rate=rate, term=term, method=method,
                           monthly_fee_rate=Decimal(0))
    apr = annualized_rates(build_schedule(principal=Decimal("10000"), daily_rate=rate, term=term, start=start,
                                          method=method)).apr
    assert apr <= worst


def test_dearest_is_attained_and_beats_a_year_of_month_ends():
    worst, start = dearest_apr(principal=Decimal("10000"), daily_rate=Decimal("0.0005"), term=10,
                               method=RepaymentMethod.EQUAL_PRINCIPAL, monthly_fee_rate=Decimal(0))
    at_start = annualized_rates(build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0.0005"), term=10,
                                               start=start)).apr
    assert at_start == worst
    sampled = max(
        annualized_rates(build_schedule(principal=Decimal("10000"), daily_rate=Decimal("0.0005"), term=10,
                                        start=date(2025, 1, 1) + timedelta(days=d))).apr
        for d in range(0, 365, 7)
    )
    assert worst >= sampled


def test_a_cap_between_the_sampled_and_the_true_dearest_price_is_refused():
    """10 months at 0.05 %/day peaks at 18.3755 % (e.g. drawn 2027-07-29), above 18.37 %."""
    product = product_from_dict({"code": "TIGHT", "name": "tight", "terms": [10], "apr_cap": "0.1837",
                                 "methods": ["equal_principal"]})
    with pytest.raises(BusinessRuleError) as err:
        validate_product(product)
    assert err.value.code == "product_apr_above_cap"


def test_reference_product_dearest_price_is_well_inside_the_cap():
    from microlend.lending.products import dearest_price

    worst, _ = dearest_price(REFERENCE_PRODUCT, REFERENCE_PRODUCT.daily_rate_max)
    assert Decimal("0.18") < worst < REFERENCE_PRODUCT.apr_cap
