"""Tests for microlend.lending.products: products as checked configuration."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from microlend.errors import BusinessRuleError, ValidationError
from microlend.lending.products import (
    DEFAULT_ALLOCATION,
    REFERENCE_PRODUCT,
    Component,
    LoanProduct,
    RepaymentMethod,
    product_from_dict,
    product_to_dict,
    validate_product,
)

EP = RepaymentMethod.EQUAL_PRINCIPAL
EI = RepaymentMethod.EQUAL_INSTALLMENT


def test_reference_product_validates():
    assert validate_product(REFERENCE_PRODUCT) is REFERENCE_PRODUCT


def test_reference_product_numbers():
    p = REFERENCE_PRODUCT
    assert p.code == "REVOLVE"
    assert (p.line_min, p.line_max, p.line_step) == (Decimal("500"), Decimal("200000"), Decimal("100"))
    assert p.drawdown_min == Decimal("100")
    assert p.terms == (5, 10, 20)
    assert p.daily_rate_max == Decimal("0.0005")
    assert p.penalty_multiplier == Decimal("1.5")
    assert p.apr_cap == Decimal("0.24")
    assert p.allocation_order == DEFAULT_ALLOCATION
    assert DEFAULT_ALLOCATION == (
        Component.PENALTY, Component.OVERDUE_FEE, Component.OVERDUE_INTEREST, Component.OVERDUE_PRINCIPAL,
        Component.FEE_DUE, Component.INTEREST_DUE, Component.PRINCIPAL_DUE,
    )


def test_product_above_the_cap_is_refused():
    # 0.0007 a day = 0.0007 x 365 = 25.55% simple; the IRR rate is higher still -> above 24%.
    dear = replace(REFERENCE_PRODUCT, code="DEAR", daily_rate_max=Decimal("0.0007"))
    with pytest.raises(BusinessRuleError) as info:
        validate_product(dear)
    assert info.value.code == "product_apr_above_cap"
    assert info.value.field == "daily_rate_max"


def test_fee_can_push_a_product_over_the_cap():
    # 0.0005 a day (~18.3%) plus a 0.6% monthly fee (~13% on its own) is over 24%.
    dear = replace(REFERENCE_PRODUCT, code="FEE", monthly_fee_rate=Decimal("0.006"), terms=(10,))
    with pytest.raises(BusinessRuleError) as info:
        validate_product(dear)
    assert info.value.code == "product_apr_above_cap"


def test_a_higher_cap_admits_a_dearer_product():
    # 0.0007 x 365 = 25.55% simple; an IRR rate of at most ~26% fits under a 36% cap.
    p = replace(REFERENCE_PRODUCT, code="DEAR36", daily_rate_max=Decimal("0.0007"), apr_cap=Decimal("0.36"))
    assert validate_product(p) is p


def test_flat_fee_product_within_cap_validates():
    # daily rate 0, fee 0.6% a month: ~13% apr.
    p = replace(REFERENCE_PRODUCT, code="FLAT", daily_rate_min=Decimal("0"), daily_rate_max=Decimal("0"),
                monthly_fee_rate=Decimal("0.006"), terms=(12,))
    assert validate_product(p) is p


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"terms": ()}, "terms"),
        ({"terms": (0,)}, "terms"),
        ({"terms": (61,)}, "terms"),
        ({"terms": (5, 5)}, "terms"),
        ({"line_min": Decimal("300000")}, "line_min"),                     # line_min > line_max
        ({"line_min": Decimal("0")}, "line_min"),
        ({"line_step": Decimal("0.001")}, "line_step"),
        ({"drawdown_min": Decimal("-1")}, "drawdown_min"),
        ({"drawdown_min": Decimal("300000")}, "drawdown_min"),
        ({"methods": (EI,)}, "default_method"),                           # default EP not offered
        ({"methods": ()}, "default_method"),
        ({"allocation_order": DEFAULT_ALLOCATION[:-1]}, "allocation_order"),  # principal_due missing
        ({"allocation_order": DEFAULT_ALLOCATION[:-1] + (Component.PENALTY,)}, "allocation_order"),
        ({"allocation_order": DEFAULT_ALLOCATION + (Component.PENALTY,)}, "allocation_order"),
        ({"code": ""}, "code"),
        ({"code": "bad code!"}, "code"),
        ({"code": "X" * 33}, "code"),
        ({"daily_rate_min": Decimal("0.0006")}, "daily_rate_max"),         # min > max
        ({"daily_rate_max": Decimal("0.01")}, "daily_rate_max"),
        ({"daily_rate_min": Decimal("-0.0001")}, "daily_rate_max"),
        ({"monthly_fee_rate": Decimal("-0.001")}, "monthly_fee_rate"),
        ({"monthly_fee_rate": Decimal("0.1")}, "monthly_fee_rate"),
        ({"penalty_multiplier": Decimal("0.9")}, "penalty_multiplier"),
        ({"penalty_multiplier": Decimal("10.5")}, "penalty_multiplier"),
        ({"grace_days": -1}, "grace_days"),
        ({"grace_days": 31}, "grace_days"),
        ({"apr_cap": Decimal("0")}, "apr_cap"),
        ({"apr_cap": Decimal("1.01")}, "apr_cap"),
    ],
)
def test_shape_errors(changes, field):
    with pytest.raises(ValidationError) as info:
        validate_product(replace(REFERENCE_PRODUCT, **changes))
    assert info.value.code == "invalid_product"
    assert info.value.field == field


def test_custom_allocation_order_is_accepted():
    order = (Component.PENALTY, Component.OVERDUE_PRINCIPAL, Component.OVERDUE_INTEREST, Component.OVERDUE_FEE,
             Component.PRINCIPAL_DUE, Component.INTEREST_DUE, Component.FEE_DUE)
    p = replace(REFERENCE_PRODUCT, code="CUSTOM", allocation_order=order)
    assert validate_product(p).allocation_order == order


def test_boundaries_are_accepted():
    p = replace(REFERENCE_PRODUCT, code="EDGE_1-a", grace_days=30, penalty_multiplier=Decimal("1"),
                terms=(1, 60), apr_cap=Decimal("1"))
    assert validate_product(p) is p


# --------------------------------------------------------------------------- checks on requests


def test_check_term_method_rate_and_limit():
    p = REFERENCE_PRODUCT
    p.check_term(10)
    with pytest.raises(ValidationError) as info:
        p.check_term(12)
    assert (info.value.code, info.value.field) == ("invalid_term", "term")
    p.check_method(EI)
    with pytest.raises(ValidationError) as info:
        replace(p, methods=(EP,)).check_method(EI)
    assert (info.value.code, info.value.field) == ("invalid_method", "method")
    p.check_daily_rate(Decimal("0.0002"))
    p.check_daily_rate(Decimal("0.0005"))
    for bad in ("0.00019", "0.00051"):
        with pytest.raises(ValidationError) as info:
            p.check_daily_rate(Decimal(bad))
        assert (info.value.code, info.value.field) == ("invalid_daily_rate", "daily_rate")
    p.check_line_limit(Decimal("500"))
    p.check_line_limit(Decimal("200000"))
    p.check_line_limit(Decimal("12300"))
    for bad in ("400", "200100", "12350", "12300.50"):
        with pytest.raises(ValidationError) as info:
            p.check_line_limit(Decimal(bad), "new_limit")
        assert (info.value.code, info.value.field) == ("invalid_limit", "new_limit")


# --------------------------------------------------------------------------- plain data


def test_round_trip_of_the_reference_product():
    data = product_to_dict(REFERENCE_PRODUCT)
    assert data["daily_rate_max"] == "0.0005"
    assert data["terms"] == [5, 10, 20]
    assert data["allocation_order"][0] == "penalty"
    assert product_from_dict(data) == REFERENCE_PRODUCT


def test_round_trip_of_a_custom_product():
    custom = LoanProduct(
        code="FLAT-12", name="Flat fee / 手续费", line_min=Decimal("1000"), line_max=Decimal("50000"),
        line_step=Decimal("500"), drawdown_min=Decimal("200"), terms=(3, 6, 12), default_method=EI,
        methods=(EI,), daily_rate_min=Decimal("0"), daily_rate_max=Decimal("0.0001"),
        monthly_fee_rate=Decimal("0.005"), penalty_multiplier=Decimal("2"), grace_days=3, apr_cap=Decimal("0.24"),
        allocation_order=tuple(reversed(DEFAULT_ALLOCATION)), active=False,
    )
    data = product_to_dict(custom)
    again = product_from_dict(data)
    assert again == custom
    assert product_to_dict(again) == data


def test_from_dict_fills_missing_fields_from_the_reference():
    p = product_from_dict({"code": "MINI", "name": "Mini", "terms": [3], "daily_rate_max": 0.0004})
    assert p.code == "MINI"
    assert p.terms == (3,)
    assert p.daily_rate_max == Decimal("0.0004")   # a number is read through its text, not as a float
    assert p.line_max == REFERENCE_PRODUCT.line_max
    assert validate_product(p) is p


def test_from_dict_converts_types():
    p = product_from_dict({"methods": ["equal_installment"], "default_method": "equal_installment",
                           "grace_days": "2", "line_min": "1000.00"})
    assert p.methods == (EI,)
    assert p.default_method is EI
    assert p.grace_days == 2
    assert p.line_min == Decimal("1000.00")


def test_unknown_field_is_refused():
    with pytest.raises(ValidationError) as info:
        product_from_dict({"code": "X", "interest_free_days": 7})
    assert info.value.code == "invalid_product"
    assert info.value.field == "interest_free_days"


@pytest.mark.parametrize("data", [
    {"default_method": "balloon"}, {"allocation_order": ["penalty", "tips"]}, {"daily_rate_max": "lots"},
    {"terms": ["x"]}, {"grace_days": "soon"}, {"active": "maybe"},
])
def test_bad_values_are_refused(data):
    with pytest.raises(ValidationError) as info:
        product_from_dict(data)
    assert info.value.code == "invalid_product" and info.value.field == next(iter(data))
