"""Issuing API keys and finding out who holds one."""

from __future__ import annotations

from microlend.clock import Clock
from microlend.errors import AuthenticationError, NotFoundError, ValidationError
from microlend.security.api_keys import NewKey, Principal, Role, generate_key, secret_matches, split_token
from microlend.services.common import require
from microlend.store.uow import UnitOfWork


def create_key(*, uow: UnitOfWork, clock: Clock, role: Role, name: str, customer_id: int | None = None) -> NewKey:
    """A new key; its token is shown once and cannot be recovered later."""
    if role is Role.BORROWER and customer_id is None:
        raise ValidationError("a borrower key must be bound to a customer", code="customer_required", field="customer_id")
    if role is not Role.BORROWER and customer_id is not None:
        raise ValidationError("only borrower keys are bound to a customer", code="customer_not_allowed", field="customer_id")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("a key name of 1 to 100 characters is required", code="invalid_name", field="name")
    new = generate_key()
    with uow:
        if customer_id is not None:
            require(uow.customers.get(customer_id), "customer", customer_id, "customer_id")
        uow.api_keys.add(key_id=new.key_id, secret_hash=new.secret_hash, role=role.value,
                         customer_id=customer_id, name=name, at=clock.now())
        uow.commit()
    return new


def authenticate(*, uow: UnitOfWork, token: str) -> Principal:
    key_id, secret = split_token(token)
    with uow:
        row = uow.api_keys.get_by_key_id(key_id)
    if row is None or row.revoked_at is not None or not secret_matches(secret, row.secret_hash):
        raise AuthenticationError("the API key is not valid", code="invalid_api_key", field="authorization")
    return Principal(key_id=row.key_id, role=Role(row.role), customer_id=row.customer_id, name=row.name)


def revoke_key(*, uow: UnitOfWork, clock: Clock, key_id: str) -> None:
    """Revoke a key at once; requests with it get 401 from then on."""
    with uow:
        row = uow.api_keys.get_by_key_id(key_id)
        if row is None:
            raise NotFoundError(f"API key {key_id} not found", code="api_key_not_found", field="key_id")
        if row.revoked_at is None:
            uow.api_keys.revoke(key_id, at=clock.now())
            uow.commit()
