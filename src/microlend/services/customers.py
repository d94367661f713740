"""Onboarding customers and binding their bank cards."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from microlend.clock import Clock
from microlend.errors import ConflictError
from microlend.lending.customers import Customer
from microlend.lending.identity import (
    check_applicant_age,
    normalize_bank_card,
    normalize_name,
    normalize_phone,
    parse_id_number,
)
from microlend.security.fields import FieldCipher
from microlend.security.masking import mask_bank_card, mask_id_number, mask_phone
from microlend.services.common import is_unique_violation, require
from microlend.store.uow import UnitOfWork


def register_customer(
    *, uow: UnitOfWork, cipher: FieldCipher, clock: Clock, name: str, id_number: str, phone: str,
    bank_card: str | None = None, min_age: int = 18, max_age: int = 55,
) -> Customer:
    """Validate every identity element, then store the customer with PII encrypted.

    One ID number is one customer: a second registration gets ``customer_exists``.
    """
    clean_name = normalize_name(name)
    info = parse_id_number(id_number)
    check_applicant_age(info, on=clock.business_date(), min_age=min_age, max_age=max_age)
    clean_phone = normalize_phone(phone)
    card = normalize_bank_card(bank_card) if bank_card else None
    id_hash = cipher.lookup_hash(info.number, field="id_number")
    with uow:
        if uow.customers.get_by_id_hash(id_hash) is not None:
            raise ConflictError("a customer with this ID number already exists", code="customer_exists", field="id_number")
        customer = Customer(
            name=clean_name,
            id_number_token=cipher.encrypt(info.number, field="id_number"), id_number_hash=id_hash,
            id_number_masked=mask_id_number(info.number), birth_date=info.birth_date, sex=info.sex,
            province_code=info.province_code,
            phone_token=cipher.encrypt(clean_phone, field="phone"),
            phone_hash=cipher.lookup_hash(clean_phone, field="phone"), phone_masked=mask_phone(clean_phone),
            created_at=clock.now(),
        )
        if card:
            _set_card(customer, cipher, card)
        uow.customers.add(customer)
        try:
            uow.commit()
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise ConflictError("a customer with this ID number already exists", code="customer_exists", field="id_number") from exc
            raise
        return customer


def bind_card(*, uow: UnitOfWork, cipher: FieldCipher, customer_id: int, bank_card: str) -> Customer:
    card = normalize_bank_card(bank_card)
    with uow:
        customer = require(uow.customers.get(customer_id), "customer", customer_id, "customer_id")
        _set_card(customer, cipher, card)
        uow.commit()
        return customer


def get_customer(*, uow: UnitOfWork, customer_id: int) -> Customer:
    with uow:
        return require(uow.customers.get(customer_id), "customer", customer_id, "customer_id")


def list_customers(*, uow: UnitOfWork, limit: int = 50, offset: int = 0) -> list[Customer]:
    with uow:
        return uow.customers.list(limit=limit, offset=offset)


def _set_card(customer: Customer, cipher: FieldCipher, card: str) -> None:
    customer.card_token = cipher.encrypt(card, field="bank_card")
    customer.card_hash = cipher.lookup_hash(card, field="bank_card")
    customer.card_masked = mask_bank_card(card)
