"""Step-up verification over HTTP: a paused customer (or staff for them) verifies; staff pause by hand.

A borrower key reaches only its own customer (anyone else's look like they do not exist). The
person types the four elements for each attempt (the stored ones prove nothing); the answer never
echoes them. Staff names (API key ids) in the pause history are shown to staff only, and so is which
typed element differed from the record (for a customer that would tell a guesser which guess was
right).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from microlend.api.deps import IdPath, PlatformDep, PrincipalDep, StaffDep, ensure_visible
from microlend.api.schemas import Strict
from microlend.services.origination import pauses

router = APIRouter(prefix="/v1/customers", tags=["step-up verification"])


class VerificationCreate(Strict):
    """The four elements as the customer gives them now (staff may type them on the customer's behalf)."""
    name: str = Field(max_length=100, description="Legal name")
    id_number: str = Field(max_length=40, description="PRC resident ID number, 18 characters")
    phone: str = Field(max_length=30, description="Mainland mobile number")
    bank_card: str = Field(max_length=40, description="The bound bank card's number")


class VerificationResultRead(BaseModel):
    verification_id: int
    passed: bool
    outcome: str = Field(description="match, mismatch, not_found, kyc_timeout, kyc_failure, no_card or "
                                     "element_mismatch (the elements given are not the customer's record)")
    mismatched: list[str] = Field(description="The elements that did not match (mismatch; element_mismatch for "
                                              "staff only)")
    reason: str | None = Field(description="Why it did not pass, and what to do")
    paused: bool = Field(description="Whether the customer is still paused (no drawdowns while so)")
    released_pause_id: int | None
    resumed_applications: list[int] = Field(description="Applications held in step_up that this pass continued")


class PauseCreate(Strict):
    reason: str = Field(description="Why: 1 to 500 characters (the customer can read it)")


class PauseRead(BaseModel):
    id: int
    customer_id: int
    reason: str
    source_kind: str = Field(description="application, drawdown or staff")
    source_id: int | None
    paused_by: str | None
    paused_at: datetime
    open: bool
    released_at: datetime | None
    released_by: str | None
    verification_id: int | None = Field(description="The passed verification that released it")


class VerificationRead(BaseModel):
    id: int
    outcome: str
    passed: bool
    mismatched: list[str]
    provider_reference: str | None
    actor: str | None
    at: datetime


class PauseHistoryRead(BaseModel):
    customer_id: int
    paused: bool
    pauses: list[PauseRead] = Field(description="Newest first")
    verifications: list[VerificationRead] = Field(description="Every attempt, newest first")


#: What a customer is told when the elements they typed are not their record (not which one).
_NOT_THE_RECORD = "the details given do not match our records: check them and try again"


@router.post("/{customer_id}/verification", response_model=VerificationResultRead)
def verify(customer_id: IdPath, body: VerificationCreate, platform: PlatformDep, principal: PrincipalDep):
    """Verify the name, ID number, phone and bank card the person types now.

    They must be the customer's own (as on record) and the KYC provider must confirm them. Every
    attempt is recorded (malformed input is a 422 and is not an attempt). A match releases the
    customer's pause and continues their applications held in step_up; anything else (a timeout
    too) keeps the pause: 200 either way.
    """
    ensure_visible(principal, customer_id, "customer", customer_id, "customer_id")
    result = pauses.verify_customer(platform=platform, customer_id=customer_id, actor=principal.actor,
                                    name=body.name, id_number=body.id_number, phone=body.phone,
                                    bank_card=body.bank_card)
    resumed = result.resumed if isinstance(result.resumed, list) else []
    mismatched, reason = list(result.mismatched), result.reason
    if result.outcome == pauses.ELEMENT_MISMATCH and not principal.is_staff:
        mismatched, reason = [], _NOT_THE_RECORD
    return VerificationResultRead(
        verification_id=result.id, passed=result.passed, outcome=result.outcome, mismatched=mismatched,
        reason=reason, paused=result.paused, released_pause_id=result.released_pause_id,
        resumed_applications=[int(a) for a in resumed])


@router.post("/{customer_id}/pause", response_model=PauseRead, status_code=status.HTTP_201_CREATED)
def pause(customer_id: IdPath, body: PauseCreate, platform: PlatformDep, principal: StaffDep, response: Response):
    """Pause the customer (no drawdowns until a passed verification); 200 with the open pause if already paused."""
    made = pauses.pause_by_staff(uow=platform.uow(), customer_id=customer_id, reason=body.reason,
                                 actor=principal.actor, now=platform.clock.now())
    if not made.created:
        response.status_code = status.HTTP_200_OK
    return PauseRead(**made.to_dict())


@router.get("/{customer_id}/pauses", response_model=PauseHistoryRead)
def pause_history(customer_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    """The customer's pauses and verification attempts (staff, or the customer)."""
    ensure_visible(principal, customer_id, "customer", customer_id, "customer_id")
    history = pauses.pause_history(platform.reader(), customer_id)
    if not principal.is_staff:  # a customer sees what happened, not which staff key did it
        for p in history["pauses"]:
            p["paused_by"] = p["released_by"] = None
        for v in history["verifications"]:
            v["actor"] = None
            if v["outcome"] == pauses.ELEMENT_MISMATCH:
                v["mismatched"] = []
    return PauseHistoryRead(**history)
