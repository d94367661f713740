"""Dependencies: the platform, who is asking, and what they may see."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Path, Request, Security
from fastapi.security import APIKeyHeader

from microlend.errors import AuthenticationError, NotFoundError, PermissionDeniedError, ValidationError
from microlend.security.api_keys import Principal, Role
from microlend.services import keys
from microlend.services.platform import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


# Declared as security schemes so /docs offers an "Authorize" button.
_bearer_header = APIKeyHeader(name="Authorization", auto_error=False, scheme_name="Bearer",
                              description="`Bearer mlk_<key id>_<secret>`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey", description="`mlk_<key id>_<secret>`")


def get_principal(
    platform: PlatformDep,
    authorization: Annotated[str | None, Security(_bearer_header)] = None,
    x_api_key: Annotated[str | None, Security(_api_key_header)] = None,
) -> Principal:
    token = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("use 'Authorization: Bearer <api key>'", code="invalid_api_key", field="authorization")
        token = value.strip()
    if not token:
        raise AuthenticationError("an API key is required", code="missing_api_key", field="authorization")
    return keys.authenticate(uow=platform.reader(), token=token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_staff(principal: PrincipalDep) -> Principal:
    if not principal.is_staff:
        raise PermissionDeniedError("this action is for staff only", code="forbidden", field=None)
    return principal


def require_admin(principal: PrincipalDep) -> Principal:
    if principal.role is not Role.ADMIN:
        raise PermissionDeniedError("this action is for administrators only", code="forbidden", field=None)
    return principal


StaffDep = Annotated[Principal, Depends(require_staff)]
AdminDep = Annotated[Principal, Depends(require_admin)]


def ensure_visible(principal: Principal, customer_id: int, what: str, ident, field: str) -> None:
    """Borrowers see only their own records; anyone else's look like they do not exist."""
    if principal.role is Role.BORROWER and principal.customer_id != customer_id:
        raise NotFoundError(f"{what} {ident} not found", code=f"{what.replace(' ', '_')}_not_found", field=field)


#: Ids are 32-bit on both databases; larger path ids are refused before any query.
MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]

_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key(idempotency_key: Annotated[str | None, Header()] = None) -> str | None:
    if idempotency_key is None:
        return None
    if not _KEY_PATTERN.match(idempotency_key):
        raise ValidationError("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
                              code="invalid_idempotency_key", field="Idempotency-Key")
    return idempotency_key


IdempotencyKeyDep = Annotated[str | None, Depends(idempotency_key)]
