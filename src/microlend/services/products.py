"""Defining loan products."""

from __future__ import annotations

from microlend.clock import Clock
from microlend.errors import ConflictError
from microlend.lending.products import REFERENCE_PRODUCT, LoanProduct, product_from_dict, validate_product
from microlend.services import config_cache
from microlend.services.common import require
from microlend.store.uow import UnitOfWork


def create_product(*, uow: UnitOfWork, clock: Clock, data: dict) -> LoanProduct:
    """Validate (shape and annualized-rate cap) and store a new product."""
    product = validate_product(product_from_dict(data))
    with uow:
        if uow.products.get(product.code) is not None:
            raise ConflictError(f"product {product.code} already exists", code="product_exists", field="code")
        uow.products.add(product, at=clock.now())
        uow.commit()
    config_cache.invalidate()
    return product


def get_product(*, uow: UnitOfWork, code: str) -> LoanProduct:
    with uow:
        return require(uow.products.get(code), "product", code, "product_code")


def list_products(*, uow: UnitOfWork) -> list[LoanProduct]:
    with uow:
        return uow.products.list()


def ensure_reference_product(*, uow: UnitOfWork, clock: Clock) -> LoanProduct:
    with uow:
        existing = uow.products.get(REFERENCE_PRODUCT.code)
        if existing is not None:
            return existing
        uow.products.add(validate_product(REFERENCE_PRODUCT), at=clock.now())
        uow.commit()
        return REFERENCE_PRODUCT
