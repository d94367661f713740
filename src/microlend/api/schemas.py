"""Request and response bodies. Money travels as strings ("1234.50"), never floats."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from microlend.money import FEN, is_whole_fen


def _parse_decimal(value, *, code: str, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise PydanticCustomError(code, f"{what} must be a decimal string such as \"100.00\"")
    try:
        result = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise PydanticCustomError(code, f"{what} is not a number") from None
    if not result.is_finite():
        raise PydanticCustomError(code, f"{what} must be finite")
    return result


def _parse_amount(value) -> Decimal:
    amount = _parse_decimal(value, code="invalid_amount", what="amount")
    if amount <= 0:
        raise PydanticCustomError("invalid_amount", "amount must be positive")
    if amount >= Decimal("1e13"):
        raise PydanticCustomError("invalid_amount", "amount is too large")
    if not is_whole_fen(amount):
        raise PydanticCustomError("invalid_amount", "amount must not have parts smaller than one fen (0.01)")
    return amount.quantize(FEN)


RATE_PLACES = 8


def _parse_rate(value) -> Decimal:
    rate = _parse_decimal(value, code="invalid_rate", what="rate")
    if rate < 0 or rate >= 1:
        raise PydanticCustomError("invalid_rate", "rate must be from 0 to below 1")
    if rate.normalize().as_tuple().exponent < -RATE_PLACES:  # rates are stored with 8 decimals
        raise PydanticCustomError("invalid_rate", f"rate must have at most {RATE_PLACES} decimal places")
    return rate


#: Business dates the platform accepts (schedules run up to 60 months past them).
DATE_MIN, DATE_MAX = date(2000, 1, 1), date(2099, 12, 31)


def _check_date(value: date) -> date:
    if not DATE_MIN <= value <= DATE_MAX:
        raise PydanticCustomError("invalid_date", f"date must be from {DATE_MIN} to {DATE_MAX}")
    return value


def _rate_text(value: Decimal) -> str:
    """A rate as written, whatever scale the database gave back: 0.00040000 -> "0.0004"."""
    return format(value.normalize(), "f") if value else "0"


_as_str = PlainSerializer(lambda v: str(v), return_type=str, when_used="json")
MoneyIn = Annotated[Decimal, BeforeValidator(_parse_amount)]
RateIn = Annotated[Decimal, BeforeValidator(_parse_rate)]
DateIn = Annotated[date, AfterValidator(_check_date)]
MoneyOut = Annotated[Decimal, _as_str]
#: Daily rates, multipliers, caps: shown as configured.
RateOut = Annotated[Decimal, PlainSerializer(_rate_text, return_type=str, when_used="json")]
#: Annualized rates: always six decimals (0.0001 %), e.g. "0.182500".
AnnualRateOut = Annotated[Decimal, PlainSerializer(lambda v: str(v.quantize(Decimal("0.000001"))), return_type=str,
                                                   when_used="json")]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
MAX_ID = 2_147_483_647
Term = Annotated[int, Field(ge=1, le=360)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- customers --------------------------------------------------------------
class CustomerCreate(Strict):
    name: str = Field(max_length=100)
    id_number: str = Field(max_length=40, description="PRC resident ID number, 18 characters")
    phone: str = Field(max_length=30, description="Mainland mobile number")
    bank_card: str | None = Field(None, max_length=40, description="Debit card for disbursements and auto-debit")


class BankCardBind(Strict):
    bank_card: str = Field(max_length=40)


class CustomerRead(BaseModel):
    id: int
    name: str
    id_number: str = Field(description="Masked")
    phone: str = Field(description="Masked")
    bank_card: str | None = Field(description="Masked")
    birth_date: date
    sex: str
    province_code: str
    status: str
    created_at: datetime


# --- products ---------------------------------------------------------------
class ProductCreate(Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    line_min: MoneyIn | None = None
    line_max: MoneyIn | None = None
    line_step: MoneyIn | None = None
    drawdown_min: MoneyIn | None = None
    terms: list[Annotated[int, Field(ge=1, le=60)]] | None = Field(None, min_length=1, max_length=12)
    default_method: Literal["equal_principal", "equal_installment"] | None = None
    methods: list[Literal["equal_principal", "equal_installment"]] | None = Field(None, min_length=1)
    daily_rate_min: RateIn | None = None
    daily_rate_max: RateIn | None = None
    monthly_fee_rate: RateIn | None = None
    penalty_multiplier: Annotated[Decimal, Field(ge=1, le=10)] | None = None
    grace_days: Annotated[int, Field(ge=0, le=30)] | None = None
    apr_cap: RateIn | None = None
    allocation_order: list[str] | None = None


class ProductRead(BaseModel):
    code: str
    name: str
    currency: str
    line_min: MoneyOut
    line_max: MoneyOut
    line_step: MoneyOut
    drawdown_min: MoneyOut
    terms: list[int]
    default_method: str
    methods: list[str]
    daily_rate_min: RateOut
    daily_rate_max: RateOut
    monthly_fee_rate: RateOut
    penalty_multiplier: RateOut
    grace_days: int
    apr_cap: RateOut
    allocation_order: list[str]
    active: bool


# --- credit lines -----------------------------------------------------------
class CreditLineCreate(Strict):
    customer_id: int = Field(gt=0, le=MAX_ID)
    product_code: str = Field("REVOLVE", max_length=32)
    limit: MoneyIn
    daily_rate: RateIn | None = Field(None, description="Defaults to the product's top daily rate")
    reason: Reason = "granted by operator"


class ReasonBody(Strict):
    reason: Reason


class LimitChange(Strict):
    limit: MoneyIn
    reason: Reason


class CreditLineRead(BaseModel):
    id: int
    customer_id: int
    product_code: str
    limit: MoneyOut
    used: MoneyOut
    available: MoneyOut
    daily_rate: RateOut
    status: str
    status_reason: str | None
    opened_on: date
    closed_on: date | None


class CreditLineEventRead(BaseModel):
    kind: str
    old_limit: MoneyOut | None
    new_limit: MoneyOut | None
    reason: str
    actor: str
    business_date: date
    at: datetime


# --- quotes and schedules ---------------------------------------------------
class QuoteRequest(Strict):
    amount: MoneyIn
    term: Term
    product_code: str = Field("REVOLVE", max_length=32)
    credit_line_id: int | None = Field(None, gt=0, le=MAX_ID, description="Price at this line's daily rate")
    daily_rate: RateIn | None = Field(None, description="Defaults to the line's rate, else the product's top rate")
    method: Literal["equal_principal", "equal_installment"] | None = None
    start_date: DateIn | None = None


class InstallmentRead(BaseModel):
    number: int
    period_start: date
    due_date: date
    days: int
    opening_principal: MoneyOut | None = None
    principal: MoneyOut
    interest: MoneyOut
    fee: MoneyOut
    total: MoneyOut


class RatesRead(BaseModel):
    apr: AnnualRateOut = Field(description="Annualized rate, IRR method: monthly IRR x 12")
    effective_annual: AnnualRateOut
    simple: AnnualRateOut = Field(description="Interest and fees over principal-days, x 365")
    daily_rate: RateOut


class QuoteRead(BaseModel):
    product_code: str
    amount: MoneyOut
    term: Term
    method: str
    start_date: date
    rates: RatesRead
    total_interest: MoneyOut
    total_fees: MoneyOut
    total_cost: MoneyOut
    total_repayment: MoneyOut
    installments: list[InstallmentRead]


# --- drawdowns, loans, repayments -------------------------------------------
class DrawdownCreate(Strict):
    amount: MoneyIn
    term: Term
    method: Literal["equal_principal", "equal_installment"] | None = None
    purpose: str | None = Field(None, max_length=200)
    device_id: str | None = Field(None, max_length=128, description="The borrower's device (drawdown risk rules)")
    ip: str | None = Field(None, max_length=45, description="The borrower's IP address (drawdown risk rules)")


class DrawdownRead(BaseModel):
    id: int
    credit_line_id: int
    customer_id: int
    amount: MoneyOut
    term: Term
    method: str
    daily_rate: RateOut
    purpose: str | None
    status: str
    failure_code: str | None
    failure_message: str | None
    disbursed_amount: MoneyOut | None
    loan_id: int | None
    requested_on: date
    created_at: datetime


class LoanInstallmentRead(BaseModel):
    number: int
    period_start: date
    due_date: date
    principal: MoneyOut
    interest: MoneyOut
    fee: MoneyOut
    principal_paid: MoneyOut
    interest_paid: MoneyOut
    fee_paid: MoneyOut
    status: str


class LoanRead(BaseModel):
    id: int
    customer_id: int
    credit_line_id: int
    product_code: str
    principal: MoneyOut
    principal_outstanding: MoneyOut
    daily_rate: RateOut
    penalty_rate: RateOut
    term: Term
    method: str
    start_date: date
    status: str
    days_past_due: int
    bucket: str = Field(description="current, M1, M2, M3 or M3+")
    classification: str = Field(description="normal, special_mention, substandard, doubtful or loss")
    closed_on: date | None
    apr: AnnualRateOut = Field(description="The contract's annualized rate (IRR method)")


class ScheduleRead(BaseModel):
    loan_id: int
    installments: list[LoanInstallmentRead]


class RepaymentCreate(Strict):
    amount: MoneyIn
    channel: Literal["card", "transfer"] = "card"


class AllocationPartRead(BaseModel):
    component: str
    installment: int | None
    amount: MoneyOut


class RepaymentRead(BaseModel):
    id: int
    loan_id: int
    amount: MoneyOut
    paid_on: date
    channel: str
    principal: MoneyOut
    interest: MoneyOut
    fee: MoneyOut
    penalty: MoneyOut
    prepaid_principal: MoneyOut
    paid_off: bool
    allocation: list[AllocationPartRead]
    created_at: datetime


class PayoffQuoteRead(BaseModel):
    loan_id: int
    date: date
    total: MoneyOut
    components: list[AllocationPartRead]


# --- ledger and keys ----------------------------------------------------------
class TrialBalanceRow(BaseModel):
    account: str
    name: str
    type: str
    debit: MoneyOut
    credit: MoneyOut
    balance: MoneyOut


class TrialBalanceRead(BaseModel):
    through: date | None
    rows: list[TrialBalanceRow]
    total_debit: MoneyOut
    total_credit: MoneyOut
    balanced: bool


class ReconciliationRead(BaseModel):
    loan_id: int
    reconciled: bool
    mismatches: list[dict]


class ApiKeyCreate(Strict):
    role: Literal["admin", "operator", "borrower"]
    name: str = Field(min_length=1, max_length=100)
    customer_id: int | None = Field(None, gt=0, le=MAX_ID)


class ApiKeyRead(BaseModel):
    key_id: str
    role: str
    customer_id: int | None
    name: str
    token: str = Field(description="Shown once; store it now")


class PrincipalRead(BaseModel):
    key_id: str
    role: str
    customer_id: int | None
    name: str
