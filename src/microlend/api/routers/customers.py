"""Customers: onboarding (staff), reading (staff or the customer), card binding."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from microlend.api import schemas, views
from microlend.api.deps import MAX_ID, IdPath, PlatformDep, PrincipalDep, StaffDep, ensure_visible
from microlend.services import credit_lines, customers, loans

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.CustomerRead)
def create_customer(body: schemas.CustomerCreate, platform: PlatformDep, _: StaffDep):
    s = platform.settings
    created = customers.register_customer(
        uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, name=body.name, id_number=body.id_number,
        phone=body.phone, bank_card=body.bank_card, min_age=s.min_applicant_age, max_age=s.max_applicant_age,
    )
    return views.customer(created)


@router.get("", response_model=list[schemas.CustomerRead])
def list_customers(platform: PlatformDep, _: StaffDep,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0):
    return [views.customer(c) for c in customers.list_customers(uow=platform.reader(), limit=limit, offset=offset)]


@router.get("/{customer_id}", response_model=schemas.CustomerRead)
def read_customer(customer_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    ensure_visible(principal, customer_id, "customer", customer_id, "customer_id")
    return views.customer(customers.get_customer(uow=platform.reader(), customer_id=customer_id))


@router.put("/{customer_id}/bank-card", response_model=schemas.CustomerRead)
def bind_bank_card(customer_id: IdPath, body: schemas.BankCardBind, platform: PlatformDep, principal: PrincipalDep):
    ensure_visible(principal, customer_id, "customer", customer_id, "customer_id")
    return views.customer(customers.bind_card(uow=platform.uow(), cipher=platform.cipher, customer_id=customer_id,
                                              bank_card=body.bank_card))


@router.get("/{customer_id}/credit-lines", response_model=list[schemas.CreditLineRead])
def customer_lines(customer_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    ensure_visible(principal, customer_id, "customer", customer_id, "customer_id")
    return [views.line(l) for l in credit_lines.lines_of_customer(uow=platform.reader(), customer_id=customer_id)]


@router.get("/{customer_id}/loans", response_model=list[schemas.LoanRead])
def customer_loans(customer_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    ensure_visible(principal, customer_id, "customer", customer_id, "customer_id")
    today = platform.clock.business_date()
    return [views.loan(l, today) for l in loans.loans_of_customer(uow=platform.reader(), customer_id=customer_id)]
