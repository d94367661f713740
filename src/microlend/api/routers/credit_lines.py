"""Credit lines: grant and manage (staff), read (staff or the owner), draw down."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from microlend.api import schemas, views
from microlend.api.deps import IdempotencyKeyDep, IdPath, PlatformDep, PrincipalDep, StaffDep, ensure_visible
from microlend.errors import BusinessRuleError, ValidationError
from microlend.lending.products import RepaymentMethod
from microlend.security.api_keys import Role
from microlend.services import credit_lines, drawdowns
from microlend.services.common import fingerprint
from microlend.services.origination import drawdown_checks

router = APIRouter(prefix="/v1/credit-lines", tags=["credit lines"])


def _visible_line(platform, principal, line_id: IdPath):
    line = credit_lines.get_line(uow=platform.reader(), line_id=line_id)
    ensure_visible(principal, line.customer_id, "credit line", line_id, "line_id")
    return line


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.CreditLineRead)
def grant(body: schemas.CreditLineCreate, platform: PlatformDep, principal: StaffDep):
    line = credit_lines.grant_line(
        uow=platform.uow(), clock=platform.clock, customer_id=body.customer_id, product_code=body.product_code,
        limit=body.limit, daily_rate=body.daily_rate, actor=principal.actor, reason=body.reason,
    )
    return views.line(line)


@router.get("/{line_id}", response_model=schemas.CreditLineRead)
def read_line(line_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    return views.line(_visible_line(platform, principal, line_id))


@router.get("/{line_id}/events", response_model=list[schemas.CreditLineEventRead])
def line_events(line_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    _visible_line(platform, principal, line_id)
    return [schemas.CreditLineEventRead(**e) for e in credit_lines.line_history(uow=platform.reader(), line_id=line_id)]


@router.post("/{line_id}/freeze", response_model=schemas.CreditLineRead)
def freeze(line_id: IdPath, body: schemas.ReasonBody, platform: PlatformDep, principal: StaffDep):
    return views.line(credit_lines.freeze_line(uow=platform.uow(), clock=platform.clock, line_id=line_id,
                                               reason=body.reason, actor=principal.actor))


@router.post("/{line_id}/unfreeze", response_model=schemas.CreditLineRead)
def unfreeze(line_id: IdPath, body: schemas.ReasonBody, platform: PlatformDep, principal: StaffDep):
    return views.line(credit_lines.unfreeze_line(uow=platform.uow(), clock=platform.clock, line_id=line_id,
                                                 reason=body.reason, actor=principal.actor))


@router.post("/{line_id}/limit", response_model=schemas.CreditLineRead)
def change_limit(line_id: IdPath, body: schemas.LimitChange, platform: PlatformDep, principal: StaffDep):
    return views.line(credit_lines.change_limit(uow=platform.uow(), clock=platform.clock, line_id=line_id,
                                                limit=body.limit, reason=body.reason, actor=principal.actor))


@router.post("/{line_id}/close", response_model=schemas.CreditLineRead)
def close(line_id: IdPath, body: schemas.ReasonBody, platform: PlatformDep, principal: StaffDep):
    return views.line(credit_lines.close_line(uow=platform.uow(), clock=platform.clock, line_id=line_id,
                                              reason=body.reason, actor=principal.actor))


@router.post("/{line_id}/drawdowns", status_code=status.HTTP_201_CREATED, response_model=schemas.DrawdownRead,
             responses={202: {"description": "Disbursement pending at the payment rail"}})
def draw_down(line_id: IdPath, body: schemas.DrawdownCreate, response: Response, platform: PlatformDep,
              principal: PrincipalDep, key: IdempotencyKeyDep):
    _visible_line(platform, principal, line_id)
    if principal.role is Role.BORROWER and not body.device_id:
        # The borrower's app always knows its device; without it the device rules could be dodged.
        raise ValidationError("device_id is required when a borrower draws down", code="device_id_required",
                              field="device_id")
    result = drawdowns.request_drawdown(
        uow=platform.uow(), rail=platform.rail, cipher=platform.cipher, clock=platform.clock, line_id=line_id,
        amount=body.amount, term=body.term, method=RepaymentMethod(body.method) if body.method else None,
        purpose=body.purpose, idempotency_scope=principal.key_id, idempotency_key=key,
        request_fingerprint=fingerprint({"line_id": line_id, **body.model_dump(mode="json")}),
        risk_check=lambda: drawdown_checks.check_drawdown(platform=platform, line_id=line_id, amount=body.amount,
                                                          term=body.term, device_id=body.device_id, ip=body.ip,
                                                          actor=principal.actor),
    )
    if result.status == "failed":
        raise BusinessRuleError(f"the disbursement failed ({result.failure_code}); nothing was lent",
                                code="disbursement_failed", field="bank_card", extra={"drawdown_id": result.id})
    if result.status in ("pending", "review"):
        response.status_code = status.HTTP_202_ACCEPTED
    return views.drawdown(result)
