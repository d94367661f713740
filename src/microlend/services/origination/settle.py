"""Settling an application: the status change and everything that goes with it, in one transaction.

Called by the decision itself, by a reviewer's approval or rejection, by a passed step-up
verification and by a guarantor's answer. Everything here runs inside the caller's open
unit of work and never commits: the application's new status, the customer, the credit
line, the risk-sharing arrangement and the audit rows land together or not at all.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from microlend.errors import BusinessRuleError, ConflictError, NotFoundError
from microlend.lending.customers import Customer
from microlend.lending.identity import parse_id_number
from microlend.services.common import is_unique_violation
from microlend.services.credit_lines import grant_in_transaction
from microlend.store.origination_tables import (
    applications,
    customer_devices,
    decision_records,
    risk_sharing_arrangements,
)
from microlend.store.uow import UnitOfWork

FINAL = ("approved", "rejected")
TARGETS = ("approved", "rejected", "review", "awaiting_guarantor", "step_up")


def lock_application(uow: UnitOfWork, application_id: int):
    row = uow.session.execute(select(applications).where(applications.c.id == application_id)
                              .with_for_update()).first()
    if row is None:
        raise NotFoundError(f"application {application_id} not found", code="application_not_found",
                            field="application_id")
    return row


def decision_record(uow: UnitOfWork, record_id: int | None) -> dict[str, Any]:
    if record_id is None:
        return {}
    text = uow.session.execute(select(decision_records.c.record).where(decision_records.c.id == record_id)).scalar()
    return json.loads(text) if text else {}


def ensure_customer(uow: UnitOfWork, platform, app, *, status: str = "active") -> Customer:
    """The applicant's customer record: the existing one for this ID number, or a new one built from the
    application's encrypted identity (tokens are copied, never decrypted except the ID number's facts)."""
    customer = uow.customers.get_by_id_hash(app.id_number_hash)
    if customer is None:
        customer = _new_customer(uow, platform, app, status)
    elif customer.card_token is None:
        customer.card_token, customer.card_hash, customer.card_masked = app.card_token, app.card_hash, app.card_masked
    uow.flush()
    remember_device(uow, customer.id, app.device_hash, platform.clock.now())
    return customer


def _new_customer(uow: UnitOfWork, platform, app, status: str) -> Customer:
    """Insert the customer in a savepoint: when a concurrent decision for the same person inserted first
    (the unique ID-number hash), use theirs instead of failing."""
    info = parse_id_number(platform.cipher.decrypt(app.id_number_token, field="id_number"))
    try:
        with uow.session.begin_nested():
            customer = uow.customers.add(Customer(
                name=app.name, id_number_token=app.id_number_token, id_number_hash=app.id_number_hash,
                id_number_masked=app.id_number_masked, birth_date=info.birth_date, sex=info.sex,
                province_code=info.province_code, phone_token=app.phone_token, phone_hash=app.phone_hash,
                phone_masked=app.phone_masked, card_token=app.card_token, card_hash=app.card_hash,
                card_masked=app.card_masked, created_at=platform.clock.now(), status=status,
            ))
            uow.flush()
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        customer = uow.customers.get_by_id_hash(app.id_number_hash)
        if customer is None:
            raise
    return customer


def remember_device(uow: UnitOfWork, customer_id: int, device_hash: str, now) -> None:
    """Record that the customer used this device (drawdown rules flag a device never seen before)."""
    t = customer_devices
    known = uow.session.execute(select(t.c.device_hash).where(t.c.customer_id == customer_id,
                                                              t.c.device_hash == device_hash)).first()
    if known is None:
        uow.session.execute(insert(t).values(customer_id=customer_id, device_hash=device_hash, first_seen=now,
                                             last_seen=now))
    else:
        uow.session.execute(update(t).where(t.c.customer_id == customer_id, t.c.device_hash == device_hash)
                            .values(last_seen=now))


def settle(*, uow: UnitOfWork, platform, application_id: int, status: str, actor: str, note: str,
           limit: Decimal | None = None, reasons: list[dict] | None = None) -> dict[str, Any]:
    """Move an open application to ``status`` (see the module docstring); returns the changed values."""
    if status not in TARGETS:
        raise BusinessRuleError(f"unknown target status {status!r}", code="invalid_status", field="status")
    app = lock_application(uow, application_id)
    if app.status in FINAL:
        raise ConflictError(f"application {application_id} is already {app.status}", code="application_not_open",
                            field="application_id")
    now = platform.clock.now()
    if status == "approved" and _unaccepted_guarantee(uow, app.id):
        status = "awaiting_guarantor"  # the guarantor must still accept: no reviewer or verification can for them
    changes: dict[str, Any] = {"status": status}
    if status in FINAL:
        changes["decided_at"] = now
    if reasons is not None:
        changes["reasons"] = json.dumps(reasons, ensure_ascii=False)
    if status == "approved":
        changes.update(_approve(uow, platform, app, actor=actor, note=note, limit=limit))
    elif status == "rejected":
        _close_arrangement(uow, app.id, "declined")
    uow.session.execute(update(applications).where(applications.c.id == app.id).values(**changes))
    return changes


def _approve(uow: UnitOfWork, platform, app, *, actor: str, note: str, limit: Decimal | None) -> dict[str, Any]:
    offered = limit if limit is not None else app.offered_limit
    if offered is None:
        raise BusinessRuleError("the decision made no offer: give a limit to approve", code="offer_required",
                                field="limit")
    customer = ensure_customer(uow, platform, app)
    line = grant_in_transaction(
        uow=uow, clock=platform.clock, customer_id=customer.id, product_code=app.product_code, limit=offered,
        daily_rate=app.offered_daily_rate, actor=actor, reason=f"application {app.id}: {note}"[:500],
        allow_paused=True)
    uow.flush()
    t = risk_sharing_arrangements
    uow.session.execute(update(t).where(t.c.application_id == app.id, t.c.status == "pending")
                        .values(status="active", credit_line_id=line.id))
    return {"customer_id": customer.id, "credit_line_id": line.id, "offered_limit": offered}


def _unaccepted_guarantee(uow: UnitOfWork, application_id: int) -> bool:
    t = risk_sharing_arrangements
    return uow.session.execute(select(t.c.id).where(
        t.c.application_id == application_id, t.c.kind == "guarantor", t.c.status == "pending",
        t.c.accepted_at.is_(None))).first() is not None


def trust_paused_device(*, uow: UnitOfWork, pause, now) -> None:
    """A passed verification vouches for the device of the drawdown that stepped up, so the customer can
    draw from it afterwards (else a new device would step up again after every verification)."""
    if pause.source_kind != "drawdown" or pause.source_id is None:
        return
    record = decision_record(uow, pause.source_id)
    device = (record.get("facts") or {}).get("keys", {}).get("device")
    if device:
        remember_device(uow, pause.customer_id, device, now)


def _close_arrangement(uow: UnitOfWork, application_id: int, status: str) -> None:
    t = risk_sharing_arrangements
    uow.session.execute(update(t).where(t.c.application_id == application_id, t.c.status == "pending")
                        .values(status=status))


def add_arrangement(uow: UnitOfWork, *, application_id: int, sharing: dict[str, Any], now) -> None:
    """Record the risk sharing behind a marginal approval (pending until the line is granted)."""
    value = sharing.get("collateral_value")
    cover = sharing.get("cover_share")
    uow.session.execute(insert(risk_sharing_arrangements).values(
        application_id=application_id, kind=sharing["kind"], status="pending",
        guarantor_customer_id=sharing.get("guarantor_customer_id"),
        collateral_kind=sharing.get("collateral_kind"), collateral_description=sharing.get("collateral_description"),
        collateral_value=None if value is None else Decimal(str(value)), insurer=sharing.get("insurer"),
        policy_number=sharing.get("policy_number"), cover_share=None if cover is None else Decimal(str(cover)),
        created_at=now))


def _approve_or_close(uow: UnitOfWork, platform, application_id: int, actor: str) -> None:
    """Approve a resumed application; when the grant is refused (a line was granted meanwhile, the customer
    was closed) reject it with that reason, so the verification still releases the pause."""
    try:
        with uow.session.begin_nested():
            settle(uow=uow, platform=platform, application_id=application_id, status="approved", actor=actor,
                   note="verification passed")
    except (ConflictError, BusinessRuleError) as exc:
        settle(uow=uow, platform=platform, application_id=application_id, status="rejected", actor=actor,
               note=f"verification passed; the line could not be granted ({exc.code})",
               reasons=[{"code": exc.code, "en": f"The credit line could not be granted: {exc.message}",
                         "zh": f"授信额度未能发放（{exc.code}）"}])


def resume_after_verification(*, uow: UnitOfWork, platform, customer_id: int, actor: str) -> list[int]:
    """A passed step-up verification continues the customer's applications held in ``step_up``: each goes
    where its decision would have gone without the step-up (approved, review or awaiting a guarantor)."""
    from microlend.services.origination import reviews

    held = uow.session.execute(select(applications.c.id, applications.c.decision_record_id)
                               .where(applications.c.customer_id == customer_id, applications.c.status == "step_up")
                               .order_by(applications.c.id)).all()
    for application_id, record_id in held:
        record = decision_record(uow, record_id)
        decision = record.get("decision", {})
        after = decision.get("after_step_up") or "review"
        policy_action = decision.get("parts", {}).get("policy")
        if after == "approve" and policy_action == "awaiting_guarantor":
            settle(uow=uow, platform=platform, application_id=application_id, status="awaiting_guarantor",
                   actor=actor, note="verification passed")
        elif after == "approve":
            _approve_or_close(uow, platform, application_id, actor)
        elif after == "reject":
            settle(uow=uow, platform=platform, application_id=application_id, status="rejected", actor=actor,
                   note="verification passed; the decision was a rejection")
        else:
            settle(uow=uow, platform=platform, application_id=application_id, status="review", actor=actor,
                   note="verification passed; referred to review")
            reviews.open_case(uow=uow, application_id=application_id,
                              reasons=decision.get("reasons", []), now=platform.clock.now())
    return [application_id for application_id, _ in held]
