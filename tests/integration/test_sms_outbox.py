"""Dispatching the SMS outbox through the simulated gateway, on both databases."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from microlend.adapters.sms import SimulatedSmsGateway
from microlend.services import drawdowns
from microlend.services.sms_outbox import (
    PHONE_UNREADABLE,
    DispatchCounts,
    dispatch_pending,
    refresh_delivery,
    sms_reference,
)
from microlend.store.tables import customers, sms_outbox

PHONE = "13912345678"


@pytest.fixture
def gateway() -> SimulatedSmsGateway:
    return SimulatedSmsGateway()


@pytest.fixture
def loan(platform, make_line):
    """(loan id, customer id) of a fresh 1,000 CNY loan to a customer whose phone we know."""
    line = make_line(limit="20000", phone=PHONE)
    result = drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                        clock=platform.clock, line_id=line.id, amount=Decimal("1000"), term=5)
    return result.loan_id, line.customer_id


def add_rows(platform, loan, *kinds: str, on: date | None = None) -> list[int]:
    loan_id, customer_id = loan
    on = on or platform.clock.business_date()
    with platform.engine.begin() as conn:
        return [conn.execute(insert(sms_outbox).values(
            loan_id=loan_id, customer_id=customer_id, business_date=on, kind=kind, language="zh",
            body=f"【微贷】{kind} reminder", status="pending", created_at=platform.clock.now(),
        )).inserted_primary_key[0] for kind in kinds]


def rows(platform) -> dict[int, dict]:
    with platform.engine.connect() as conn:
        return {r.id: r._asdict() for r in conn.execute(select(sms_outbox).order_by(sms_outbox.c.id))}


def dispatch(platform, gateway, **kw) -> DispatchCounts:
    return dispatch_pending(engine=platform.engine, gateway=gateway, cipher=platform.cipher,
                            now=platform.clock.now(), **kw)


def test_pending_rows_are_sent_exactly_once(platform, loan, gateway):
    ids = add_rows(platform, loan, "pre_due", "due", "overdue")
    seen: list[int] = []
    assert dispatch(platform, gateway, batch_size=2, progress=seen.append) == DispatchCounts(sent=3)
    assert seen == [2, 3]
    assert dispatch(platform, gateway) == DispatchCounts()  # nothing pending any more
    assert [(ref, phone) for ref, phone, _ in gateway.sent] == [(sms_reference(i), PHONE) for i in ids]
    assert gateway.sent[0][2] == "【微贷】pre_due reminder"
    for row in rows(platform).values():
        assert row["status"] == "sent" and row["attempts"] == 1 and row["gateway_id"]
        assert row["sent_at"] == platform.clock.now() and row["delivered_at"] is None


def test_only_the_given_business_date(platform, loan, gateway):
    today = platform.clock.business_date()
    add_rows(platform, loan, "due", on=today - timedelta(days=1))
    [todays] = add_rows(platform, loan, "due", on=today)
    assert dispatch(platform, gateway, business_date=today) == DispatchCounts(sent=1)
    assert [ref for ref, _, _ in gateway.sent] == [sms_reference(todays)]
    assert dispatch(platform, gateway) == DispatchCounts(sent=1)  # then yesterday's too


def test_timeout_stays_pending_and_next_dispatch_completes_without_a_second_message(platform, loan, gateway):
    [row_id] = add_rows(platform, loan, "due")
    gateway.will("timeout")
    assert dispatch(platform, gateway) == DispatchCounts(pending=1)
    row = rows(platform)[row_id]
    assert row["status"] == "pending" and row["attempts"] == 1 and row["sent_at"] is None
    assert len(gateway.sent) == 1  # the gateway had it all along
    assert dispatch(platform, gateway) == DispatchCounts(sent=1)
    row = rows(platform)[row_id]
    assert row["status"] == "sent" and row["attempts"] == 2 and row["gateway_id"]
    assert len(gateway.sent) == 1


def test_failure_recorded_with_its_code(platform, loan, gateway):
    failed_id, ok_id = add_rows(platform, loan, "due", "overdue")
    gateway.will("fail:invalid_number")
    assert dispatch(platform, gateway) == DispatchCounts(sent=1, failed=1)
    stored = rows(platform)
    assert stored[failed_id]["status"] == "failed" and stored[failed_id]["failure_code"] == "invalid_number"
    assert stored[failed_id]["sent_at"] is None and stored[ok_id]["status"] == "sent"
    assert dispatch(platform, gateway) == DispatchCounts()  # a failure is final, not retried


def test_unreadable_phone_fails_the_row_not_the_run(platform, loan, gateway):
    bad_id, ok_id = add_rows(platform, loan, "due", "overdue")
    _, other_customer = loan
    with platform.engine.begin() as conn:  # a token encrypted for another field does not decrypt as a phone
        conn.execute(customers.update().where(customers.c.id == other_customer)
                     .values(phone_token=platform.cipher.encrypt(PHONE, field="card")))
    assert dispatch(platform, gateway) == DispatchCounts(failed=2)
    stored = rows(platform)
    assert {stored[i]["failure_code"] for i in (bad_id, ok_id)} == {PHONE_UNREADABLE}
    assert gateway.sent == []


def test_refresh_delivery(platform, loan, gateway):
    delivered_id, undelivered_id = add_rows(platform, loan, "due", "overdue")
    gateway.will("accept", "undelivered:absent_subscriber")
    dispatch(platform, gateway)
    assert refresh_delivery(engine=platform.engine, gateway=gateway, now=platform.clock.now()) == 2
    stored = rows(platform)
    assert stored[delivered_id]["status"] == "delivered"
    assert stored[delivered_id]["delivered_at"] == platform.clock.now()
    assert stored[undelivered_id]["status"] == "failed"
    assert stored[undelivered_id]["failure_code"] == "absent_subscriber"
    assert gateway.delivered_count == 1
    assert refresh_delivery(engine=platform.engine, gateway=gateway, now=platform.clock.now()) == 0


def test_the_phone_is_never_logged(platform, loan, gateway, caplog):
    caplog.set_level(logging.DEBUG)
    add_rows(platform, loan, "pre_due", "due", "overdue", "overdue_weekly")
    gateway.will("timeout", "fail:invalid_number", "undelivered:absent_subscriber")
    dispatch(platform, gateway)
    dispatch(platform, gateway)
    refresh_delivery(engine=platform.engine, gateway=gateway, now=platform.clock.now())
    assert gateway.sent and all(phone == PHONE for _, phone, _ in gateway.sent)
    assert caplog.records  # the dispatcher does log; just never the phone
    assert PHONE not in caplog.text
