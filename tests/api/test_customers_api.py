"""Customers over HTTP: onboarding with every identity check, masking of
personal data in responses, listing, card binding; a refusal writes nothing."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from api_helpers import assert_error

from microlend.lending.identity import id_check_character, luhn_check_digit
from microlend.simulation.people import make_id_number, make_person

TODAY = date(2026, 3, 10)


def person(n: int):
    return make_person(random.Random(n), on=TODAY)


def body_for(n: int, **overrides) -> dict:
    p = person(n)
    return {"name": p.name, "id_number": p.id_number, "phone": p.phone, "bank_card": p.bank_card, **overrides}


def count(client, staff) -> int:
    r = client.get("/v1/customers", params={"limit": 500}, headers=staff)
    assert r.status_code == 200, r.text
    return len(r.json())


def test_create_customer_masks_personal_data(client, staff):
    data = body_for(1)
    r = client.post("/v1/customers", json=data, headers=staff)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == data["name"]
    assert body["status"] == "active"
    assert body["id_number"] == data["id_number"][:3] + "*" * 11 + data["id_number"][-4:]
    assert body["phone"] == data["phone"][:3] + "****" + data["phone"][-4:]
    assert body["bank_card"] == data["bank_card"][:6] + "*" * (len(data["bank_card"]) - 10) + data["bank_card"][-4:]
    assert body["birth_date"] == f"{data['id_number'][6:10]}-{data['id_number'][10:12]}-{data['id_number'][12:14]}"
    assert body["province_code"] == data["id_number"][:2]
    assert body["sex"] == ("male" if int(data["id_number"][16]) % 2 else "female")
    for secret in (data["id_number"], data["phone"], data["bank_card"]):
        assert secret not in r.text
    # reading, listing and the borrower's own view never show them either
    for resp in (client.get(f"/v1/customers/{body['id']}", headers=staff),
                 client.get("/v1/customers", headers=staff)):
        assert resp.status_code == 200
        for secret in (data["id_number"], data["phone"], data["bank_card"]):
            assert secret not in resp.text


def test_borrower_sees_own_record_masked(client, auth, make_customer):
    data = body_for(2)
    customer = make_customer(**data)
    r = client.get(f"/v1/customers/{customer.id}", headers=auth("borrower", customer.id))
    assert r.status_code == 200, r.text
    for secret in (data["id_number"], data["phone"], data["bank_card"]):
        assert secret not in r.text


def test_create_without_card_and_normalized_inputs(client, staff):
    p = person(3)
    spaced_phone = f"+86 {p.phone[:3]} {p.phone[3:7]} {p.phone[7:]}"
    grouped_card = " ".join(p.bank_card[i:i + 4] for i in range(0, len(p.bank_card), 4))
    r = client.post("/v1/customers", headers=staff,
                    json={"name": p.name, "id_number": p.id_number.lower(), "phone": spaced_phone})
    assert r.status_code == 201, r.text
    assert r.json()["bank_card"] is None
    assert r.json()["phone"] == p.phone[:3] + "****" + p.phone[-4:]
    r = client.put(f"/v1/customers/{r.json()['id']}/bank-card", json={"bank_card": grouped_card}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["bank_card"] == p.bank_card[:6] + "*" * (len(p.bank_card) - 10) + p.bank_card[-4:]
    assert p.bank_card not in r.text


def test_duplicate_id_number_is_409(client, staff):
    data = body_for(4)
    assert client.post("/v1/customers", json=data, headers=staff).status_code == 201
    before = count(client, staff)
    other = body_for(5, id_number=data["id_number"])
    r = client.post("/v1/customers", json=other, headers=staff)
    assert_error(r, 409, "customer_exists", "id_number")
    assert data["id_number"] not in r.text
    assert count(client, staff) == before


def _bad_checksum(id_number: str) -> str:
    good = id_check_character(id_number[:17])
    return id_number[:17] + next(c for c in "0123456789X" if c != good)


def _too_young() -> str:
    return make_id_number(random.Random(9), TODAY - timedelta(days=17 * 365), area="110105")


def _bad_luhn(card: str) -> str:
    good = luhn_check_digit(card[:-1])
    return card[:-1] + str((int(good) + 1) % 10)


def _unknown_province() -> str:
    body = "990105" + "19900101" + "123"
    return body + id_check_character(body)


BAD = [
    ("id_number", "12345", "invalid_id_number"),
    ("id_number", "11010519900101123", "invalid_id_number"),
    ("id_number", "１１０１０５１９９００１０１１２３Ｘ", "invalid_id_number"),
    ("id_number", _bad_checksum(person(6).id_number), "invalid_id_checksum"),
    ("id_number", _unknown_province(), "invalid_id_province"),
    ("id_number", _too_young(), "applicant_too_young"),
    ("phone", "12345678901", "invalid_phone"),
    ("phone", "1381234567", "invalid_phone"),
    ("phone", "phone", "invalid_phone"),
    ("bank_card", "1234", "invalid_bank_card"),
    ("bank_card", _bad_luhn(person(6).bank_card), "invalid_bank_card_checksum"),
    ("name", "X", "invalid_name"),
    ("name", "张3", "invalid_name"),
    ("name", "   ", "invalid_name"),
    ("name", "Robert'); DROP TABLE customers;--", "invalid_name"),
]


@pytest.mark.parametrize("field,value,code", BAD, ids=[f"{f}-{c}-{i}" for i, (f, _, c) in enumerate(BAD)])
def test_invalid_identity_is_refused(client, staff, field, value, code):
    before = count(client, staff)
    r = client.post("/v1/customers", json=body_for(6, **{field: value}), headers=staff)
    assert_error(r, 422, code, field)
    assert count(client, staff) == before


@pytest.mark.parametrize("field", ["name", "id_number", "phone"])
def test_missing_field(client, staff, field):
    data = body_for(7)
    del data[field]
    before = count(client, staff)
    assert_error(client.post("/v1/customers", json=data, headers=staff), 422, "missing_field", field)
    assert count(client, staff) == before


def test_unknown_field(client, staff):
    before = count(client, staff)
    r = client.post("/v1/customers", json=body_for(8, credit_score=900), headers=staff)
    assert_error(r, 422, "unknown_field", "credit_score")
    assert count(client, staff) == before


def test_wrong_type_and_too_long(client, staff):
    before = count(client, staff)
    assert_error(client.post("/v1/customers", json=body_for(8, phone=13812345678), headers=staff),
                 422, "invalid_field", "phone")
    assert_error(client.post("/v1/customers", json=body_for(8, id_number="1" * 41), headers=staff),
                 422, "invalid_field", "id_number")
    assert count(client, staff) == before


@pytest.mark.parametrize("raw", [b"{", b'{"name": "x",}', b"not json", b""])
def test_malformed_json_is_400(client, staff, raw):
    before = count(client, staff)
    r = client.post("/v1/customers", content=raw, headers={**staff, "Content-Type": "application/json"})
    if raw == b"":
        assert_error(r, 422, "missing_field", None)  # no body at all: the body itself is missing
    else:
        assert_error(r, 400, "malformed_json", None)
    assert count(client, staff) == before


def test_body_that_is_not_utf8_is_malformed_json(client, staff):
    before = count(client, staff)
    r = client.post("/v1/customers", content=b'{"name": "\xff"}', headers={**staff, "Content-Type": "application/json"})
    assert count(client, staff) == before
    assert_error(r, 400, "malformed_json", None)


@pytest.mark.parametrize("payload", [[], [1, 2], "a string", 42, None])
def test_body_must_be_an_object(client, staff, payload):
    before = count(client, staff)
    r = client.post("/v1/customers", json=payload, headers=staff)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("invalid_body", "missing_field"), r.text
    if payload is not None:
        assert_error(r, 422, "invalid_body", None)
    assert count(client, staff) == before


def test_list_with_limit_and_offset(client, staff, make_customer):
    ids = [make_customer().id for _ in range(5)]
    r = client.get("/v1/customers", headers=staff)
    assert [c["id"] for c in r.json()] == ids
    assert [c["id"] for c in client.get("/v1/customers", params={"limit": 2}, headers=staff).json()] == ids[:2]
    page = client.get("/v1/customers", params={"limit": 2, "offset": 2}, headers=staff).json()
    assert [c["id"] for c in page] == ids[2:4]
    assert client.get("/v1/customers", params={"offset": 10}, headers=staff).json() == []
    assert_error(client.get("/v1/customers", params={"limit": 0}, headers=staff), 422, "invalid_field", "limit")
    assert_error(client.get("/v1/customers", params={"limit": 501}, headers=staff), 422, "invalid_field", "limit")
    assert_error(client.get("/v1/customers", params={"offset": -1}, headers=staff), 422, "invalid_field", "offset")
    assert_error(client.get("/v1/customers", params={"limit": "ten"}, headers=staff), 422, "invalid_field", "limit")


def test_read_unknown_customer(client, staff):
    assert_error(client.get("/v1/customers/424242", headers=staff), 404, "customer_not_found", "customer_id")
    assert_error(client.get("/v1/customers/abc", headers=staff), 422, "invalid_field", "customer_id")


@pytest.mark.parametrize("big", [2**31, 2**63, 10**20])
@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v1/customers/{big}", None),
    ("GET", "/v1/customers/{big}/loans", None),
    ("GET", "/v1/customers/{big}/credit-lines", None),
    ("PUT", "/v1/customers/{big}/bank-card", "card"),
])
def test_out_of_range_id_is_refused_not_500(client, staff, method, path, body, big):
    json = {"bank_card": person(14).bank_card} if body == "card" else None
    r = client.request(method, path.format(big=big), json=json, headers=staff)
    assert r.status_code in (404, 422), r.text
    expected = ("customer_not_found", "customer_id") if r.status_code == 404 else ("invalid_field", "customer_id")
    assert_error(r, r.status_code, *expected)


def test_bind_card(client, staff, auth, make_customer):
    customer = make_customer(bank_card=None)
    assert client.get(f"/v1/customers/{customer.id}", headers=staff).json()["bank_card"] is None
    card = person(11).bank_card
    r = client.put(f"/v1/customers/{customer.id}/bank-card", json={"bank_card": card}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["bank_card"].endswith(card[-4:]) and card not in r.text
    # the borrower may rebind their own card
    card2 = person(12).bank_card
    r = client.put(f"/v1/customers/{customer.id}/bank-card", json={"bank_card": card2},
                   headers=auth("borrower", customer.id))
    assert r.status_code == 200, r.text
    assert r.json()["bank_card"].endswith(card2[-4:])


def test_bind_card_refusals_change_nothing(client, staff, make_customer):
    customer = make_customer()
    url = f"/v1/customers/{customer.id}/bank-card"
    before = client.get(f"/v1/customers/{customer.id}", headers=staff).json()
    assert_error(client.put(url, json={"bank_card": "1234"}, headers=staff), 422, "invalid_bank_card", "bank_card")
    assert_error(client.put(url, json={"bank_card": _bad_luhn(person(13).bank_card)}, headers=staff),
                 422, "invalid_bank_card_checksum", "bank_card")
    assert_error(client.put(url, json={}, headers=staff), 422, "missing_field", "bank_card")
    assert_error(client.put(url, json={"bank_card": person(13).bank_card, "x": 1}, headers=staff),
                 422, "unknown_field", "x")
    assert client.get(f"/v1/customers/{customer.id}", headers=staff).json() == before
    assert_error(client.put("/v1/customers/999999/bank-card", json={"bank_card": person(13).bank_card},
                            headers=staff), 404, "customer_not_found", "customer_id")


def test_customer_lines_and_loans_of_a_new_customer_are_empty(client, staff, make_customer):
    customer = make_customer()
    assert client.get(f"/v1/customers/{customer.id}/credit-lines", headers=staff).json() == []
    assert client.get(f"/v1/customers/{customer.id}/loans", headers=staff).json() == []
    assert_error(client.get("/v1/customers/999999/loans", headers=staff), 404, "customer_not_found", "customer_id")
    assert_error(client.get("/v1/customers/999999/credit-lines", headers=staff), 404, "customer_not_found",
                 "customer_id")


def test_logs_never_show_personal_data_in_clear(client):
    """The app leaves every root handler redacting, so a log line quoting PII shows it masked."""
    import io
    import logging

    from microlend.security.masking import RedactingFilter

    root = logging.getLogger()
    assert root.handlers and all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in root.handlers)
    body = body_for(77)
    stream = io.StringIO()
    probe = logging.StreamHandler(stream)
    probe.addFilter(next(f for f in root.handlers[0].filters if isinstance(f, RedactingFilter)))
    root.addHandler(probe)
    try:
        logging.getLogger("microlend.api").warning("onboarding %s %s %s", body["id_number"], body["phone"],
                                                    body["bank_card"])
    finally:
        root.removeHandler(probe)
    assert "onboarding" in stream.getvalue()
    for plain in (body["id_number"], body["phone"], body["bank_card"]):
        assert plain not in stream.getvalue()
