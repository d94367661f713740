"""The manual review queue over HTTP (staff only): list and read cases, claim, release, approve, reject.

Only the operator who claimed a case decides it; an administrator may decide or release any case.
An operator approves at most the decision's offered limit; a higher one (or a limit where the
decision made no offer) is an administrator's override (403 ``limit_above_offer`` otherwise).
The applicant's name is masked in a case, as in the application view.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from microlend.api.deps import MAX_ID, IdPath, PlatformDep, StaffDep
from microlend.api.schemas import MoneyIn, Strict
from microlend.security.api_keys import Principal, Role
from microlend.services.origination import reviews

router = APIRouter(prefix="/v1/reviews", tags=["review queue"])


class ReviewEventRead(BaseModel):
    id: int
    action: str = Field(description="opened, claimed, released, approved or rejected")
    actor: str
    note: str | None
    at: datetime


class ReviewCaseRead(BaseModel):
    id: int
    application_id: int
    status: str = Field(description="open, claimed, approved or rejected")
    reasons: list[Any] = Field(description="Why the application was referred: [{code, en, zh}]")
    claimed_by: str | None
    claimed_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    created_at: datetime


class ReviewCaseDetail(ReviewCaseRead):
    events: list[ReviewEventRead] = Field(description="Every action on the case, oldest first")
    application: dict[str, Any] | None = Field(
        description="The application in short (masked identity, offer, decision_record_id)")
    settlement: dict[str, Any] | None = Field(None, description="What the decision changed (approve/reject only)")


class ReviewRelease(Strict):
    note: str | None = Field(None, description="Why (optional, up to 1000 characters)")


class ReviewApprove(Strict):
    note: str = Field(description="Why: 1 to 1000 characters, kept in the case's audit trail")
    limit: MoneyIn | None = Field(None, description="A limit other than the offered one (checked against the product): "
                                                   "an operator at most the offer, an administrator any")


class ReviewReject(Strict):
    note: str = Field(description="Why: 1 to 1000 characters, kept in the case's audit trail")


def _detail(case: reviews.ReviewCase) -> ReviewCaseDetail:
    return ReviewCaseDetail(**case.to_dict())


def _is_admin(principal: Principal) -> bool:
    return principal.role is Role.ADMIN


@router.get("", response_model=list[ReviewCaseRead])
def list_reviews(platform: PlatformDep, _: StaffDep,
                 status: Annotated[str | None, Query(max_length=12,
                                                     description="open, claimed, approved or rejected")] = None,
                 limit: Annotated[int, Query(ge=1, le=reviews.MAX_PAGE)] = 50,
                 offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0):
    """The queue, oldest first (the order to work it in)."""
    found = reviews.list_cases(platform.reader(), status=status, limit=limit, offset=offset)
    return [ReviewCaseRead(**{k: v for k, v in c.to_dict().items() if k in ReviewCaseRead.model_fields})
            for c in found]


@router.get("/{case_id}", response_model=ReviewCaseDetail)
def read_review(case_id: IdPath, platform: PlatformDep, _: StaffDep):
    """One case with its audit trail and the application (and its decision record id)."""
    return _detail(reviews.get_case(platform.reader(), case_id))


@router.post("/{case_id}/claim", response_model=ReviewCaseDetail)
def claim_review(case_id: IdPath, platform: PlatformDep, principal: StaffDep):
    """Take the case; 409 ``review_claimed`` when someone else has it (claiming your own again changes nothing)."""
    return _detail(reviews.claim(platform=platform, case_id=case_id, actor=principal.actor))


@router.post("/{case_id}/release", response_model=ReviewCaseDetail)
def release_review(case_id: IdPath, platform: PlatformDep, principal: StaffDep, body: ReviewRelease | None = None):
    """Put the case back in the queue (the claimer, or an administrator)."""
    return _detail(reviews.release(platform=platform, case_id=case_id, actor=principal.actor,
                                   is_admin=_is_admin(principal), note=body.note if body else None))


@router.post("/{case_id}/approve", response_model=ReviewCaseDetail)
def approve_review(case_id: IdPath, body: ReviewApprove, platform: PlatformDep, principal: StaffDep):
    """Approve the application (its credit line is granted in the same transaction) and close the case.

    403 ``limit_above_offer`` when an operator gives a limit above the offer (or where there is none).
    """
    return _detail(reviews.approve(platform=platform, case_id=case_id, actor=principal.actor, note=body.note,
                                   limit=body.limit, is_admin=_is_admin(principal)))


@router.post("/{case_id}/reject", response_model=ReviewCaseDetail)
def reject_review(case_id: IdPath, body: ReviewReject, platform: PlatformDep, principal: StaffDep):
    """Reject the application and close the case."""
    return _detail(reviews.reject(platform=platform, case_id=case_id, actor=principal.actor, note=body.note,
                                  is_admin=_is_admin(principal)))
