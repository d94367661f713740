"""Collections: the cases of past-due loans and the collectors' actions on them (staff only)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from microlend.api.deps import MAX_ID, IdPath, PlatformDep, StaffDep
from microlend.api.schemas import DateIn, MoneyIn, MoneyOut, Strict
from microlend.services import collections

router = APIRouter(prefix="/v1/collections", tags=["collections"])


def _parse_kind(value):
    if not isinstance(value, str) or value not in collections.ACTION_KINDS:
        raise PydanticCustomError("invalid_action_kind",
                                  f"kind must be one of {', '.join(collections.ACTION_KINDS)}")
    return value


ActionKind = Annotated[str, BeforeValidator(_parse_kind),
                       Field(json_schema_extra={"enum": list(collections.ACTION_KINDS)})]


class CaseRead(BaseModel):
    id: int
    loan_id: int
    customer_id: int
    status: str = Field(description="open or closed")
    bucket: str = Field(description="M1, M2, M3 or M3+ (as of the last close of business)")
    dpd: int
    amount_overdue: MoneyOut = Field(description="Past-due principal, interest and fees plus unpaid penalty")
    opened_on: date
    updated_on: date
    closed_on: date | None
    close_reason: str | None = Field(description="cured or paid_off")
    assigned_to: str | None


class ActionRead(BaseModel):
    id: int
    case_id: int
    kind: str
    outcome: str | None
    note: str | None
    promise_amount: MoneyOut | None
    promise_date: date | None
    actor: str
    business_date: date
    at: datetime


class CaseDetailRead(CaseRead):
    actions: list[ActionRead] = Field(description="Oldest first")


class CaseAssign(Strict):
    assignee: str = Field(min_length=1, max_length=100)


class ActionCreate(Strict):
    kind: ActionKind
    note: str | None = Field(None, max_length=1000)
    outcome: str | None = Field(None, max_length=40)
    promise_amount: MoneyIn | None = Field(None, description="promise_to_pay only")
    promise_date: DateIn | None = Field(None, description="promise_to_pay only; not before the business date")


def _case(c: collections.CollectionCase) -> CaseRead:
    return CaseRead(id=c.id, loan_id=c.loan_id, customer_id=c.customer_id, status=c.status, bucket=c.bucket,
                    dpd=c.dpd, amount_overdue=c.amount_overdue, opened_on=c.opened_on, updated_on=c.updated_on,
                    closed_on=c.closed_on, close_reason=c.close_reason, assigned_to=c.assigned_to)


def _action(a: collections.CollectionAction) -> ActionRead:
    return ActionRead(id=a.id, case_id=a.case_id, kind=a.kind, outcome=a.outcome, note=a.note,
                      promise_amount=a.promise_amount, promise_date=a.promise_date, actor=a.actor,
                      business_date=a.business_date, at=a.at)


@router.get("/cases", response_model=list[CaseRead])
def list_cases(
    platform: PlatformDep, _: StaffDep,
    case_status: Annotated[Literal["open", "closed", "all"], Query(alias="status")] = "open",
    bucket: Annotated[Literal["M1", "M2", "M3", "M3+"] | None, Query()] = None,
    assigned_to: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=collections.MAX_PAGE)] = 100,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
):
    """Cases in id order; page on with ``after_id`` = the last id seen."""
    found = collections.list_cases(uow=platform.reader(), status=case_status, bucket=bucket,
                                   assigned_to=assigned_to, limit=limit, after_id=after_id)
    return [_case(c) for c in found]


@router.get("/cases/{case_id}", response_model=CaseDetailRead)
def read_case(case_id: IdPath, platform: PlatformDep, _: StaffDep):
    c = collections.get_case(uow=platform.reader(), case_id=case_id)
    return CaseDetailRead(**_case(c).model_dump(), actions=[_action(a) for a in c.actions])


@router.post("/cases/{case_id}/assign", response_model=CaseRead)
def assign_case(case_id: IdPath, body: CaseAssign, platform: PlatformDep, principal: StaffDep):
    return _case(collections.assign_case(uow=platform.uow(), clock=platform.clock, case_id=case_id,
                                         assignee=body.assignee, actor=principal.actor))


@router.post("/cases/{case_id}/actions", status_code=status.HTTP_201_CREATED, response_model=ActionRead)
def record_action(case_id: IdPath, body: ActionCreate, platform: PlatformDep, principal: StaffDep):
    return _action(collections.record_action(
        uow=platform.uow(), clock=platform.clock, case_id=case_id, kind=body.kind, actor=principal.actor,
        note=body.note, outcome=body.outcome, promise_amount=body.promise_amount, promise_date=body.promise_date,
    ))
