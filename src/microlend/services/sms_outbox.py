"""Dispatching the SMS outbox.

The close of business writes one *pending* ``sms_outbox`` row per reminder (the
text already rendered in the borrower's language); this module hands them to
the gateway. Like card debits, no database lock is held while the gateway
answers:

1. read a batch of pending rows (a read-only snapshot, no write lock);
2. send each under the reference ``SMS`` + the row id;
3. write the batch's outcomes in one short transaction (executemany).

A crash between 2 and 3, or a gateway timeout, leaves rows pending; the next
dispatch sends them again under the same reference, which the gateway
deduplicates, so a borrower never gets the same reminder twice. Phones are
decrypted only to be handed to the gateway and are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, bindparam, select, update

from microlend.adapters.sms import SmsGateway, SmsReceipt, SmsStatus, SmsTimeout
from microlend.security.fields import DecryptionError, FieldCipher
from microlend.store.database import READ_ONLY
from microlend.store.tables import customers, sms_outbox

log = logging.getLogger(__name__)

PENDING, SENT, DELIVERED, FAILED = "pending", "sent", "delivered", "failed"
#: Failure code of a row whose customer's phone token cannot be decrypted (it would never send).
PHONE_UNREADABLE = "phone_unreadable"


def sms_reference(outbox_id: int) -> str:
    """Our reference for an outbox row at the gateway: stable, so a resend is recognised."""
    return f"SMS{outbox_id:012d}"


@dataclass(frozen=True)
class DispatchCounts:
    #: Taken by the gateway (accepted, or delivered at once).
    sent: int = 0
    #: Refused by the gateway (or undeliverable before sending).
    failed: int = 0
    #: Timed out: left pending for the next dispatch.
    pending: int = 0


# One statement for every outcome, so a batch is a single executemany; the status
# guard keeps a concurrent dispatcher's result (same receipt, thanks to the
# reference) from being counted twice in ``attempts``.
_RECORD_SEND = (
    update(sms_outbox)
    .where(sms_outbox.c.id == bindparam("b_id"), sms_outbox.c.status == PENDING)
    .values(status=bindparam("b_status"), gateway_id=bindparam("b_gateway_id"),
            failure_code=bindparam("b_failure_code"), sent_at=bindparam("b_sent_at"),
            delivered_at=bindparam("b_delivered_at"), attempts=sms_outbox.c.attempts + 1)
)

_RECORD_DELIVERY = (
    update(sms_outbox)
    .where(sms_outbox.c.id == bindparam("b_id"), sms_outbox.c.status == SENT)
    .values(status=bindparam("b_status"), failure_code=bindparam("b_failure_code"),
            delivered_at=bindparam("b_delivered_at"))
)


def _send_params(row_id: int, receipt: SmsReceipt | None, now: datetime) -> dict:
    """The row's new state after a send; ``receipt`` None means a timeout, so it stays pending."""
    if receipt is None:
        return {"b_id": row_id, "b_status": PENDING, "b_gateway_id": None, "b_failure_code": None,
                "b_sent_at": None, "b_delivered_at": None}
    status = {SmsStatus.ACCEPTED: SENT, SmsStatus.DELIVERED: DELIVERED, SmsStatus.FAILED: FAILED}[receipt.status]
    return {"b_id": row_id, "b_status": status, "b_gateway_id": receipt.gateway_id,
            "b_failure_code": receipt.failure_code if status == FAILED else None,
            "b_sent_at": now if status in (SENT, DELIVERED) else None,
            "b_delivered_at": now if status == DELIVERED else None}


def dispatch_pending(
    *, engine: Engine, gateway: SmsGateway, cipher: FieldCipher, now: datetime, business_date: date | None = None,
    batch_size: int = 1000, progress: Callable[[int], object] | None = None,
    loan_range: tuple[int, int] | None = None,
) -> DispatchCounts:
    """Send every pending outbox row (only ``business_date``'s when given; only the loans with ids in
    ``loan_range`` when given, so several workers can share the outbox), in id order, in batches.

    ``progress(n)`` is called after each batch with the number of rows handled so far.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    reader = engine.execution_options(**READ_ONLY)
    sent = failed = pending = done = 0
    last_id = 0
    while True:
        query = (
            select(sms_outbox.c.id, sms_outbox.c.body, customers.c.phone_token)
            .join(customers, customers.c.id == sms_outbox.c.customer_id)
            .where(sms_outbox.c.status == PENDING, sms_outbox.c.id > last_id)
            .order_by(sms_outbox.c.id).limit(batch_size)
        )
        if business_date is not None:
            query = query.where(sms_outbox.c.business_date == business_date)
        if loan_range is not None:
            query = query.where(sms_outbox.c.loan_id.between(*loan_range))
        with reader.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            break
        updates: list[dict] = []
        try:
            for row in rows:
                reference = sms_reference(row.id)
                try:
                    phone = cipher.decrypt(row.phone_token, field="phone")
                except DecryptionError:
                    log.error("SMS %s not sent: the customer's phone token does not decrypt", reference)
                    updates.append(_send_params(row.id, SmsReceipt(reference, SmsStatus.FAILED, None,
                                                                   PHONE_UNREADABLE), now))
                    failed += 1
                    continue
                try:
                    receipt = gateway.send(reference=reference, phone=phone, text=row.body)
                except SmsTimeout:
                    log.warning("SMS %s: gateway timed out; left pending for the next dispatch", reference)
                    updates.append(_send_params(row.id, None, now))
                    pending += 1
                    continue
                updates.append(_send_params(row.id, receipt, now))
                if receipt.status is SmsStatus.FAILED:
                    log.info("SMS %s refused by the gateway: %s", reference, receipt.failure_code)
                    failed += 1
                else:
                    sent += 1
        finally:
            # Record what was sent even if the gateway blew up mid-batch: those rows must not look unsent.
            if updates:
                with engine.begin() as conn:
                    conn.execute(_RECORD_SEND, updates)
        done += len(rows)
        last_id = rows[-1].id
        if progress is not None:
            progress(done)
    counts = DispatchCounts(sent=sent, failed=failed, pending=pending)
    log.info("SMS outbox dispatched: %d sent, %d failed, %d left pending", sent, failed, pending)
    return counts


def refresh_delivery(*, engine: Engine, gateway: SmsGateway, now: datetime, batch_size: int = 1000,
                     loan_range: tuple[int, int] | None = None) -> int:
    """Ask the gateway about every sent row (of the loans in ``loan_range`` when given) and record
    delivery or failure; returns the rows changed."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    reader = engine.execution_options(**READ_ONLY)
    changed = 0
    last_id = 0
    while True:
        query = (select(sms_outbox.c.id).where(sms_outbox.c.status == SENT, sms_outbox.c.id > last_id)
                 .order_by(sms_outbox.c.id).limit(batch_size))
        if loan_range is not None:
            query = query.where(sms_outbox.c.loan_id.between(*loan_range))
        with reader.connect() as conn:
            ids = conn.execute(query).scalars().all()
        if not ids:
            break
        updates: list[dict] = []
        for row_id in ids:
            receipt = gateway.status(reference=sms_reference(row_id))
            if receipt is None or receipt.status is SmsStatus.ACCEPTED:
                continue  # not known yet: ask again next time
            if receipt.status is SmsStatus.DELIVERED:
                updates.append({"b_id": row_id, "b_status": DELIVERED, "b_failure_code": None, "b_delivered_at": now})
            else:
                updates.append({"b_id": row_id, "b_status": FAILED, "b_failure_code": receipt.failure_code,
                                "b_delivered_at": None})
        if updates:
            with engine.begin() as conn:
                result = conn.execute(_RECORD_DELIVERY, updates)
                changed += result.rowcount if result.rowcount >= 0 else len(updates)
        last_id = ids[-1]
    log.info("SMS delivery refreshed: %d rows changed", changed)
    return changed


__all__ = ["DispatchCounts", "PHONE_UNREADABLE", "dispatch_pending", "refresh_delivery", "sms_reference"]
