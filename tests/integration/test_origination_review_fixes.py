"""Regressions for what the independent review of origination found: the pause enforced under the line
lock, one open application per person, a release that cannot get stuck, a race on the first customer
row, a Redis outage after the commit, decisions that cannot be made, referred grants in backtests,
facts the rule language promises, and who may answer for a guarantor."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
from origination_helpers import good_person, record_of, store_policy, submit, uniform_document
from sqlalchemy import select

from microlend.errors import BusinessRuleError, ConflictError
from microlend.lending.identity import parse_id_number
from microlend.rules.builtin import builtin_rule_set
from microlend.services import customers, drawdowns
from microlend.services.origination import backtest, pauses
from microlend.services.origination import decide as decide_module
from microlend.simulation.demo_model import install_demo_scorecard
from microlend.store.origination_tables import applications, customer_pauses, decision_records
from microlend.store.tables import credit_lines


@pytest.fixture
def champion(platform):
    return install_demo_scorecard(platform)


def _status(platform, application_id: int) -> str:
    with platform.reader() as reader:
        return reader.session.execute(select(applications.c.status)
                                      .where(applications.c.id == application_id)).scalar_one()


def test_a_paused_customer_cannot_draw_down_even_without_the_risk_check(platform, make_line, rail):
    line = make_line()
    with platform.uow() as uow:
        pauses.pause_customer(uow=uow, customer_id=line.customer_id, reason="test", source_kind="staff",
                              actor="test", now=platform.clock.now())
        uow.commit()
    with pytest.raises(BusinessRuleError) as refused:
        drawdowns.request_drawdown(uow=platform.uow(), rail=rail, cipher=platform.cipher, clock=platform.clock,
                                   line_id=line.id, amount=Decimal("500"), term=5)
    assert refused.value.code == "customer_paused"
    assert rail.instructions == []
    with platform.reader() as reader:
        assert reader.lines.get(line.id).used == Decimal("0.00")


def test_one_open_application_per_person(platform, champion):
    who = good_person(platform, 301)
    platform.bureau.steer(who.id_number, "timeout")  # the first one waits in review
    first = submit(platform, who)
    assert first["status"] == "review"
    with pytest.raises(ConflictError) as refused:
        submit(platform, who, n=2)
    assert refused.value.code == "application_open" and refused.value.extra["application_id"] == first["id"]


def test_a_release_whose_application_cannot_be_granted_rejects_it_and_still_releases(platform, champion):
    """Held in step-up while a line was granted by other means: the release rejects the held application
    (line_exists) instead of failing, and the pause is lifted."""
    from microlend.services.origination import settle

    who = good_person(platform, 302)
    view = submit(platform, who)
    assert view["status"] == "approved"
    record = record_of(platform, view["id"])
    record["decision"].update(outcome="step_up", status="step_up", after_step_up="approve")
    with platform.uow() as uow:  # make it look held in step-up (its line granted by other means), then release
        uow.session.execute(applications.update().where(applications.c.id == view["id"])
                            .values(status="step_up", credit_line_id=None))
        uow.session.execute(decision_records.update().where(decision_records.c.application_id == view["id"])
                            .values(record=json.dumps(record)))
        uow.session.execute(customer_pauses.insert().values(
            customer_id=view["customer_id"], reason="test", source_kind="application", source_id=view["id"],
            paused_by="test", paused_at=platform.clock.now()))
        uow.commit()
    with platform.uow() as uow:
        settle.resume_after_verification(uow=uow, platform=platform, customer_id=view["customer_id"], actor="test")
        uow.commit()
    assert _status(platform, view["id"]) == "rejected"
    with platform.reader() as reader:
        assert len(reader.session.execute(select(credit_lines.c.id)
                                          .where(credit_lines.c.customer_id == view["customer_id"])).all()) == 1


def test_a_customer_created_meanwhile_is_reused_not_a_crash(platform, champion, monkeypatch):
    """Two first applications of one person race; the one storing second finds the customer row there."""
    who = good_person(platform, 303)
    real = decide_module.decide_application

    def racing(platform_, applicant, **kwargs):
        decision = real(platform_, applicant, **kwargs)
        customers.register_customer(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock,
                                    name=who.name, id_number=who.id_number, phone=who.phone,
                                    bank_card=who.bank_card)
        return decision

    from microlend.services.origination import applications as apps

    monkeypatch.setattr(apps, "decide_application", racing)
    view = submit(platform, who)
    assert view["status"] == "approved" and view["credit_line_id"] is not None
    with platform.reader() as reader:
        customer = reader.customers.get(view["customer_id"])
    assert customer.id_number_hash == platform.cipher.lookup_hash(parse_id_number(who.id_number).number,
                                                                  field="id_number")


class _DownStore:
    def record(self, event):
        raise ConnectionError("redis is down")

    def aggregate(self, **kwargs):
        return 0


def test_an_outside_store_down_after_the_commit_keeps_the_decision(platform, champion, caplog):
    platform.velocity = _DownStore()
    who = good_person(platform, 304)
    with caplog.at_level(logging.WARNING):
        view = submit(platform, who)
    assert view["status"] == "approved" and view["credit_line_id"] is not None
    assert "velocity store is unavailable" in caplog.text


def test_a_decision_that_cannot_be_made_is_referred_not_left_half_done(platform, champion, monkeypatch):
    from microlend.services.origination import applications as apps

    def broken(*args, **kwargs):
        raise ArithmeticError("a policy that breaks at run time")

    monkeypatch.setattr(apps, "decide_application", broken)
    view = submit(platform, good_person(platform, 305))
    assert view["status"] == "review"
    record = record_of(platform, view["id"])
    assert record["decision"]["error"] == "ArithmeticError"
    assert [r["code"] for r in view["reasons"]] == ["decision_failed"]
    # the record of a decision that could not be made is backtested without errors, and does not move
    report = backtest.backtest(uow=platform.reader(), candidate=builtin_rule_set("application"),
                               stage="application")
    assert report.evaluated == 1 and report.moved == 0


def test_a_referred_grant_is_not_a_moved_decision_in_a_backtest(platform, champion, monkeypatch):
    from microlend.services.origination import settle

    def refused(**kwargs):
        raise ConflictError("the customer already has an open line for this product", code="line_exists")

    monkeypatch.setattr(settle, "grant_in_transaction", refused)
    view = submit(platform, good_person(platform, 306))
    assert view["status"] == "review"
    record = record_of(platform, view["id"])
    assert record["decision"]["parts"]["grant"] == "review"
    report = backtest.backtest(uow=platform.reader(), candidate=builtin_rule_set("application"),
                               stage="application")
    assert report.evaluated == 1 and report.moved == 0


def test_the_documented_facts_are_supplied(platform, champion):
    view = submit(platform, good_person(platform, 307))
    facts = record_of(platform, view["id"])["facts"]
    for name in ("loans_closed", "defaults", "history_months", "thin_file", "has_record", "overdue_count_24m"):
        assert facts["bureau"][name] is not None, name
    assert facts["statements"]["income_volatility"] is not None
    assert facts["statements"]["income_monthly_min"] is not None


def test_an_operator_cannot_answer_for_a_guarantor(client, auth, platform, champion, make_customer):
    guarantor = make_customer()
    store_policy(platform, uniform_document({"action": "risk_share", "income_multiple": "2.0",
                                             "daily_rate": "0.0003"}))
    who = good_person(platform, 308)
    view = submit(platform, who, risk_sharing={"kind": "guarantor", "guarantor_customer_id": guarantor.id})
    assert view["status"] == "awaiting_guarantor"
    url = f"/v1/applications/{view['id']}/guarantor"
    r = client.post(url, json={"accept": True}, headers=auth("operator"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client.post(url, json={"accept": True}, headers=auth("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
