"""Decimal money.

Money is ``Decimal`` and nothing else: floats are refused at the door because
they cannot hold a fen exactly. Every rounding in the platform goes through a
named mode below, so a reader can see where a fen may move and which way.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Iterable, Sequence

from microlend.errors import ValidationError

CURRENCY = "CNY"
FEN = Decimal("0.01")
ZERO = Decimal("0.00")

#: Rounding of computed amounts (interest, penalty, fees) to the fen:
#: half up, as PBOC practice and borrowers expect ("四舍五入").
MONEY_ROUNDING = ROUND_HALF_UP
#: Rounding of an evenly split principal before the last part absorbs the rest.
SPLIT_ROUNDING = ROUND_DOWN
#: Rounding of rates shown to people (annualized rates to 1e-6, i.e. 0.0001%).
RATE_ROUNDING = ROUND_HALF_EVEN
RATE_QUANTUM = Decimal("0.000001")


def D(value: Decimal | int | str) -> Decimal:
    """Build a Decimal from an int, a string or a Decimal; refuse floats and junk."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"money must not be built from {type(value).__name__}: {value!r}")
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation as exc:
            raise ValidationError(f"not a number: {value!r}", code="invalid_amount") from exc
    else:
        raise TypeError(f"money must not be built from {type(value).__name__}")
    if not result.is_finite():
        raise ValidationError(f"not a finite number: {value!r}", code="invalid_amount")
    return result


def to_fen(value: Decimal, rounding: str = MONEY_ROUNDING) -> Decimal:
    """Round an amount to the fen with a named rounding mode."""
    return value.quantize(FEN, rounding=rounding)


def is_whole_fen(value: Decimal) -> bool:
    """True when the amount has no part smaller than one fen."""
    try:
        return value == value.quantize(FEN, rounding=ROUND_DOWN)
    except InvalidOperation:  # too many digits to quantize: whole fen iff no digit below 0.01
        return value.as_tuple().exponent >= -2


def round_rate(value: Decimal) -> Decimal:
    """Round a rate for display and storage (1e-6)."""
    return value.quantize(RATE_QUANTUM, rounding=RATE_ROUNDING)


def money_sum(values: Iterable[Decimal]) -> Decimal:
    """Sum amounts starting from a fen-quantized zero (keeps the exponent tidy)."""
    total = ZERO
    for v in values:
        total += v
    return total


def allocate(total: Decimal, weights: Sequence[Decimal | int]) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` so that the parts add back up exactly.

    Largest-remainder method: every part is rounded down to the fen, then the
    fen left over go one each to the parts with the largest remainders (ties
    to the earlier part). No fen is created or lost.
    """
    if not is_whole_fen(total):
        raise ValueError(f"total must be whole fen: {total}")
    w = [Fraction(Decimal(x)) for x in weights]  # exact rationals: ties must compare equal
    if not w:
        raise ValueError("allocate needs at least one weight")
    if any(x < 0 for x in w):
        raise ValueError("weights must not be negative")
    weight_sum = sum(w)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    sign = -1 if total < 0 else 1
    magnitude_fen = int((abs(total) / FEN).to_integral_value())
    exact = [magnitude_fen * x / weight_sum for x in w]
    floors = [int(e) for e in exact]  # e >= 0, so int() rounds down
    left = magnitude_fen - sum(floors)
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [sign * Decimal(f) * FEN for f in floors]


def split_evenly(total: Decimal, parts: int) -> list[Decimal]:
    """Split into ``parts`` equal amounts rounded down; the last part absorbs the remainder."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    each = to_fen(total / parts, SPLIT_ROUNDING)
    return [each] * (parts - 1) + [total - each * (parts - 1)]


__all__ = [
    "CURRENCY", "FEN", "ZERO", "MONEY_ROUNDING", "SPLIT_ROUNDING", "RATE_ROUNDING",
    "D", "to_fen", "is_whole_fen", "round_rate", "money_sum", "allocate", "split_evenly",
    "ROUND_HALF_UP",
]
