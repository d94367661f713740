"""Tests for microlend.lending.credit_lines: room, reservations and the line's states."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from microlend.errors import BusinessRuleError, ConflictError, ValidationError
from microlend.lending.credit_lines import CreditLine, LineEventKind, LineStatus
from microlend.lending.products import REFERENCE_PRODUCT

P = REFERENCE_PRODUCT


def line(limit="10000", used="0") -> CreditLine:
    return CreditLine(customer_id=1, product_code="REVOLVE", limit=Decimal(limit), daily_rate=Decimal("0.0005"),
                      opened_on=date(2025, 1, 1), used=Decimal(used), id=42)


def code_of(excinfo) -> str:
    return excinfo.value.code


# --------------------------------------------------------------------------- room


def test_available_is_limit_minus_used():
    cl = line("10000", "2500.50")
    assert cl.available == Decimal("7499.50")


def test_reserve_and_release():
    cl = line("10000")
    cl.reserve(Decimal("3000"))
    cl.reserve(Decimal("1500.25"))
    assert cl.used == Decimal("4500.25")
    assert cl.available == Decimal("5499.75")
    cl.release(Decimal("1000.25"))   # repaid principal frees room again
    assert cl.used == Decimal("3500.00")
    assert cl.available == Decimal("6500.00")
    cl.release(Decimal("3500"))
    assert cl.used == 0 and cl.available == Decimal("10000")


def test_release_more_than_used_is_a_programming_error():
    cl = line("10000", "100")
    with pytest.raises(ValueError):
        cl.release(Decimal("100.01"))
    assert cl.used == Decimal("100")


def test_available_never_negative_after_a_cut():
    cl = line("10000", "8000")
    cl.change_limit(Decimal("5000"), P, "risk review")
    # limit 5,000 below used 8,000: nothing available, nothing recalled
    assert cl.available == 0
    assert cl.used == Decimal("8000")


def test_available_is_zero_unless_active():
    cl = line("10000", "1000")
    cl.freeze("fraud check")
    assert cl.available == 0
    cl.unfreeze("cleared")
    assert cl.available == Decimal("9000")
    cl.close("customer asked", date(2025, 6, 1))
    assert cl.available == 0


# --------------------------------------------------------------------------- transitions


def test_freeze_and_unfreeze():
    cl = line()
    event = cl.freeze("fraud check")
    assert cl.status == LineStatus.FROZEN.value
    assert cl.status_reason == "fraud check"
    assert (event.kind, event.old_limit, event.new_limit, event.reason) == (LineEventKind.FROZEN, None, None, "fraud check")
    with pytest.raises(ConflictError) as info:
        cl.freeze("again")
    assert code_of(info) == "line_already_frozen"
    event = cl.unfreeze("cleared")
    assert cl.status == LineStatus.ACTIVE.value
    assert cl.status_reason is None
    assert event.kind is LineEventKind.UNFROZEN
    with pytest.raises(ConflictError) as info:
        cl.unfreeze("again")
    assert code_of(info) == "line_not_frozen"


def test_close_is_final():
    cl = line()
    cl.freeze("overdue")
    event = cl.close("written off", date(2025, 6, 1))   # a frozen line can be closed
    assert cl.status == LineStatus.CLOSED.value
    assert cl.closed_on == date(2025, 6, 1)
    assert (event.kind, event.old_limit, event.new_limit) == (LineEventKind.CLOSED, Decimal("10000"), None)
    for action in (
        lambda: cl.freeze("x"),
        lambda: cl.unfreeze("x"),
        lambda: cl.close("x", date(2025, 7, 1)),
        lambda: cl.change_limit(Decimal("20000"), P, "x"),
    ):
        with pytest.raises(ConflictError) as info:
            action()
        assert code_of(info) == "line_closed"
    assert cl.closed_on == date(2025, 6, 1)


def test_change_limit():
    cl = line("10000")
    event = cl.change_limit(Decimal("20000"), P, "good history")
    assert cl.limit == Decimal("20000")
    assert (event.kind, event.old_limit, event.new_limit, event.reason) == (
        LineEventKind.LIMIT_CHANGED, Decimal("10000"), Decimal("20000"), "good history")
    with pytest.raises(ConflictError) as info:
        cl.change_limit(Decimal("20000"), P, "same")
    assert code_of(info) == "limit_unchanged"
    # 500..200,000 in steps of 100
    for bad in ("400", "200100", "20050", "0"):
        with pytest.raises(ValidationError) as info:
            cl.change_limit(Decimal(bad), P, "bad")
        assert code_of(info) == "invalid_limit"
    assert cl.limit == Decimal("20000")


def test_change_limit_on_a_frozen_line_is_allowed():
    cl = line("10000")
    cl.freeze("review")
    cl.change_limit(Decimal("5000"), P, "cut")
    assert cl.limit == Decimal("5000")
    assert cl.status == LineStatus.FROZEN.value


# --------------------------------------------------------------------------- drawdown checks


def test_check_drawdown_ok_up_to_available():
    cl = line("10000", "4000")
    cl.check_drawdown(Decimal("100"), P)      # the minimum
    cl.check_drawdown(Decimal("6000"), P)     # exactly what is available


def test_check_drawdown_below_minimum():
    cl = line("10000")
    with pytest.raises(ValidationError) as info:
        cl.check_drawdown(Decimal("99.99"), P)
    assert code_of(info) == "amount_below_minimum"
    assert info.value.field == "amount"


def test_check_drawdown_limit_exceeded():
    cl = line("10000", "4000")
    with pytest.raises(BusinessRuleError) as info:
        cl.check_drawdown(Decimal("6000.01"), P)
    assert code_of(info) == "limit_exceeded"
    assert info.value.field == "amount"


def test_check_drawdown_on_frozen_and_closed_lines():
    cl = line("10000")
    cl.freeze("overdue elsewhere")
    with pytest.raises(ConflictError) as info:
        cl.check_drawdown(Decimal("1000"), P)
    assert code_of(info) == "line_frozen"
    assert "overdue elsewhere" in info.value.message
    cl.close("closed", date(2025, 2, 1))
    with pytest.raises(ConflictError) as info:
        cl.check_drawdown(Decimal("1000"), P)
    assert code_of(info) == "line_closed"


def test_check_drawdown_uses_the_products_minimum():
    cl = line("10000")
    product = replace(P, drawdown_min=Decimal("500"))
    with pytest.raises(ValidationError) as info:
        cl.check_drawdown(Decimal("499"), product)
    assert code_of(info) == "amount_below_minimum"
    cl.check_drawdown(Decimal("500"), product)
