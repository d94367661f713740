"""The risk check every drawdown passes before any money is reserved.

It evaluates the active drawdown rule set against the line, the customer and the velocity
windows, stores an explainable decision record, and records the attempt in the windows
(every attempt counts, refused ones included: repeated attempts are themselves a signal).
Approve lets the drawdown go on; step-up pauses the customer until they verify again;
review and reject refuse the drawdown. A paused customer is refused before any rule runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from microlend.errors import BusinessRuleError
from microlend.rules.engine import evaluate
from microlend.rules.velocity import VelocityEvent
from microlend.rules.velocity_db import DatabaseVelocityStore
from microlend.services import config_cache
from microlend.services.common import require
from microlend.services.origination import block_list, pauses, rule_sets
from microlend.services.origination.applications import record_after_commit
from microlend.services.origination.keys import key_hash, mask_ip, normalize_device, normalize_ip
from microlend.services.origination.replay import RecordingWindows, jsonable
from microlend.services.origination.settle import remember_device
from microlend.store.origination_tables import customer_devices, decision_records, shadow_results
from microlend.store.tables import drawdowns, loans

_REFUSALS = {
    "step_up": ("verification_required", "verify your identity again before drawing down (POST "
                "/v1/customers/{id}/verification)"),
    "review": ("drawdown_referred", "the drawdown was referred for review and not made"),
    "reject": ("drawdown_rejected", "the drawdown was refused by the risk rules"),
}


@dataclass(frozen=True)
class DrawdownCheck:
    outcome: str
    record_id: int
    reasons: list[dict[str, str]]


def check_drawdown(*, platform, line_id: int, amount: Decimal, term: int | None = None,
                   device_id: str | None = None, ip: str | None = None, actor: str) -> DrawdownCheck:
    """Check a drawdown; returns on approve, raises a BusinessRuleError naming the outcome otherwise."""
    cipher, now, today = platform.cipher, platform.clock.now(), platform.clock.business_date()
    device = key_hash(cipher, "device", normalize_device(device_id)) if device_id else None
    address = key_hash(cipher, "ip", normalize_ip(ip)) if ip else None
    with platform.reader() as reader:
        line = require(reader.lines.get(line_id), "credit line", line_id, "line_id")
        customer = require(reader.customers.get(line.customer_id), "customer", line.customer_id, "customer_id")
        if pauses.is_paused(reader.session, customer.id):
            raise BusinessRuleError("the customer is paused until they pass verification again",
                                    code="customer_paused", field="customer_id")
        keys = {"id_number": customer.id_number_hash, "phone": customer.phone_hash, "device": device,
                "ip": address, "card": customer.card_hash}
        keys = {kind: value for kind, value in keys.items() if value}
        facts = {"application": {"amount": amount, "term": term, "customer_id": customer.id,
                                 "product": line.product_code, "channel": "drawdown"},
                 "keys": keys, "bureau": None, "statements": None, "findings": frozenset(),
                 "line": _line_facts(reader.session, line, today),
                 "lists": block_list.blocked_sets(reader.session, keys)}
        ttl, session = platform.settings.config_cache_seconds, reader.session
        rule_set = config_cache.cached(platform.config_cache, ("rule_set", "drawdown"), ttl,
                                       lambda: rule_sets.active_rule_set(session, "drawdown"))
        shadow_set = config_cache.cached(platform.config_cache, ("shadow_set", "drawdown"), ttl,
                                         lambda: rule_sets.shadow_rule_set(session, "drawdown"))
        windows = RecordingWindows(platform.velocity)
        windows.prefetch([s for s in (rule_set, shadow_set) if s is not None], keys, now,
                         connection=session.connection() if isinstance(platform.velocity, DatabaseVelocityStore)
                         else None)
    evaluation = evaluate(rule_set, facts, windows, now)
    shadow = evaluate(shadow_set, facts, windows, now) if shadow_set is not None else None
    outcome = evaluation.decision
    reasons = [{"code": r.id, "en": r.reason, "zh": r.reason_zh} for r in evaluation.hits]
    record = jsonable({
        "kind": "drawdown", "application_id": None, "customer_id": customer.id, "credit_line_id": line_id,
        "at": now.isoformat(), "business_date": today.isoformat(),
        "inputs": {"amount": amount, "device": device[:12] if device else None, "ip": ip and _mask(ip)},
        "sources": {}, "findings": [], "facts": facts, "windows": windows.to_json(), "rules": evaluation.to_dict(),
        "score": None, "policy": None,
        "decision": {"outcome": outcome, "status": "allowed" if outcome == "approve" else "refused",
                     "parts": {"rules": outcome, "sources": "approve", "policy": None}, "after_step_up": None,
                     "reasons": reasons},
        "versions": {"rule_set": {"name": rule_set.name, "version": rule_set.version,
                                  "fingerprint": rule_set.fingerprint}, "model": None, "policy": None},
    })
    in_database = isinstance(platform.velocity, DatabaseVelocityStore)
    with platform.uow() as uow:
        record_id = uow.session.execute(insert(decision_records).values(
            kind="drawdown", customer_id=customer.id, credit_line_id=line_id, decision=outcome,
            record=json.dumps(record, ensure_ascii=False), rule_set=rule_set.name, rule_set_version=rule_set.version,
            rule_set_fingerprint=rule_set.fingerprint, created_at=now).returning(decision_records.c.id)).scalar_one()
        if shadow is not None:
            uow.session.execute(insert(shadow_results).values(
                decision_record_id=record_id, stage="drawdown", rule_set=shadow.rule_set,
                rule_set_version=shadow.version, live_decision=outcome, shadow_decision=shadow.decision,
                results=json.dumps([r.to_dict() for r in shadow.results if r.hit or r.error], ensure_ascii=False),
                created_at=now))
        if outcome == "step_up":
            pauses.pause_customer(uow=uow, customer_id=customer.id, reason="step-up verification required at drawdown",
                                  source_kind="drawdown", source_id=record_id, actor="system:risk", now=now)
        if device and outcome == "approve":
            remember_device(uow, customer.id, device, now)
        event = VelocityEvent(kind="drawdown", at=now, keys=keys, amount=amount, ref=f"drawdown-check:{record_id}")
        if in_database:
            platform.velocity.record(event, connection=uow.session.connection())
        uow.commit()
    if not in_database:
        record_after_commit(platform.velocity, event)
    if outcome != "approve":
        code, message = _REFUSALS[outcome]
        raise BusinessRuleError(message, code=code, field=None,
                                extra={"decision_record_id": record_id, "reasons": reasons})
    return DrawdownCheck(outcome=outcome, record_id=record_id, reasons=reasons)


def _line_facts(session, line, today) -> dict[str, Any]:
    devices = frozenset(session.execute(select(customer_devices.c.device_hash)
                                        .where(customer_devices.c.customer_id == line.customer_id)).scalars())
    count = session.execute(select(func.count()).select_from(drawdowns)
                            .where(drawdowns.c.credit_line_id == line.id)).scalar_one()
    dpd = session.execute(select(func.max(loans.c.dpd)).where(loans.c.credit_line_id == line.id)).scalar() or 0
    return {"limit": line.limit, "available": line.available, "granted_days_ago": (today - line.opened_on).days,
            "devices_seen": devices, "drawn": line.used, "outstanding": line.used, "drawdowns": count,
            "days_past_due": dpd, "status": line.status}


def _mask(ip: str) -> str:
    return mask_ip(normalize_ip(ip))
