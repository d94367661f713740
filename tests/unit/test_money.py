"""Tests for microlend.money: building, rounding and splitting Decimal money.

Every expected figure below is worked out by hand in the comment next to it.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microlend.errors import ValidationError
from microlend.money import (
    FEN,
    MONEY_ROUNDING,
    SPLIT_ROUNDING,
    ZERO,
    D,
    allocate,
    is_whole_fen,
    money_sum,
    round_rate,
    split_evenly,
    to_fen,
)

# --------------------------------------------------------------------------- D()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.30", Decimal("12.30")),
        ("  5 ", Decimal("5")),          # surrounding blanks are stripped
        ("-0.01", Decimal("-0.01")),
        ("1E+3", Decimal("1000")),
        (7, Decimal("7")),
        (0, Decimal("0")),
        (Decimal("3.14"), Decimal("3.14")),
    ],
)
def test_D_accepts_int_str_and_decimal(raw, expected):
    value = D(raw)
    assert isinstance(value, Decimal)
    assert value == expected


def test_D_keeps_the_exponent_of_a_string():
    # "12.30" must stay two places (it is a price shown to a person).
    assert str(D("12.30")) == "12.30"


def test_D_returns_a_decimal_unchanged():
    value = Decimal("1.23")
    assert D(value) is value


@pytest.mark.parametrize("raw", [0.1, 1.0, float("nan"), float("inf"), True, False])
def test_D_refuses_float_and_bool(raw):
    # bool is a subclass of int: D(True) would silently be 1 without the check.
    with pytest.raises(TypeError):
        D(raw)


@pytest.mark.parametrize("raw", [None, [1], (1,), b"1", object(), 1 + 2j])
def test_D_refuses_other_types(raw):
    with pytest.raises(TypeError):
        D(raw)


@pytest.mark.parametrize(
    "raw",
    ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "-inf",
     Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")],
)
def test_D_refuses_non_finite(raw):
    with pytest.raises(ValidationError) as info:
        D(raw)
    assert info.value.code == "invalid_amount"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "1,000", "1.2.3", "12 yuan", "¥5", "0x10", "--1"])
def test_D_refuses_junk_strings(raw):
    with pytest.raises(ValidationError) as info:
        D(raw)
    assert info.value.code == "invalid_amount"


@given(st.integers(min_value=-(10**15), max_value=10**15))
@settings(max_examples=100, deadline=None)
def test_D_round_trips_integers(n):
    assert D(n) == n
    assert D(str(n)) == n


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2,
                   min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
@settings(max_examples=100, deadline=None)
def test_D_round_trips_decimal_strings(x):
    assert D(str(x)) == x


# --------------------------------------------------------------------------- to_fen


def test_money_rounding_is_named_half_up():
    assert MONEY_ROUNDING == ROUND_HALF_UP
    assert SPLIT_ROUNDING == ROUND_DOWN


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.345", "2.35"),     # exact half goes up
        ("2.3449", "2.34"),
        ("0.125", "0.13"),     # half up (half even would give 0.12)
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("-2.345", "-2.35"),   # half up is "away from zero" for a negative amount
        ("10", "10.00"),
        ("49.595", "49.60"),
    ],
)
def test_to_fen_default_is_half_up(value, expected):
    result = to_fen(Decimal(value))
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("0.125", ROUND_HALF_EVEN, "0.12"),
        ("0.135", ROUND_HALF_EVEN, "0.14"),
        ("2.349", ROUND_DOWN, "2.34"),
        ("-2.349", ROUND_DOWN, "-2.34"),   # ROUND_DOWN is toward zero
        ("2.341", ROUND_HALF_UP, "2.34"),
    ],
)
def test_to_fen_with_a_named_mode(value, mode, expected):
    assert to_fen(Decimal(value), mode) == Decimal(expected)


def test_is_whole_fen():
    assert is_whole_fen(Decimal("1.23"))
    assert is_whole_fen(Decimal("1.230000"))
    assert is_whole_fen(Decimal("100"))
    assert is_whole_fen(Decimal("-0.01"))
    assert not is_whole_fen(Decimal("1.235"))
    assert not is_whole_fen(Decimal("0.001"))
    assert not is_whole_fen(Decimal("-0.001"))


def test_round_rate_is_half_even_to_one_millionth():
    assert round_rate(Decimal("0.1825")) == Decimal("0.182500")
    assert round_rate(Decimal("0.0000005")) == Decimal("0.000000")   # half to even (0)
    assert round_rate(Decimal("0.0000015")) == Decimal("0.000002")   # half to even (2)
    assert round_rate(Decimal("0.12345649")) == Decimal("0.123456")


def test_money_sum():
    assert money_sum([]) == ZERO
    assert money_sum([]).as_tuple().exponent == -2
    assert money_sum([Decimal("1.10"), Decimal("2.20"), Decimal("-0.30")]) == Decimal("3.00")


# --------------------------------------------------------------------------- allocate


def test_allocate_proportional_exact():
    # 100.00 in 1:3 -> 25.00 and 75.00 with nothing left over.
    assert allocate(Decimal("100.00"), [1, 3]) == [Decimal("25.00"), Decimal("75.00")]


def test_allocate_largest_remainder():
    # 7 fen in 2:3:5 -> exact 1.4, 2.1, 3.5 fen; floors 1, 2, 3 (6 fen); the one fen
    # left goes to the largest remainder (0.5, the third part), not the first.
    assert allocate(Decimal("0.07"), [2, 3, 5]) == [Decimal("0.01"), Decimal("0.02"), Decimal("0.04")]
    # 10 fen in 1:2:3 -> 1.667, 3.333, 5.0; floors 1, 3, 5; remainder 0.667 wins.
    assert allocate(Decimal("0.10"), [1, 2, 3]) == [Decimal("0.02"), Decimal("0.03"), Decimal("0.05")]


def test_allocate_ties_go_to_the_earlier_part():
    # 100.00 in three equal parts: 3333.33 fen each, floors 3333 (9999 fen), the
    # one fen left is a three-way tie -> the first part.
    assert allocate(Decimal("100.00"), [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    # 1 fen in two equal halves -> the first.
    assert allocate(Decimal("0.01"), [1, 1]) == [Decimal("0.01"), Decimal("0.00")]
    # 2 fen in three equal parts -> the first two.
    assert allocate(Decimal("0.02"), [5, 5, 5]) == [Decimal("0.01"), Decimal("0.01"), Decimal("0.00")]


# Regression: shares are exact rationals, so equal remainders tie even when the
# integer parts differ (Decimal division at 28 digits used to break the tie).
def test_allocate_tie_between_parts_of_different_size_goes_to_the_earlier_part():
    # 2 fen in 4:1:1 -> exact 4/3, 1/3, 1/3 fen; floors 1, 0, 0 (1 fen); remainders
    # are all exactly 1/3, a three-way tie -> the earliest part gets the fen:
    # [0.02, 0.00, 0.00].  (The code returns [0.01, 0.01, 0.00].)
    assert allocate(Decimal("0.02"), [4, 1, 1]) == [Decimal("0.02"), Decimal("0.00"), Decimal("0.00")]


def test_allocate_negative_total():
    # -0.05 in halves: magnitude 5 fen -> 2.5 each, floors 2 and 2, tie -> first.
    assert allocate(Decimal("-0.05"), [1, 1]) == [Decimal("-0.03"), Decimal("-0.02")]
    # -100.00 in 1:3 -> -25.00, -75.00.
    assert allocate(Decimal("-100.00"), [1, 3]) == [Decimal("-25.00"), Decimal("-75.00")]


def test_allocate_zero_total_and_zero_weights():
    assert allocate(Decimal("0.00"), [1, 2]) == [Decimal("0.00"), Decimal("0.00")]
    # A zero weight gets nothing: 1.00 in 0:1:0 -> 0, 1.00, 0.
    assert allocate(Decimal("1.00"), [0, 1, 0]) == [Decimal("0.00"), Decimal("1.00"), Decimal("0.00")]


def test_allocate_decimal_weights():
    # 1.00 in 0.25 : 0.75 -> 25 fen and 75 fen.
    assert allocate(Decimal("1.00"), [Decimal("0.25"), Decimal("0.75")]) == [Decimal("0.25"), Decimal("0.75")]


def test_allocate_errors():
    with pytest.raises(ValueError, match="all be zero"):
        allocate(Decimal("1.00"), [0, 0])
    with pytest.raises(ValueError, match="at least one"):
        allocate(Decimal("1.00"), [])
    with pytest.raises(ValueError, match="negative"):
        allocate(Decimal("1.00"), [1, -1])
    with pytest.raises(ValueError, match="whole fen"):
        allocate(Decimal("1.005"), [1, 1])


@st.composite
def weight_lists(draw):
    weights = draw(st.lists(
        st.one_of(
            st.integers(min_value=0, max_value=10**6),
            st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
        ),
        min_size=1, max_size=12,
    ))
    if all(Decimal(w) == 0 for w in weights):
        weights[draw(st.integers(0, len(weights) - 1))] = draw(st.integers(1, 100))
    return weights


@given(
    total_fen=st.integers(min_value=-(10**11), max_value=10**11),
    weights=weight_lists(),
)
@settings(max_examples=200, deadline=None)
def test_allocate_sums_exactly_and_stays_within_one_fen(total_fen, weights):
    total = Decimal(total_fen) * FEN
    parts = allocate(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts, ZERO) == total
    weight_sum = sum(Fraction(Decimal(w)) for w in weights)
    for part, w in zip(parts, weights):
        assert is_whole_fen(part)
        exact_share = Fraction(total) * Fraction(Decimal(w)) / weight_sum
        assert abs(Fraction(part) - exact_share) < Fraction(1, 100)
        if Decimal(w) == 0:
            assert part == 0


# --------------------------------------------------------------------------- split_evenly


def test_split_evenly_last_part_absorbs():
    # 100.00 / 3 = 33.333.. -> 33.33, 33.33 and 100.00 - 66.66 = 33.34.
    assert split_evenly(Decimal("100.00"), 3) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    # 10,000 / 10 is exact.
    assert split_evenly(Decimal("10000"), 10) == [Decimal("1000.00")] * 10
    # 0.02 / 3 = 0.0066.. rounds DOWN to 0.00 -> the last part takes all 0.02.
    assert split_evenly(Decimal("0.02"), 3) == [Decimal("0.00"), Decimal("0.00"), Decimal("0.02")]
    # 0.99 / 2 = 0.495 -> 0.49 (down, not half up) and 0.50.
    assert split_evenly(Decimal("0.99"), 2) == [Decimal("0.49"), Decimal("0.50")]
    assert split_evenly(Decimal("5.00"), 1) == [Decimal("5.00")]


def test_split_evenly_refuses_zero_parts():
    with pytest.raises(ValueError):
        split_evenly(Decimal("1.00"), 0)


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=1, max_value=60))
@settings(max_examples=100, deadline=None)
def test_split_evenly_sums_and_last_absorbs(total_fen, parts):
    total = Decimal(total_fen) * FEN
    result = split_evenly(total, parts)
    assert len(result) == parts
    assert sum(result, ZERO) == total
    assert len(set(result[:-1])) <= 1
    assert all(is_whole_fen(p) and p >= 0 for p in result)
    # the last part holds the remainder: at least the others, less than one fen per part more
    assert result[0] <= result[-1] < result[0] + parts * FEN
