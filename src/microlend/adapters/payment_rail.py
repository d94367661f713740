"""The payment rail: sends disbursements to a borrower's card and debits it.

Real rails (UnionPay, NetsUnion, a bank's API) sit behind this Protocol. Every
call carries our own ``reference``; a rail must treat a repeated reference as
the same instruction, which is what makes retries after a crash safe.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Protocol


class RailOutcome(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True)
class RailResult:
    outcome: RailOutcome
    reference: str
    amount: Decimal
    rail_reference: str | None = None
    failure_code: str | None = None
    message: str | None = None


class RailTimeout(Exception):
    """No answer in time: the instruction may or may not have been carried out."""


class PaymentRail(Protocol):
    def disburse(self, *, reference: str, card_number: str, amount: Decimal) -> RailResult: ...

    def debit(self, *, reference: str, card_number: str, amount: Decimal) -> RailResult: ...

    def status(self, *, reference: str) -> RailResult | None: ...


class SimulatedRail:
    """An in-memory rail whose next outcomes tests choose.

    ``will("fail:card_blocked", "timeout", "partial:120.00")`` queues outcomes;
    with nothing queued every instruction succeeds. Repeated references return
    the first result, as a real rail would.
    """

    def __init__(self) -> None:
        self._script: deque[str] = deque()
        self._results: dict[str, RailResult] = {}
        self._counter = 0
        self.instructions: list[tuple[str, str, Decimal]] = []

    def will(self, *outcomes: str) -> "SimulatedRail":
        self._script.extend(outcomes)
        return self

    def disburse(self, *, reference: str, card_number: str, amount: Decimal) -> RailResult:
        return self._execute("disburse", reference, amount)

    def debit(self, *, reference: str, card_number: str, amount: Decimal) -> RailResult:
        return self._execute("debit", reference, amount)

    def status(self, *, reference: str) -> RailResult | None:
        return self._results.get(reference)

    def settle(self, reference: str, outcome: RailOutcome = RailOutcome.SUCCEEDED) -> None:
        """Resolve a pending instruction (what a real rail's callback would report)."""
        old = self._results[reference]
        self._results[reference] = RailResult(outcome, reference, old.amount, old.rail_reference,
                                              None if outcome is RailOutcome.SUCCEEDED else "declined")

    def _execute(self, kind: str, reference: str, amount: Decimal) -> RailResult:
        if reference in self._results:
            return self._results[reference]
        plan = self._script.popleft() if self._script else "succeed"
        self._counter += 1
        rail_ref = f"SIM{self._counter:08d}"
        if plan == "timeout":
            self._results[reference] = RailResult(RailOutcome.PENDING, reference, amount, rail_ref)
            raise RailTimeout(f"simulated rail timed out on {reference}")
        self.instructions.append((kind, reference, amount))
        if plan == "succeed":
            result = RailResult(RailOutcome.SUCCEEDED, reference, amount, rail_ref)
        elif plan == "pending":
            result = RailResult(RailOutcome.PENDING, reference, amount, rail_ref)
        elif plan.startswith("partial:"):
            result = RailResult(RailOutcome.SUCCEEDED, reference, min(amount, Decimal(plan[8:])), rail_ref,
                                "insufficient_funds", "only part of the amount was available")
        elif plan.startswith("fail"):
            code = plan.partition(":")[2] or "declined"
            result = RailResult(RailOutcome.FAILED, reference, amount, rail_ref, code, f"simulated rail: {code}")
        else:
            raise ValueError(f"unknown simulated outcome {plan!r}")
        self._results[reference] = result
        return result
