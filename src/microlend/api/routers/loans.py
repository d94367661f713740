"""Drawdowns, loans, schedules, payoff quotes and repayments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from microlend.api import schemas, views
from microlend.api.deps import IdempotencyKeyDep, IdPath, PlatformDep, PrincipalDep, StaffDep, ensure_visible
from microlend.api.schemas import DateIn
from microlend.errors import PermissionDeniedError
from microlend.security.api_keys import Role
from microlend.services import drawdowns, ledger, loans, repayments
from microlend.services.common import fingerprint

router = APIRouter(tags=["loans"])


def _visible_loan(platform, principal, loan_id: IdPath):
    loan = loans.get_loan(uow=platform.reader(), loan_id=loan_id)
    ensure_visible(principal, loan.customer_id, "loan", loan_id, "loan_id")
    return loan


@router.get("/v1/drawdowns/{drawdown_id}", response_model=schemas.DrawdownRead)
def read_drawdown(drawdown_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    result = drawdowns.get_drawdown(uow=platform.reader(), drawdown_id=drawdown_id)
    ensure_visible(principal, result.customer_id, "drawdown", drawdown_id, "drawdown_id")
    return views.drawdown(result)


@router.get("/v1/loans/{loan_id}", response_model=schemas.LoanRead)
def read_loan(loan_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    return views.loan(_visible_loan(platform, principal, loan_id), platform.clock.business_date())


@router.get("/v1/loans/{loan_id}/schedule", response_model=schemas.ScheduleRead)
def read_schedule(loan_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    return views.schedule(_visible_loan(platform, principal, loan_id), platform.clock.business_date())


@router.get("/v1/loans/{loan_id}/payoff-quote", response_model=schemas.PayoffQuoteRead)
def payoff_quote(loan_id: IdPath, platform: PlatformDep, principal: PrincipalDep,
                 on: Annotated[DateIn | None, Query(alias="date")] = None):
    _visible_loan(platform, principal, loan_id)
    quote = loans.payoff_quote(uow=platform.reader(), clock=platform.clock, loan_id=loan_id, on=on)
    return schemas.PayoffQuoteRead(
        loan_id=loan_id, date=quote.on, total=quote.total,
        components=[schemas.AllocationPartRead(component=c, installment=n, amount=a) for c, n, a in quote.components],
    )


@router.post("/v1/loans/{loan_id}/repayments", status_code=status.HTTP_201_CREATED, response_model=schemas.RepaymentRead)
def repay(loan_id: IdPath, body: schemas.RepaymentCreate, platform: PlatformDep, principal: PrincipalDep,
          key: IdempotencyKeyDep):
    _visible_loan(platform, principal, loan_id)
    if body.channel == "transfer" and principal.role is Role.BORROWER:
        raise PermissionDeniedError("borrowers repay by card; transfers are recorded by staff",
                                    code="forbidden", field="channel")
    result = repayments.repay(
        uow=platform.uow(), clock=platform.clock, rail=platform.rail, cipher=platform.cipher, loan_id=loan_id,
        amount=body.amount, channel=repayments.Channel(body.channel), idempotency_scope=principal.key_id,
        idempotency_key=key, request_fingerprint=fingerprint({"loan_id": loan_id, **body.model_dump(mode="json")}),
    )
    return views.repayment(result)


@router.get("/v1/loans/{loan_id}/repayments", response_model=list[schemas.RepaymentRead])
def list_repayments(loan_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    _visible_loan(platform, principal, loan_id)
    return [views.repayment(r) for r in loans.list_repayments(uow=platform.reader(), loan_id=loan_id)]


@router.get("/v1/loans/{loan_id}/reconciliation", response_model=schemas.ReconciliationRead)
def reconcile(loan_id: IdPath, platform: PlatformDep, _: StaffDep):
    mismatches = ledger.reconcile_loan(uow=platform.reader(), loan_id=loan_id)
    return schemas.ReconciliationRead(
        loan_id=loan_id, reconciled=not mismatches,
        mismatches=[{"account": m.account, "loan_says": str(m.loan_says), "ledger_says": str(m.ledger_says)}
                    for m in mismatches],
    )
