"""Records of requests that moved money: drawdowns and repayments.

They are what an ``Idempotency-Key`` replay returns, so they keep the result
as it was when the request was made, whatever happened to the loan since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from microlend.money import ZERO


class DrawdownStatus(str, Enum):
    PENDING = "pending"        #: reserved on the line, disbursement not confirmed yet
    DISBURSED = "disbursed"    #: money sent, loan booked
    FAILED = "failed"          #: the rail refused; reservation released, no loan
    REVIEW = "review"          #: the rail reported an impossible amount; held for reconciliation


@dataclass(eq=False)
class Drawdown:
    credit_line_id: int
    customer_id: int
    amount: Decimal
    term: int
    method: str
    daily_rate: Decimal
    requested_on: date
    created_at: datetime
    status: str = DrawdownStatus.PENDING.value
    purpose: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    rail_reference: str | None = None
    #: What the rail actually paid out (the loan's principal); None until disbursed.
    disbursed_amount: Decimal | None = None
    loan_id: int | None = None
    completed_at: datetime | None = None
    idempotency_scope: str | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    id: int | None = None


@dataclass(eq=False)
class Repayment:
    loan_id: int
    amount: Decimal
    paid_on: date
    channel: str
    created_at: datetime
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    fee: Decimal = ZERO
    penalty: Decimal = ZERO
    prepaid_principal: Decimal = ZERO
    paid_off: bool = False
    allocation: list[dict] = field(default_factory=list)
    idempotency_scope: str | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    id: int | None = None


class CardDebitStatus(str, Enum):
    PENDING = "pending"        #: recorded, rail answer not known yet
    SUCCEEDED = "succeeded"    #: money collected and booked
    FAILED = "failed"          #: the rail refused; nothing collected
    REVIEW = "review"          #: the rail reported an impossible amount; held for reconciliation


@dataclass(eq=False)
class CardDebit:
    """A repayment by card, recorded before the rail is asked so no collected money goes unbooked."""

    loan_id: int
    customer_id: int
    amount: Decimal
    requested_on: date
    created_at: datetime
    status: str = CardDebitStatus.PENDING.value
    collected: Decimal | None = None
    #: Collected above the payoff at booking time (the loan was repaid meanwhile): held in suspense.
    excess: Decimal | None = None
    failure_code: str | None = None
    repayment_id: int | None = None
    completed_at: datetime | None = None
    idempotency_scope: str | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    id: int | None = None
