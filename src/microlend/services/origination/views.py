"""What an application looks like to staff (everything, PII masked) and to the applicant (decision, reasons)."""

from __future__ import annotations

import json
from typing import Any

from microlend.security.masking import mask_name


def _money(value) -> str | None:
    return None if value is None else format(value, "f")


def application_view(row, *, record: dict[str, Any] | None, for_staff: bool) -> dict[str, Any]:
    reasons = json.loads(row.reasons) if row.reasons else []
    view: dict[str, Any] = {
        "id": row.id, "status": row.status, "created_at": row.created_at, "decided_at": row.decided_at,
        "customer_id": row.customer_id, "credit_line_id": row.credit_line_id,
        "offered_limit": _money(row.offered_limit) if row.status != "rejected" else None,
        "offered_daily_rate": _money(row.offered_daily_rate) if row.status != "rejected" else None,
        "reasons": reasons,
    }
    if not for_staff:
        return view
    view.update({
        "name": mask_name(row.name), "id_number": row.id_number_masked, "phone": row.phone_masked,
        "bank_card": row.card_masked, "ip": row.ip_masked, "declared_income": _money(row.declared_income),
        "industry": row.industry, "region": row.region, "product_code": row.product_code, "channel": row.channel,
        "score": row.score, "band": row.band, "decision_record_id": row.decision_record_id,
        "created_by": row.created_by, "decision_record": record,
    })
    return view
