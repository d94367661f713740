"""Reading a risk-sharing offer sent with an application (guarantor, collateral or credit insurance)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from microlend.errors import ValidationError
from microlend.rules.policy import RiskSharingOffer

KINDS = ("guarantor", "collateral", "insurance")
_FIELDS = {
    "guarantor": {"kind", "guarantor_customer_id"},
    "collateral": {"kind", "collateral_kind", "collateral_value", "collateral_description"},
    "insurance": {"kind", "insurer", "policy_number"},
}


def _bad(message: str, field: str) -> ValidationError:
    return ValidationError(message, code="invalid_risk_sharing", field=f"risk_sharing.{field}")


def _text(data: dict, name: str, limit: int, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _bad(f"{name} is required", name)
        return None
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= limit:
        raise _bad(f"{name} must be text of 1 to {limit} characters", name)
    return value.strip()


def parse_offer(data: dict[str, Any] | None) -> RiskSharingOffer | None:
    """The offer as a policy input; a malformed one is refused with the field that is wrong."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _bad("risk_sharing must be an object", "kind")
    kind = data.get("kind")
    if kind not in KINDS:
        raise _bad(f"kind must be one of {', '.join(KINDS)}", "kind")
    unknown = set(data) - _FIELDS[kind]
    if unknown:
        raise _bad(f"unknown field {sorted(unknown)[0]} for {kind}", sorted(unknown)[0])
    if kind == "guarantor":
        customer_id = data.get("guarantor_customer_id")
        if isinstance(customer_id, bool) or not isinstance(customer_id, int) or not 1 <= customer_id <= 2_147_483_647:
            raise _bad("guarantor_customer_id must be a customer id", "guarantor_customer_id")
        return RiskSharingOffer(kind=kind, guarantor_customer_id=customer_id)
    if kind == "collateral":
        try:
            value = Decimal(str(data.get("collateral_value")))
        except (InvalidOperation, ValueError):
            raise _bad("collateral_value must be a decimal amount", "collateral_value") from None
        if not value.is_finite() or value <= 0 or value >= Decimal("1e13") or value != value.quantize(Decimal("0.01")):
            raise _bad("collateral_value must be a positive amount in whole fen", "collateral_value")
        return RiskSharingOffer(kind=kind, collateral_kind=_text(data, "collateral_kind", 40, required=True),
                                collateral_value=value,
                                collateral_description=_text(data, "collateral_description", 500, required=False))
    return RiskSharingOffer(kind=kind, insurer=_text(data, "insurer", 40, required=True).lower(),
                            policy_number=_text(data, "policy_number", 60, required=True))
