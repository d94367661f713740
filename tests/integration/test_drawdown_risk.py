"""The real-time risk check on drawdowns, through the API: every built-in drawdown rule firing and not
firing (window edges included: an event exactly ``within`` old is out), the step-up pause and its
release by a passed verification, and a refused drawdown that reserves nothing and lends nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from microlend.lending.identity import normalize_bank_card, normalize_phone
from microlend.rules.engine import evaluate
from microlend.rules.velocity import VelocityEvent
from microlend.services.origination import block_list, pauses, rule_sets
from microlend.services.origination.keys import key_hash, normalize_device
from microlend.services.origination.replay import RecordedWindows, facts_from_record
from microlend.services.origination.settle import remember_device
from microlend.store.origination_tables import decision_records
from microlend.store.tables import drawdowns, loans

DEVICE = "phone-A-0001"
OTHER_DEVICE = "phone-B-0002"
IP = "203.0.113.57"
US = timedelta(microseconds=1)


def assert_error(resp, status: int, code: str, field: str | None) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["field"]) == (code, field), resp.text
    return error


@pytest.fixture
def staff(auth):
    return auth("operator")


@pytest.fixture
def line(platform, make_line):
    """A 10,000 line granted today whose customer is known to use DEVICE."""
    return known_line(platform, make_line)


def known_line(platform, make_line, *, limit: str = "10000", device: str = DEVICE):
    made = make_line(limit=limit)
    with platform.uow() as uow:
        remember_device(uow, made.customer_id, key_hash(platform.cipher, "device", normalize_device(device)),
                        platform.clock.now())
        uow.commit()
    return made


def draw(client, headers, line_id: int, amount: str, *, device: str | None = DEVICE, ip: str | None = IP, term=5):
    body = {"amount": amount, "term": term}
    if device is not None:
        body["device_id"] = device
    if ip is not None:
        body["ip"] = ip
    return client.post(f"/v1/credit-lines/{line_id}/drawdowns", json=body, headers=headers)


def _state(platform, line_id: int) -> tuple:
    with platform.reader() as reader:
        used = reader.lines.get(line_id).used
        made = reader.session.execute(select(func.count()).select_from(drawdowns)
                                      .where(drawdowns.c.credit_line_id == line_id)).scalar_one()
        lent = reader.session.execute(select(func.count()).select_from(loans)
                                      .where(loans.c.credit_line_id == line_id)).scalar_one()
    return used, made, lent


def refused(client, headers, platform, line_id: int, amount: str, code: str, rule: str | None, **kwargs) -> dict:
    """The drawdown is refused with ``code`` (``rule`` among the reasons) and changes nothing on the line."""
    before = _state(platform, line_id)
    error = assert_error(draw(client, headers, line_id, amount, **kwargs), 422, code, None if code != "customer_paused"
                         else "customer_id")
    assert _state(platform, line_id) == before
    if rule is not None:
        assert rule in [r["code"] for r in error["reasons"]]
        record = _record(platform, error["decision_record_id"])
        assert record["kind"] == "drawdown" and record["credit_line_id"] == line_id
        assert rule in {r["id"] for r in record["rules"]["results"] if r["hit"]}
    return error


def allowed(client, headers, line_id: int, amount: str, **kwargs) -> dict:
    response = draw(client, headers, line_id, amount, **kwargs)
    assert response.status_code == 201, response.text
    assert response.json()["loan_id"] is not None
    return response.json()


def _record(platform, record_id: int) -> dict:
    with platform.reader() as reader:
        return json.loads(reader.session.execute(select(decision_records.c.record)
                                                 .where(decision_records.c.id == record_id)).scalar_one())


def _paused(platform, customer_id: int) -> bool:
    with platform.reader() as reader:
        return pauses.is_paused(reader.session, customer_id)


def _id_number(platform, customer_id: int) -> str:
    with platform.reader() as reader:
        return platform.cipher.decrypt(reader.customers.get(customer_id).id_number_token, field="id_number")


def _elements(platform, customer_id: int) -> dict[str, str]:
    """The customer's four elements, as the person types them for a step-up verification."""
    with platform.reader() as reader:
        c = reader.customers.get(customer_id)
        cipher = platform.cipher
        return {"name": c.name, "id_number": cipher.decrypt(c.id_number_token, field="id_number"),
                "phone": cipher.decrypt(c.phone_token, field="phone"),
                "bank_card": cipher.decrypt(c.card_token, field="bank_card")}


def _verify(client, platform, customer_id: int, headers):
    return client.post(f"/v1/customers/{customer_id}/verification", headers=headers,
                       json=_elements(platform, customer_id))


def _keys(platform, customer_id: int) -> dict[str, str]:
    with platform.reader() as reader:
        customer = reader.customers.get(customer_id)
    return {"id_number": customer.id_number_hash, "phone": customer.phone_hash, "card": customer.card_hash}


def _history(platform, customer_id: int, *moments: tuple[datetime, str], device: str | None = None) -> None:
    """Hand-built earlier drawdowns of the customer (velocity events only): (at, amount) each."""
    keys = _keys(platform, customer_id)
    if device is not None:
        keys["device"] = key_hash(platform.cipher, "device", normalize_device(device))
    for i, (at, amount) in enumerate(moments):
        platform.velocity.record(VelocityEvent(kind="drawdown", at=at, keys=keys, amount=Decimal(amount),
                                               ref=f"history:{customer_id}:{i}"))


# --- a clean drawdown -------------------------------------------------------------------------------

def test_a_drawdown_from_a_known_device_goes_through_and_is_recorded(client, staff, platform, line):
    made = allowed(client, staff, line.id, "1000")
    with platform.reader() as reader:
        rows = reader.session.execute(select(decision_records).where(decision_records.c.kind == "drawdown")).all()
    assert len(rows) == 1 and rows[0].decision == "approve" and rows[0].credit_line_id == line.id
    record = json.loads(rows[0].record)
    assert record["decision"]["status"] == "allowed" and record["inputs"]["ip"] == "203.0.113.*"
    assert not any(r["hit"] for r in record["rules"]["results"])
    assert made["amount"] == "1000.00"


def test_a_drawdown_record_replays(client, staff, platform, line):
    allowed(client, staff, line.id, "1000")
    error = refused(client, staff, platform, line.id, "500", "verification_required", "new_device_at_drawdown",
                    device=OTHER_DEVICE)
    platform.clock.advance(8)
    record = _record(platform, error["decision_record_id"])
    with platform.reader() as reader:
        active = rule_sets.active_rule_set(reader.session, "drawdown")
    replayed = evaluate(active, facts_from_record(record), RecordedWindows(record["windows"]),
                        datetime.fromisoformat(record["at"]))
    assert replayed.to_dict() == record["rules"]


# --- new_line_drawn_out and the step-up pause ------------------------------------------------------------

def test_most_of_a_new_line_drawn_at_once_pauses_the_customer_until_verified(client, staff, auth, platform, line):
    error = refused(client, staff, platform, line.id, "8000", "verification_required", "new_line_drawn_out")
    assert error["reasons"] == [{"code": "new_line_drawn_out", "en": error["reasons"][0]["en"],
                                 "zh": error["reasons"][0]["zh"]}]
    assert _paused(platform, line.customer_id)
    refused(client, staff, platform, line.id, "1000", "customer_paused", None)

    borrower = auth("borrower", line.customer_id)
    response = _verify(client, platform, line.customer_id, borrower)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["passed"] is True and result["paused"] is False and result["released_pause_id"] is not None
    assert not _paused(platform, line.customer_id)
    allowed(client, staff, line.id, "1000")


@pytest.mark.parametrize("plan", ["mismatch:phone", "timeout", "not_found"])
def test_a_failed_verification_keeps_the_pause(client, staff, platform, line, plan):
    refused(client, staff, platform, line.id, "9000", "verification_required", "new_line_drawn_out")
    platform.kyc.steer(_id_number(platform, line.customer_id), plan)
    response = _verify(client, platform, line.customer_id, staff)
    assert response.status_code == 200, response.text
    assert response.json()["passed"] is False and response.json()["paused"] is True
    refused(client, staff, platform, line.id, "1000", "customer_paused", None)
    platform.kyc.steer(_id_number(platform, line.customer_id), "match")
    assert _verify(client, platform, line.customer_id, staff).json()["passed"] is True
    allowed(client, staff, line.id, "1000")


@pytest.mark.parametrize(("days", "amount", "fires"), [
    (0, "8000", True), (0, "10000", True), (0, "7900", False), (3, "8000", True), (4, "8000", False),
    (4, "10000", False),
])
def test_new_line_drawn_out_window(client, staff, platform, line, days, amount, fires):
    platform.clock.advance(days)
    if fires:
        refused(client, staff, platform, line.id, amount, "verification_required", "new_line_drawn_out")
        assert _paused(platform, line.customer_id)
    else:
        allowed(client, staff, line.id, amount)
        assert not _paused(platform, line.customer_id)


# --- many drawdowns in a day ----------------------------------------------------------------------------

def test_a_fourth_drawdown_within_a_day_is_referred(client, staff, platform, line):
    for _ in range(3):
        allowed(client, staff, line.id, "500")
        platform.clock.current_time += timedelta(hours=1)
    refused(client, staff, platform, line.id, "500", "drawdown_referred", "many_drawdowns_24h")
    assert not _paused(platform, line.customer_id)


@pytest.mark.parametrize(("age", "fires"), [(timedelta(hours=24) - US, True), (timedelta(hours=24), False)])
def test_many_drawdowns_window_edge(client, staff, platform, line, age, fires):
    now = platform.clock.now()
    _history(platform, line.customer_id, (now - age, "100"), (now - timedelta(hours=2), "100"),
             (now - timedelta(hours=1), "100"))
    if fires:
        refused(client, staff, platform, line.id, "500", "drawdown_referred", "many_drawdowns_24h")
    else:
        allowed(client, staff, line.id, "500")


@pytest.mark.parametrize(("earlier", "code", "rules"), [
    (5, "drawdown_referred", {"many_drawdowns_24h"}),
    (6, "drawdown_rejected", {"many_drawdowns_24h", "drawdown_burst_24h"}),
])
def test_a_burst_of_drawdowns_is_rejected(client, staff, platform, line, earlier, code, rules):
    now = platform.clock.now()
    _history(platform, line.customer_id, *[(now - timedelta(minutes=10 * (i + 1)), "100") for i in range(earlier)])
    error = refused(client, staff, platform, line.id, "500", code, None)
    assert {r["code"] for r in error["reasons"]} == rules


# --- the day's total -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "age", "fires"), [
    ("1000", timedelta(hours=1), False),               # 9,000 + 1,000 = the limit: not above it
    ("1000.01", timedelta(hours=1), True),
    ("2000", timedelta(hours=1), True),
    ("2000", timedelta(hours=24) - US, True),
    ("2000", timedelta(hours=24), False),               # exactly a day old: out of the window
])
def test_the_days_drawdowns_above_the_limit_are_referred(client, staff, platform, line, amount, age, fires):
    _history(platform, line.customer_id, (platform.clock.now() - age, "9000"))
    if fires:
        refused(client, staff, platform, line.id, amount, "drawdown_referred", "drawdown_amount_24h")
    else:
        allowed(client, staff, line.id, amount)


def test_refused_attempts_count_in_the_days_total(client, staff, platform, line):
    """Every attempt is recorded, refused ones too: repeated attempts are themselves a signal."""
    _history(platform, line.customer_id, (platform.clock.now() - timedelta(hours=1), "9000"))
    refused(client, staff, platform, line.id, "3000", "drawdown_referred", "drawdown_amount_24h")
    platform.clock.current_time += timedelta(hours=24) - timedelta(minutes=30)  # the 9,000 has aged out
    refused(client, staff, platform, line.id, "7500", "drawdown_referred", "drawdown_amount_24h")  # 3,000 + 7,500
    platform.clock.current_time += timedelta(hours=1)  # the refused 3,000 ages out; the refused 7,500 counts
    allowed(client, staff, line.id, "2500")  # 7,500 + 2,500: the limit, not above it


# --- devices ---------------------------------------------------------------------------------------------

def test_a_drawdown_from_a_new_device_needs_verification(client, staff, platform, line):
    refused(client, staff, platform, line.id, "500", "verification_required", "new_device_at_drawdown",
            device=OTHER_DEVICE)
    assert _paused(platform, line.customer_id)


def test_a_drawdown_without_a_device_is_not_a_new_device(client, staff, platform, line):
    allowed(client, staff, line.id, "500", device=None, ip=None)


def test_device_ids_compare_case_insensitively(client, staff, platform, line):
    allowed(client, staff, line.id, "500", device=DEVICE.upper())


def test_after_verifying_the_customer_can_draw_from_the_new_device(client, staff, platform, line):
    refused(client, staff, platform, line.id, "500", "verification_required", "new_device_at_drawdown",
            device=OTHER_DEVICE)
    assert _verify(client, platform, line.customer_id, staff).json()["passed"] is True
    allowed(client, staff, line.id, "500", device=OTHER_DEVICE)


@pytest.mark.parametrize(("gap", "fires"), [(timedelta(days=7) - US, True), (timedelta(days=7), False),
                                             (timedelta(hours=1), True)])
def test_one_device_drawing_for_two_identities(client, staff, platform, make_line, gap, fires):
    first = known_line(platform, make_line)
    second = known_line(platform, make_line)
    allowed(client, staff, first.id, "500")
    platform.clock.current_time += gap
    if fires:
        refused(client, staff, platform, second.id, "500", "drawdown_rejected", "device_shared_at_drawdown")
    else:
        allowed(client, staff, second.id, "500")


def test_the_same_identity_on_one_device_is_not_shared(client, staff, platform, line):
    allowed(client, staff, line.id, "500")
    platform.clock.current_time += timedelta(hours=2)
    allowed(client, staff, line.id, "500")


# --- block list ----------------------------------------------------------------------------------------

def _value(platform, customer_id: int, kind: str) -> str:
    with platform.reader() as reader:
        customer = reader.customers.get(customer_id)
    field = {"id_number": "id_number", "phone": "phone", "card": "bank_card"}[kind]
    token = {"id_number": customer.id_number_token, "phone": customer.phone_token, "card": customer.card_token}[kind]
    return platform.cipher.decrypt(token, field=field)


@pytest.mark.parametrize("kind", ["card", "phone", "id_number", "device"])
def test_a_block_listed_identifier_refuses_the_drawdown(client, staff, platform, line, kind):
    allowed(client, staff, line.id, "500")
    value = DEVICE if kind == "device" else _value(platform, line.customer_id, kind)
    if kind == "phone":
        value = "+86 " + normalize_phone(value)
    elif kind == "card":
        value = " ".join(normalize_bank_card(value)[i:i + 4] for i in range(0, 19, 4))
    block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind=kind, value=value,
                   reason="fraud ring", actor="test")
    refused(client, staff, platform, line.id, "500", "drawdown_rejected", f"blocked_{kind}")
    assert not _paused(platform, line.customer_id)


def test_a_blocked_ip_alone_does_not_refuse(client, staff, platform, line):
    """No built-in drawdown rule reads the IP block list."""
    block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind="ip", value=IP,
                   reason="proxy", actor="test")
    allowed(client, staff, line.id, "500")


def test_someone_elses_block_listed_card_does_not_refuse(client, staff, platform, line, make_customer):
    other = make_customer()
    block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind="card",
                   value=_value(platform, other.id, "card"), reason="stolen", actor="test")
    allowed(client, staff, line.id, "500")
