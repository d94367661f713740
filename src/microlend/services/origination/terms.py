"""The product terms policy needs, with the dearest daily rate the annualized-rate cap allows.

That rate is found once per product configuration (a bisection over whole 1e-6 steps of
the daily rate, each step pricing every term and method at its dearest drawdown date) and
cached: the decision path then only compares numbers.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from microlend.lending.products import LoanProduct, dearest_price
from microlend.rules.policy import ProductTerms

_STEP = Decimal("0.000001")


def product_terms(product: LoanProduct) -> ProductTerms:
    return ProductTerms(line_min=product.line_min, line_max=product.line_max, line_step=product.line_step,
                        daily_rate_min=product.daily_rate_min, daily_rate_max=product.daily_rate_max,
                        daily_rate_cap=_cap_rate(product))


def _cap_rate(product: LoanProduct) -> Decimal:
    key = (product.terms, product.methods, product.drawdown_min, product.line_max, product.monthly_fee_rate,
           product.apr_cap, product.daily_rate_min, product.daily_rate_max)
    return _cap_rate_cached(key, product)


@lru_cache(maxsize=64)
def _cap_rate_cached(key: tuple, product: LoanProduct) -> Decimal:
    if dearest_price(product, product.daily_rate_max)[0] <= product.apr_cap:
        return product.daily_rate_max
    low, high = 0, int(product.daily_rate_max / _STEP)  # low is within the cap (0 always is), high is not
    while high - low > 1:
        middle = (low + high) // 2
        if dearest_price(product, middle * _STEP)[0] <= product.apr_cap:
            low = middle
        else:
            high = middle
    return low * _STEP
