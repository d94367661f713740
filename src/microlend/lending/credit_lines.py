"""Revolving credit lines.

Available = limit - used, where ``used`` is the outstanding principal of the
line's loans plus drawdowns still being disbursed. Repaid principal frees room
again. A frozen line takes no new drawdowns; a closed line never will again,
while its loans run off as agreed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from microlend.errors import BusinessRuleError, ConflictError, ValidationError
from microlend.lending.products import LoanProduct
from microlend.money import ZERO


class LineStatus(str, Enum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class LineEventKind(str, Enum):
    GRANTED = "granted"
    FROZEN = "frozen"
    UNFROZEN = "unfrozen"
    LIMIT_CHANGED = "limit_changed"
    CLOSED = "closed"


@dataclass(frozen=True)
class LineEvent:
    kind: LineEventKind
    old_limit: Decimal | None
    new_limit: Decimal | None
    reason: str


@dataclass(eq=False)
class CreditLine:
    customer_id: int
    product_code: str
    limit: Decimal
    daily_rate: Decimal
    opened_on: date
    used: Decimal = ZERO
    status: str = LineStatus.ACTIVE.value
    status_reason: str | None = None
    #: Why a frozen line is frozen: "manual" (staff), "overdue" or "write_off" (the close of business).
    freeze_cause: str | None = None
    closed_on: date | None = None
    id: int | None = None

    @property
    def available(self) -> Decimal:
        """Room for new drawdowns; zero unless the line is active."""
        if self.status != LineStatus.ACTIVE.value:
            return ZERO
        return max(ZERO, self.limit - self.used)

    def check_drawdown(self, amount: Decimal, product: LoanProduct) -> None:
        if self.status == LineStatus.FROZEN.value:
            raise ConflictError(f"credit line {self.id} is frozen: {self.status_reason}", code="line_frozen", field="line_id")
        if self.status == LineStatus.CLOSED.value:
            raise ConflictError(f"credit line {self.id} is closed", code="line_closed", field="line_id")
        if amount < product.drawdown_min:
            raise ValidationError(
                f"a drawdown must be at least {product.drawdown_min}", code="amount_below_minimum", field="amount",
            )
        if amount > self.available:
            raise BusinessRuleError(
                f"amount {amount} exceeds the available {self.available}", code="limit_exceeded", field="amount",
            )

    def reserve(self, amount: Decimal) -> None:
        self.used += amount

    def release(self, amount: Decimal) -> None:
        if amount > self.used:
            raise ValueError(f"release of {amount} exceeds used {self.used} on line {self.id}")
        self.used -= amount

    def freeze(self, reason: str, cause: str = "manual") -> LineEvent:
        self._require_open()
        if self.status == LineStatus.FROZEN.value:
            raise ConflictError("credit line is already frozen", code="line_already_frozen", field="line_id")
        self.status, self.status_reason, self.freeze_cause = LineStatus.FROZEN.value, reason, cause
        return LineEvent(LineEventKind.FROZEN, None, None, reason)

    def unfreeze(self, reason: str) -> LineEvent:
        self._require_open()
        if self.status != LineStatus.FROZEN.value:
            raise ConflictError("credit line is not frozen", code="line_not_frozen", field="line_id")
        self.status, self.status_reason, self.freeze_cause = LineStatus.ACTIVE.value, None, None
        return LineEvent(LineEventKind.UNFROZEN, None, None, reason)

    def change_limit(self, new_limit: Decimal, product: LoanProduct, reason: str) -> LineEvent:
        """Raise or cut the limit; a cut below ``used`` leaves nothing available, it recalls nothing."""
        self._require_open()
        product.check_line_limit(new_limit)
        if new_limit == self.limit:
            raise ConflictError("the new limit equals the current limit", code="limit_unchanged", field="limit")
        old, self.limit = self.limit, new_limit
        return LineEvent(LineEventKind.LIMIT_CHANGED, old, new_limit, reason)

    def close(self, reason: str, on: date) -> LineEvent:
        self._require_open()
        self.status, self.status_reason, self.closed_on = LineStatus.CLOSED.value, reason, on
        return LineEvent(LineEventKind.CLOSED, self.limit, None, reason)

    def _require_open(self) -> None:
        if self.status == LineStatus.CLOSED.value:
            raise ConflictError(f"credit line {self.id} is closed", code="line_closed", field="line_id")
