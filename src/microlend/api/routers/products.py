"""Loan products: anyone signed in reads them, administrators define them."""

from __future__ import annotations

from fastapi import APIRouter, status

from microlend.api import schemas, views
from microlend.api.deps import AdminDep, PlatformDep, PrincipalDep
from microlend.services import products

router = APIRouter(prefix="/v1/products", tags=["products"])


@router.get("", response_model=list[schemas.ProductRead])
def list_products(platform: PlatformDep, _: PrincipalDep):
    return [views.product(p) for p in products.list_products(uow=platform.reader())]


@router.get("/{code}", response_model=schemas.ProductRead)
def read_product(code: str, platform: PlatformDep, _: PrincipalDep):
    return views.product(products.get_product(uow=platform.reader(), code=code))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.ProductRead)
def create_product(body: schemas.ProductCreate, platform: PlatformDep, _: AdminDep):
    data = body.model_dump(exclude_none=True)
    return views.product(products.create_product(uow=platform.uow(), clock=platform.clock, data=data))
