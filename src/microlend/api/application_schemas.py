"""Bodies of the origination endpoints: applications, guarantor answers, policy. Money as strings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from microlend.api.schemas import MoneyIn, Strict


class ConsentIn(Strict):
    given: bool = Field(description="The applicant agreed to a credit-bureau query (must be true)")
    text_version: str = Field(max_length=40, description="Version of the consent text the applicant saw")
    given_at: AwareDatetime | None = Field(None, description="When the applicant agreed (default: now)")


class RiskSharingIn(Strict):
    kind: Literal["guarantor", "collateral", "insurance"]
    guarantor_customer_id: int | None = None
    collateral_kind: str | None = Field(None, max_length=40)
    collateral_value: MoneyIn | None = None
    collateral_description: str | None = Field(None, max_length=500)
    insurer: str | None = Field(None, max_length=40)
    policy_number: str | None = Field(None, max_length=60)


class ApplicationCreate(Strict):
    name: str = Field(max_length=100)
    id_number: str = Field(max_length=40, description="PRC resident ID number, 18 characters")
    phone: str = Field(max_length=30)
    bank_card: str = Field(max_length=40)
    device_id: str = Field(max_length=128)
    ip: str = Field(max_length=45)
    declared_income: MoneyIn = Field(description="Declared monthly income, CNY")
    industry: str = Field(max_length=40)
    region: str = Field(max_length=2, description="Two-digit province code (GB/T 2260)")
    product_code: str | None = Field(None, max_length=20)
    consent: ConsentIn | None = Field(None, description="Required: the applicant's consent to a bureau query")
    risk_sharing: RiskSharingIn | None = None
    channel: str = Field("api", max_length=40)


class ReasonOut(BaseModel):
    code: str
    en: str
    zh: str


class ApplicationRead(BaseModel):
    """Staff view; an applicant sees id, status, dates, offer and reasons only (the rest is null)."""

    id: int
    status: str
    created_at: datetime
    decided_at: datetime | None = None
    customer_id: int | None = None
    credit_line_id: int | None = None
    offered_limit: str | None = None
    offered_daily_rate: str | None = None
    reasons: list[ReasonOut] = []
    name: str | None = None
    id_number: str | None = None
    phone: str | None = None
    bank_card: str | None = None
    ip: str | None = None
    declared_income: str | None = None
    industry: str | None = None
    region: str | None = None
    product_code: str | None = None
    channel: str | None = None
    score: int | None = None
    band: str | None = None
    decision_record_id: int | None = None
    created_by: str | None = None
    decision_record: dict[str, Any] | None = None


class GuarantorAnswer(Strict):
    accept: bool


class PolicyCreate(Strict):
    document: dict[str, Any]
    activate: bool = True
    note: str | None = Field(None, max_length=500)


class DownturnSwitch(Strict):
    on: bool
    note: str | None = Field(None, max_length=500)


class PolicyRead(BaseModel):
    name: str
    version: int
    fingerprint: str
    active: bool
    note: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    document: dict[str, Any] | None = None
