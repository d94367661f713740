"""Quotes, the ledger's trial balance, API keys and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import text

from microlend.api import schemas, views
from microlend.api.deps import AdminDep, PlatformDep, PrincipalDep, StaffDep, ensure_visible
from microlend.api.schemas import DateIn
from microlend.errors import NotFoundError
from microlend.lending.products import RepaymentMethod
from microlend.security.api_keys import Role
from microlend.services import credit_lines, keys, ledger, products
from microlend.services.quotes import make_quote

router = APIRouter(tags=["quotes, ledger, keys"])


@router.get("/v1/health", tags=["health"])
def health(platform: PlatformDep):
    with platform.reader() as uow:
        uow.session.execute(text("SELECT 1"))  # type: ignore[union-attr]
    return {"status": "ok", "business_date": platform.clock.business_date().isoformat()}


@router.get("/v1/me", response_model=schemas.PrincipalRead)
def me(principal: PrincipalDep):
    return schemas.PrincipalRead(key_id=principal.key_id, role=principal.role.value,
                                 customer_id=principal.customer_id, name=principal.name)


@router.post("/v1/quotes", response_model=schemas.QuoteRead)
def quote(body: schemas.QuoteRequest, platform: PlatformDep, principal: PrincipalDep):
    product_code, rate = body.product_code, body.daily_rate
    if body.credit_line_id is not None:
        try:
            line = credit_lines.get_line(uow=platform.reader(), line_id=body.credit_line_id)
        except NotFoundError as exc:  # same answer as for another customer's line
            exc.field = "credit_line_id"
            raise
        ensure_visible(principal, line.customer_id, "credit line", body.credit_line_id, "credit_line_id")
        product_code = line.product_code
        rate = rate if rate is not None else line.daily_rate
    product = products.get_product(uow=platform.reader(), code=product_code)
    result = make_quote(
        product=product, amount=body.amount, term=body.term,
        daily_rate=rate if rate is not None else product.daily_rate_max,
        start=body.start_date or platform.clock.business_date(),
        method=RepaymentMethod(body.method) if body.method else None,
    )
    return views.quote(result)


@router.get("/v1/ledger/trial-balance", response_model=schemas.TrialBalanceRead)
def trial_balance(platform: PlatformDep, _: StaffDep, through: Annotated[DateIn | None, Query()] = None):
    tb = ledger.get_trial_balance(uow=platform.reader(), through=through)
    return schemas.TrialBalanceRead(
        through=through, total_debit=tb.total_debit, total_credit=tb.total_credit, balanced=tb.balanced,
        rows=[schemas.TrialBalanceRow(account=r.account.code, name=r.account.name, type=r.account.type.value,
                                      debit=r.debit, credit=r.credit, balance=r.balance) for r in tb.rows],
    )


@router.post("/v1/api-keys", status_code=status.HTTP_201_CREATED, response_model=schemas.ApiKeyRead)
def create_api_key(body: schemas.ApiKeyCreate, platform: PlatformDep, _: AdminDep):
    new = keys.create_key(uow=platform.uow(), clock=platform.clock, role=Role(body.role), name=body.name,
                          customer_id=body.customer_id)
    return schemas.ApiKeyRead(key_id=new.key_id, role=body.role, customer_id=body.customer_id, name=body.name,
                              token=new.token)
