"""The simulated SMS gateway: references make resends safe; tests script outcomes."""

from __future__ import annotations

import pytest

from microlend.adapters.sms import SimulatedSmsGateway, SmsStatus, SmsTimeout

PHONE = "13800138000"


def test_accepted_then_delivered_on_status():
    gw = SimulatedSmsGateway()
    receipt = gw.send(reference="SMS1", phone=PHONE, text="hello")
    assert receipt.status is SmsStatus.ACCEPTED and receipt.gateway_id and receipt.failure_code is None
    assert gw.delivered_count == 0
    assert gw.status(reference="SMS1").status is SmsStatus.DELIVERED
    assert gw.delivered_count == 1
    assert gw.sent == [("SMS1", PHONE, "hello")]
    assert gw.status(reference="unknown") is None


def test_repeated_reference_sends_nothing():
    gw = SimulatedSmsGateway()
    first = gw.send(reference="SMS1", phone=PHONE, text="hello")
    again = gw.send(reference="SMS1", phone=PHONE, text="hello")
    assert again == first and len(gw.sent) == 1


def test_scripted_outcomes():
    gw = SimulatedSmsGateway().will("fail:invalid_number", "undelivered:absent_subscriber", "accept")
    failed = gw.send(reference="A", phone=PHONE, text="a")
    assert failed.status is SmsStatus.FAILED and failed.failure_code == "invalid_number"
    undelivered = gw.send(reference="B", phone=PHONE, text="b")
    assert undelivered.status is SmsStatus.ACCEPTED
    later = gw.status(reference="B")
    assert later.status is SmsStatus.FAILED and later.failure_code == "absent_subscriber"
    assert gw.send(reference="C", phone=PHONE, text="c").status is SmsStatus.ACCEPTED
    assert gw.send(reference="D", phone=PHONE, text="d").status is SmsStatus.ACCEPTED  # script ran out: accept
    assert [r for r, _, _ in gw.sent] == ["B", "C", "D"]  # the refused message never went out
    assert gw.send(reference="A", phone=PHONE, text="a") == failed  # a refusal is remembered too


def test_timeout_then_resend_does_not_duplicate():
    gw = SimulatedSmsGateway().will("timeout")
    with pytest.raises(SmsTimeout) as err:
        gw.send(reference="SMS7", phone=PHONE, text="hi")
    assert PHONE not in str(err.value)
    assert len(gw.sent) == 1  # the gateway did take it
    resent = gw.send(reference="SMS7", phone=PHONE, text="hi")
    assert resent.status is SmsStatus.ACCEPTED and len(gw.sent) == 1
    assert gw.status(reference="SMS7").status is SmsStatus.DELIVERED and gw.delivered_count == 1


def test_unknown_outcome_refused():
    with pytest.raises(ValueError):
        SimulatedSmsGateway().will("explode")
