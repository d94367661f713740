"""The manual review queue: opening, listing, claiming, releasing, approving and rejecting cases.

Deciding settles the application through origination's real ``settle.settle`` (a customer and a
credit line on approval), except in the tests that replace it to look at how it is called or to
make it fail. Every action is in the case's audit trail with who and when.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from microlend.cli.reviews import reviews_app
from microlend.config import get_settings
from microlend.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from microlend.security.masking import mask_bank_card, mask_id_number, mask_name, mask_phone
from microlend.services.origination import reviews
from microlend.simulation.people import make_person
from microlend.store.origination_tables import applications, decision_records, review_events
from microlend.store.tables import credit_lines

REASONS = [{"code": "kyc_timeout", "en": "Identity could not be checked", "zh": "身份核验超时"}]
_people = itertools.count(1)


def _settle_module():
    return pytest.importorskip("microlend.services.origination.settle",
                               reason="origination's settle.py (the lead's) is not written yet")


def referred(platform, *, status: str = "review", limit: str | None = "8000.00", reasons=REASONS,
             record: bool = True) -> tuple[int, int]:
    """A referred application with its decision record and review case: (application id, case id)."""
    person = make_person(random.Random(1000 + next(_people)), on=date(2026, 3, 10))
    c, now = platform.cipher, platform.clock.now()
    with platform.uow() as uow:
        s = uow.session
        app_id = s.execute(insert(applications).values(
            status=status, name=person.name, id_number_token=c.encrypt(person.id_number, field="id_number"),
            id_number_hash=c.lookup_hash(person.id_number, field="id_number"),
            id_number_masked=mask_id_number(person.id_number),
            phone_token=c.encrypt(person.phone, field="phone"), phone_hash=c.lookup_hash(person.phone, field="phone"),
            phone_masked=mask_phone(person.phone), card_token=c.encrypt(person.bank_card, field="bank_card"),
            card_hash=c.lookup_hash(person.bank_card, field="bank_card"), card_masked=mask_bank_card(person.bank_card),
            device_hash="d" * 64, ip_hash="i" * 64, ip_masked="10.0.*.*", declared_income=Decimal("9000.00"),
            industry="retail", region=person.id_number[:2], product_code="REVOLVE", channel="test",
            created_by="test", created_at=now, score=612, band="C",
            offered_limit=Decimal(limit) if limit else None,
            offered_daily_rate=Decimal("0.0005") if limit else None).returning(applications.c.id)).scalar_one()
        if record:
            record_id = s.execute(insert(decision_records).values(
                kind="application", application_id=app_id, decision="review",
                record=json.dumps({"kind": "application"}), rule_set="builtin-application", rule_set_version=1, rule_set_fingerprint="f",
                created_at=now).returning(decision_records.c.id)).scalar_one()
            s.execute(update(applications).where(applications.c.id == app_id).values(decision_record_id=record_id))
        case = reviews.open_case(uow=uow, application_id=app_id, reasons=reasons, now=now)
        uow.commit()
    return app_id, case.id


@pytest.fixture
def settled(monkeypatch):
    """Replace settle.settle (unit level): the calls it got."""
    settle = _settle_module()
    calls = []

    def fake(*, uow, platform, application_id, status, actor, note, limit=None):
        assert uow.session is not None
        calls.append({"application_id": application_id, "status": status, "actor": actor, "note": note,
                      "limit": limit})
        return {"status": status, "credit_line_id": 77 if status == "approved" else None}

    monkeypatch.setattr(settle, "settle", fake)
    return calls


def _actions(case) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in case.events]


# --- opening and reading --------------------------------------------------------------------------

def test_open_case_queues_the_application_once(platform):
    app_id, case_id = referred(platform)
    case = reviews.get_case(platform.reader(), case_id)
    assert (case.application_id, case.status, case.reasons) == (app_id, "open", REASONS)
    assert _actions(case) == [("opened", "system")] and case.created_at == platform.clock.now()
    with platform.uow() as uow:
        again = reviews.open_case(uow=uow, application_id=app_id, reasons=[], now=platform.clock.now())
        uow.commit()
    assert again.id == case_id and len(reviews.list_cases(platform.reader())) == 1


def test_get_case_shows_the_application_and_its_decision_record(platform):
    app_id, case_id = referred(platform)
    app = reviews.get_case(platform.reader(), case_id).application
    with platform.reader() as uow:
        record_id = uow.session.execute(select(decision_records.c.id)
                                        .where(decision_records.c.application_id == app_id)).scalar_one()
    assert app["decision_record_id"] == record_id and app["status"] == "review"
    assert app["offered_limit"] == "8000.00" and app["band"] == "C" and "*" in app["id_number"]
    full = _application(platform, app_id).name
    assert app["name"] == mask_name(full) and app["name"] != full  # masked, as in the application view
    assert full not in json.dumps(reviews.get_case(platform.reader(), case_id).to_dict(), ensure_ascii=False)
    with pytest.raises(NotFoundError) as err:
        reviews.get_case(platform.reader(), 99999)
    assert (err.value.code, err.value.field) == ("review_case_not_found", "case_id")


def test_list_is_oldest_first_with_a_status_filter_and_pages(platform):
    ids = []
    for _ in range(3):
        ids.append(referred(platform)[1])
        platform.clock.current_time += timedelta(minutes=1)
    reviews.claim(platform=platform, case_id=ids[1], actor="anna")
    assert [c.id for c in reviews.list_cases(platform.reader())] == ids
    assert [c.id for c in reviews.list_cases(platform.reader(), status="open")] == [ids[0], ids[2]]
    assert [c.id for c in reviews.list_cases(platform.reader(), status="claimed")] == [ids[1]]
    assert reviews.list_cases(platform.reader(), status="approved") == []
    assert [c.id for c in reviews.list_cases(platform.reader(), limit=1, offset=1)] == [ids[1]]
    with pytest.raises(ValidationError) as err:
        reviews.list_cases(platform.reader(), status="lost")
    assert (err.value.code, err.value.field) == ("invalid_status", "status")


# --- claiming and releasing -------------------------------------------------------------------------

def test_claim_once_and_only_once(platform):
    _, case_id = referred(platform)
    case = reviews.claim(platform=platform, case_id=case_id, actor="anna")
    assert (case.status, case.claimed_by, case.claimed_at) == ("claimed", "anna", platform.clock.now())
    assert reviews.claim(platform=platform, case_id=case_id, actor="anna").events == case.events  # a no-op
    with pytest.raises(ConflictError) as err:
        reviews.claim(platform=platform, case_id=case_id, actor="bo")
    assert (err.value.code, err.value.field) == ("review_claimed", "case_id")
    assert _actions(reviews.get_case(platform.reader(), case_id)) == [("opened", "system"), ("claimed", "anna")]


def test_release(platform):
    _, case_id = referred(platform)
    with pytest.raises(ConflictError) as not_claimed:
        reviews.release(platform=platform, case_id=case_id, actor="anna")
    assert not_claimed.value.code == "review_not_claimed"
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    with pytest.raises(ConflictError) as other:
        reviews.release(platform=platform, case_id=case_id, actor="bo")
    assert other.value.code == "review_claimed"
    case = reviews.release(platform=platform, case_id=case_id, actor="anna", note="need a second opinion")
    assert (case.status, case.claimed_by) == ("open", None)
    reviews.claim(platform=platform, case_id=case_id, actor="bo")
    case = reviews.release(platform=platform, case_id=case_id, actor="admin:1", is_admin=True, note="bo is away")
    assert case.status == "open"
    assert [(e.action, e.actor, e.note) for e in case.events][1:] == [
        ("claimed", "anna", None), ("released", "anna", "need a second opinion"), ("claimed", "bo", None),
        ("released", "admin:1", "bo is away")]


def test_two_operators_cannot_both_claim(platform):
    """Concurrent claims: exactly one wins, the other gets review_claimed (the case row is locked)."""
    _, case_id = referred(platform)
    barrier, outcomes = threading.Barrier(4), []

    def attempt(actor):
        barrier.wait()
        try:
            outcomes.append(reviews.claim(platform=platform, case_id=case_id, actor=actor).claimed_by)
        except ConflictError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt, args=(f"op{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o != "review_claimed"]
    assert len(winners) == 1 and outcomes.count("review_claimed") == 3
    with platform.reader() as uow:
        claims = uow.session.execute(select(review_events).where(review_events.c.case_id == case_id,
                                                                 review_events.c.action == "claimed")).all()
    assert [c.actor for c in claims] == winners


# --- deciding (settle replaced) -----------------------------------------------------------------------

def test_approve_settles_and_closes_the_case(platform, settled):
    app_id, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    platform.clock.current_time += timedelta(minutes=3)
    case = reviews.approve(platform=platform, case_id=case_id, actor="anna", note="  income checked by phone ",
                           limit=Decimal("5000"))
    assert settled == [{"application_id": app_id, "status": "approved", "actor": "anna",
                        "note": "income checked by phone", "limit": Decimal("5000.00")}]
    assert (case.status, case.decided_by, case.decided_at, case.note) == (
        "approved", "anna", platform.clock.now(), "income checked by phone")
    assert case.settlement["credit_line_id"] == 77 and case.to_dict()["settlement"]["credit_line_id"] == 77
    assert case.events[-1].action == "approved"
    assert case.events[-1].note == "income checked by phone [limit 5000.00 below the offered 8000.00]"


def test_reject_settles_and_closes_the_case(platform, settled):
    app_id, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    case = reviews.reject(platform=platform, case_id=case_id, actor="anna", note="statements look edited")
    assert settled[0]["status"] == "rejected" and settled[0]["limit"] is None
    assert case.status == "rejected" and _actions(case)[-1] == ("rejected", "anna")


@pytest.mark.parametrize("note", ["", "   ", "x" * 1001, None])
def test_a_decision_needs_a_note(platform, settled, note):
    _, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    with pytest.raises(ValidationError) as err:
        reviews.approve(platform=platform, case_id=case_id, actor="anna", note=note)
    assert (err.value.code, err.value.field) == ("invalid_note", "note")
    assert settled == [] and reviews.get_case(platform.reader(), case_id).status == "claimed"


def test_a_note_of_1000_characters_is_fine(platform, settled):
    _, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    assert reviews.reject(platform=platform, case_id=case_id, actor="anna", note="n" * 1000).note == "n" * 1000


def test_a_bad_limit_is_refused(platform, settled):
    _, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    with pytest.raises(ValidationError) as err:
        reviews.approve(platform=platform, case_id=case_id, actor="anna", note="ok", limit=Decimal("-1"))
    assert err.value.field == "limit" and settled == []


# --- the policy's offer bounds an operator's limit -------------------------------------------------------

def _refused_limit(platform, case_id, limit, settled) -> PermissionDeniedError:
    with pytest.raises(PermissionDeniedError) as err:
        reviews.approve(platform=platform, case_id=case_id, actor="anna", note="trust me", limit=Decimal(limit))
    assert (err.value.code, err.value.field) == ("limit_above_offer", "limit")
    case = reviews.get_case(platform.reader(), case_id)
    assert case.status == "claimed" and _actions(case)[-1] == ("claimed", "anna") and settled == []
    return err.value


@pytest.mark.parametrize("limit", ["8000.01", "200000"])
def test_an_operator_cannot_approve_above_the_offer(platform, settled, limit):
    _, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    assert "8000.00" in _refused_limit(platform, case_id, limit, settled).message


def test_an_operator_approves_the_offer_or_less(platform, settled):
    for limit, note in (("8000", "fine"), ("8000.00", "fine"), ("2000", "fine [limit 2000.00 below the offered 8000.00]")):
        _, case_id = referred(platform)
        reviews.claim(platform=platform, case_id=case_id, actor="anna")
        case = reviews.approve(platform=platform, case_id=case_id, actor="anna", note="fine", limit=Decimal(limit))
        assert case.status == "approved" and case.events[-1].note == note and case.note == "fine"


def test_an_operator_gives_no_limit_where_the_decision_made_none(platform, settled):
    _, case_id = referred(platform, limit=None)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    assert "no offer" in _refused_limit(platform, case_id, "2000", settled).message


def test_an_admin_overrides_the_offer_and_the_trail_says_so(platform, settled):
    _, case_id = referred(platform)
    case = reviews.approve(platform=platform, case_id=case_id, actor="admin:root", note="board approved",
                           limit=Decimal("20000"), is_admin=True)
    assert case.status == "approved" and settled[-1]["limit"] == Decimal("20000.00")
    assert case.note == "board approved"
    assert case.events[-1].note == ("board approved [limit 20000.00 above the offered 8000.00: "
                                    "administrator override of the policy]")
    _, no_offer_id = referred(platform, limit=None)
    case = reviews.approve(platform=platform, case_id=no_offer_id, actor="admin:root", note="x" * 1000,
                           limit=Decimal("3000"), is_admin=True)
    note = case.events[-1].note
    assert len(note) == 1000 and note.endswith("[limit 3000.00 where the decision made no offer: "
                                               "administrator override of the policy]")
    assert case.note == "x" * 1000  # the case keeps the person's note whole


# --- notes that cannot be stored -------------------------------------------------------------------------

@pytest.mark.parametrize("note", ["a\ud800b", "\udfff", "ok \ud83d"])
def test_a_note_with_a_lone_surrogate_is_refused(platform, settled, note):
    _, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    for action in (lambda: reviews.release(platform=platform, case_id=case_id, actor="anna", note=note),
                   lambda: reviews.approve(platform=platform, case_id=case_id, actor="anna", note=note),
                   lambda: reviews.reject(platform=platform, case_id=case_id, actor="anna", note=note)):
        with pytest.raises(ValidationError) as err:
            action()
        assert (err.value.code, err.value.field) == ("invalid_note", "note")
    case = reviews.get_case(platform.reader(), case_id)
    assert case.status == "claimed" and settled == []
    assert reviews.approve(platform=platform, case_id=case_id, actor="anna", note="张三 ok 😀").status == "approved"


def test_only_the_claimer_or_an_admin_decides(platform, settled):
    _, case_id = referred(platform)
    with pytest.raises(ConflictError) as unclaimed:
        reviews.approve(platform=platform, case_id=case_id, actor="anna", note="ok")
    assert unclaimed.value.code == "review_not_claimed"
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    with pytest.raises(ConflictError) as other:
        reviews.reject(platform=platform, case_id=case_id, actor="bo", note="no")
    assert other.value.code == "review_claimed" and settled == []
    case = reviews.reject(platform=platform, case_id=case_id, actor="admin:root", note="anna is on leave",
                          is_admin=True)
    assert case.status == "rejected" and case.decided_by == "admin:root"
    _, unclaimed_id = referred(platform)
    assert reviews.approve(platform=platform, case_id=unclaimed_id, actor="admin:root", note="clear case",
                           is_admin=True).status == "approved"


def test_a_decided_case_is_closed(platform, settled):
    _, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    reviews.approve(platform=platform, case_id=case_id, actor="anna", note="fine")
    for action in (lambda: reviews.claim(platform=platform, case_id=case_id, actor="anna"),
                   lambda: reviews.release(platform=platform, case_id=case_id, actor="anna"),
                   lambda: reviews.approve(platform=platform, case_id=case_id, actor="anna", note="again"),
                   lambda: reviews.reject(platform=platform, case_id=case_id, actor="x", note="no", is_admin=True)):
        with pytest.raises(ConflictError) as err:
            action()
        assert err.value.code == "review_closed"
    assert len(settled) == 1


def test_a_failed_settlement_leaves_the_case_as_it_was(platform, monkeypatch):
    settle = _settle_module()

    def refuse(**_):
        raise ConflictError("application 1 is already approved", code="application_not_open", field="application_id")

    monkeypatch.setattr(settle, "settle", refuse)
    _, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    with pytest.raises(ConflictError) as err:
        reviews.approve(platform=platform, case_id=case_id, actor="anna", note="ok")
    assert err.value.code == "application_not_open"
    case = reviews.get_case(platform.reader(), case_id)
    assert case.status == "claimed" and _actions(case)[-1] == ("claimed", "anna")


def test_unknown_cases(platform):
    for action in (lambda: reviews.claim(platform=platform, case_id=5555, actor="a"),
                   lambda: reviews.release(platform=platform, case_id=5555, actor="a"),
                   lambda: reviews.approve(platform=platform, case_id=5555, actor="a", note="n", is_admin=True),
                   lambda: reviews.reject(platform=platform, case_id=5555, actor="a", note="n", is_admin=True)):
        with pytest.raises(NotFoundError):
            action()


# --- deciding with origination's real settlement --------------------------------------------------

def _application(platform, app_id):
    with platform.reader() as uow:
        return uow.session.execute(select(applications).where(applications.c.id == app_id)).one()


def test_approval_grants_the_offered_line_for_real(platform):
    _settle_module()
    app_id, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    case = reviews.approve(platform=platform, case_id=case_id, actor="anna", note="verified employer")
    app = _application(platform, app_id)
    assert app.status == "approved" and app.customer_id is not None and app.credit_line_id is not None
    with platform.reader() as uow:
        line = uow.session.execute(select(credit_lines).where(credit_lines.c.id == app.credit_line_id)).one()
    assert (line.customer_id, line.limit, line.status) == (app.customer_id, Decimal("8000.00"), "active")
    assert case.status == "approved" and case.application["status"] == "approved"
    assert case.settlement["credit_line_id"] == line.id


def test_approval_with_another_limit_for_real(platform):
    _settle_module()
    app_id, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    reviews.approve(platform=platform, case_id=case_id, actor="anna", note="lower limit", limit=Decimal("3000"))
    with platform.reader() as uow:
        limit = uow.session.execute(select(credit_lines.c.limit).where(
            credit_lines.c.id == _application(platform, app_id).credit_line_id)).scalar_one()
    assert limit == Decimal("3000.00")


def test_approval_without_an_offer_needs_a_limit_for_real(platform):
    _settle_module()
    app_id, case_id = referred(platform, limit=None)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    with pytest.raises(Exception) as err:
        reviews.approve(platform=platform, case_id=case_id, actor="anna", note="no offer")
    assert getattr(err.value, "code", None) == "offer_required"
    assert reviews.get_case(platform.reader(), case_id).status == "claimed"
    assert _application(platform, app_id).status == "review"


def test_rejection_for_real(platform):
    _settle_module()
    app_id, case_id = referred(platform)
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    reviews.reject(platform=platform, case_id=case_id, actor="anna", note="forged payslip")
    app = _application(platform, app_id)
    assert app.status == "rejected" and app.credit_line_id is None and app.decided_at is not None


def test_an_application_already_final_for_real(platform):
    _settle_module()
    app_id, case_id = referred(platform, status="rejected")
    reviews.claim(platform=platform, case_id=case_id, actor="anna")
    with pytest.raises(ConflictError) as err:
        reviews.approve(platform=platform, case_id=case_id, actor="anna", note="ok")
    assert err.value.code == "application_not_open"
    assert reviews.get_case(platform.reader(), case_id).status == "claimed"


# --- CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def cli(platform, db_url, monkeypatch):
    monkeypatch.setenv("MICROLEND_DATABASE_URL", db_url)
    monkeypatch.setenv("MICROLEND_ENV", "test")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(reviews_app, list(args))
    get_settings.cache_clear()


def test_cli_works_the_queue(cli, platform):
    _settle_module()
    app_id, case_id = referred(platform)
    _, other_id = referred(platform)
    listed = cli("list", "--status", "open")
    assert listed.exit_code == 0 and "kyc_timeout" in listed.output, listed.output
    assert [c["id"] for c in json.loads(cli("list", "--json").stdout)] == [case_id, other_id]
    shown = cli("show", str(case_id))
    assert shown.exit_code == 0 and "opened" in shown.output and "decision record" in shown.output
    assert cli("claim", str(case_id), "--as", "anna").exit_code == 0
    taken = cli("claim", str(case_id), "--as", "bo")
    assert taken.exit_code == 2 and "error: review_claimed" in taken.output
    no_note = cli("approve", str(case_id), "--note", " ", "--as", "anna")
    assert no_note.exit_code == 2 and "error: invalid_note" in no_note.output
    bad_limit = cli("approve", str(case_id), "--note", "ok", "--as", "anna", "--limit", "lots")
    assert bad_limit.exit_code == 2 and "error: invalid_amount" in bad_limit.output
    above = cli("approve", str(case_id), "--note", "ok", "--as", "anna", "--limit", "9000")
    assert above.exit_code == 2 and "error: limit_above_offer (limit)" in above.output
    approved = cli("approve", str(case_id), "--note", "called the employer", "--as", "anna", "--limit", "4000")
    assert approved.exit_code == 0 and "credit line" in approved.output, approved.output
    assert _application(platform, app_id).status == "approved"
    assert cli("claim", str(other_id), "--as", "bo").exit_code == 0
    rejected = cli("reject", str(other_id), "--note", "fraud ring", "--as", "anna", "--admin", "--json")
    assert rejected.exit_code == 0 and json.loads(rejected.stdout)["decided_by"] == "anna"
    shown = cli("show", str(case_id))
    assert _application(platform, app_id).name not in shown.output  # the applicant's name is masked
    _, third_id = referred(platform)
    override = cli("approve", str(third_id), "--note", "board said so", "--as", "root", "--admin", "--limit",
                   "12000", "--json")
    assert override.exit_code == 0, override.output
    assert "administrator override" in json.loads(override.stdout)["events"][-1]["note"]
    assert cli("show", "424242").exit_code == 2
    bad = cli("list", "--status", "lost")
    assert bad.exit_code == 2 and "error: invalid_status" in bad.output
