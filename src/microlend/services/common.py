"""Small helpers shared by the services."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.money import FEN, is_whole_fen


def require(obj, what: str, ident, field: str):
    """The object, or a 404 naming what was not found."""
    if obj is None:
        raise NotFoundError(f"{what} {ident} not found", code=f"{what.replace(' ', '_')}_not_found", field=field)
    return obj


def check_amount(amount: Decimal, field: str = "amount") -> Decimal:
    """A positive amount in whole fen (no sub-fen, no negatives, no NaN)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValidationError("amount must be a finite decimal", code="invalid_amount", field=field)
    if amount <= 0:
        raise ValidationError("amount must be positive", code="invalid_amount", field=field)
    if amount >= Decimal("1e13"):
        raise ValidationError("amount is too large", code="invalid_amount", field=field)
    if not is_whole_fen(amount):
        raise ValidationError("amount must not have parts smaller than one fen (0.01)", code="invalid_amount", field=field)
    return amount.quantize(FEN)


def fingerprint(payload: dict) -> str:
    """A stable hash of a request body, to catch a key reused for a different request."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def check_replay(existing, request_fingerprint: str | None):
    """A stored result for this idempotency key: the same request gets it back, another gets 409."""
    if request_fingerprint is not None and existing.request_fingerprint not in (None, request_fingerprint):
        raise ConflictError(
            "this Idempotency-Key was already used for a different request",
            code="idempotency_key_reused", field="Idempotency-Key",
        )
    return existing


def is_unique_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text


@contextmanager
def session_of(uow) -> Iterator:
    """The session of ``uow``: used as is when open (the caller's transaction), else opened here."""
    if uow.session is not None:
        yield uow.session
        return
    with uow:
        yield uow.session
