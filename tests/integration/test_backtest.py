"""Backtests over a hand-built history of decision records, and shadow reports over hand-built shadow results.

The live set ``live@1`` had ``many_apps`` (>= 3 applications from the ID number in an hour -> reject),
``enquiries`` (>= 4 bureau enquiries in a month -> review) and ``old_rule`` (-> reject). The candidate
lowers ``many_apps`` to 2, keeps ``enquiries``, drops ``old_rule`` and adds ``low_income`` (< 3000 -> review).

| record | id count 1h | enquiries | income | live rules hit | sources | policy | live outcome | candidate |
|---|---|---|---|---|---|---|---|---|
| A1 | 2 | 1 | 5000 | - | approve | approve | approve | reject (many_apps) |
| A2 | 0 | 5 | 8000 | enquiries | approve | approve | review | review |
| A3 | 3 | 0 | 2000 | many_apps | approve | approve | reject | reject |
| A4 | 0 | (no bureau) | 9000 | - | review | review | review | review |
| A5 | 1 | 0 | 4000 | - | approve | reject | reject | reject |
| A6 | 0 | 0 | 6000 | old_rule | approve | approve | reject | approve |
| A7 | 0 | 0 | 7000 | - | approve | awaiting_guarantor | approve | approve |
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from microlend.errors import NotFoundError, ValidationError
from microlend.rules.language import parse_rule_set
from microlend.rules.velocity import InMemoryVelocityStore, VelocityEvent
from microlend.services.origination import rule_sets
from microlend.services.origination.backtest import backtest, shadow_report
from microlend.store.origination_tables import applications, decision_records, shadow_results

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)

CANDIDATE = parse_rule_set("""
name: candidate
version: 2
stage: application
rules:
  - id: many_apps
    when: count("application", by="id_number", within="1h") >= 2
    outcome: reject
    reason: Two or more applications in an hour
  - id: enquiries
    when: bureau.enquiries_1m >= 4
    outcome: review
    reason: Many enquiries
  - id: low_income
    when: application.income < 3000
    outcome: review
    reason: Low income
""")

HISTORY = [  # name, id count, enquiries (None: no bureau), income, live hits, sources, policy, outcome
    ("A1", 2, 1, 5000, (), "approve", "approve", "approve"),
    ("A2", 0, 5, 8000, ("enquiries",), "approve", "approve", "review"),
    ("A3", 3, 0, 2000, ("many_apps",), "approve", "approve", "reject"),
    ("A4", 0, None, 9000, (), "review", "review", "review"),
    ("A5", 1, 0, 4000, (), "approve", "reject", "reject"),
    ("A6", 0, 0, 6000, ("old_rule",), "approve", "approve", "reject"),
    ("A7", 0, 0, 7000, (), "approve", "awaiting_guarantor", "approve"),
]
LIVE_RULES = {"many_apps": "reject", "enquiries": "review", "old_rule": "reject"}


def _result(rule_id: str, outcome: str, hit: bool) -> dict:
    return {"id": rule_id, "hit": hit, "outcome": outcome, "reason": rule_id, "reason_zh": rule_id, "points": 0,
            "error": None}


def make_record(*, name: str, at: datetime, id_count: int, enquiries, income: int, hits, sources: str, policy,
                outcome: str, kind: str = "application", application_id: int | None = None) -> dict:
    keys = {"id_number": f"h-id-{name}", "phone": f"h-phone-{name}", "device": f"h-dev-{name}"}
    results = [_result(rule_id, rule_outcome, rule_id in hits) for rule_id, rule_outcome in LIVE_RULES.items()]
    rules_decision = "reject" if {"many_apps", "old_rule"} & set(hits) else ("review" if hits else "approve")
    return {
        "kind": kind, "application_id": application_id, "customer_id": None, "credit_line_id": None,
        "at": at.isoformat(), "business_date": at.date().isoformat(), "inputs": {}, "sources": {}, "findings": [],
        "facts": {"application": {"income": str(income), "industry": "retail", "region": "44"}, "keys": keys,
                  "bureau": None if enquiries is None else {"enquiries_1m": str(enquiries), "overdue_now": False},
                  "statements": None, "findings": [], "line": None,
                  "lists": {f"blocked_{k}": [] for k in ("id_number", "phone", "device", "ip", "card")}},
        "windows": [{"function": "count", "kind": "application", "by": "id_number", "value": keys["id_number"],
                     "within_s": 3600, "field": None, "include": None, "result": str(id_count)}],
        "rules": {"rule_set": "live", "version": 1, "stage": kind, "fingerprint": "f" * 64,
                  "decision": rules_decision, "points": 0, "results": results},
        "score": None, "policy": None,
        "decision": {"outcome": outcome, "status": outcome, "after_step_up": None, "reasons": [],
                     "parts": {"rules": rules_decision, "sources": sources, "policy": policy}},
        "versions": {"rule_set": {"name": "live", "version": 1, "fingerprint": "f" * 64}},
    }


def insert_application(uow, name: str, at: datetime) -> int:
    return uow.session.execute(insert(applications).values(
        status="received", name=name, id_number_token="t", id_number_hash=f"h-id-{name}",
        id_number_masked="110***********002X", phone_token="t", phone_hash="h", phone_masked="138****5678",
        card_token="t", card_hash="h", card_masked="622202*********0128", device_hash="h", ip_hash="h",
        ip_masked="203.0.113.*", declared_income=5000, industry="retail", region="44", product_code="REVOLVE",
        channel="api", created_by="test", created_at=at).returning(applications.c.id)).scalar_one()


def insert_record(uow, record: dict, at: datetime, *, text: str | None = None) -> int:
    return uow.session.execute(insert(decision_records).values(
        kind=record["kind"], application_id=record["application_id"], decision=record["decision"]["outcome"],
        record=text if text is not None else json.dumps(record), rule_set="live", rule_set_version=1,
        rule_set_fingerprint="f" * 64, created_at=at).returning(decision_records.c.id)).scalar_one()


@pytest.fixture
def history(platform) -> dict[str, dict]:
    """The seven application records an hour apart (A1 at T0), and a drawdown record among them."""
    out = {}
    with platform.uow() as uow:
        for i, (name, id_count, enquiries, income, hits, sources, policy, outcome) in enumerate(HISTORY):
            at = T0 + timedelta(hours=i)
            app_id = insert_application(uow, name, at)
            record = make_record(name=name, at=at, id_count=id_count, enquiries=enquiries, income=income, hits=hits,
                                 sources=sources, policy=policy, outcome=outcome, application_id=app_id)
            out[name] = {"application_id": app_id, "record_id": insert_record(uow, record, at), "at": at}
        drawdown = make_record(name="D1", at=T0, id_count=9, enquiries=9, income=1, hits=("many_apps",),
                               sources="approve", policy=None, outcome="reject", kind="drawdown")
        out["D1"] = {"record_id": insert_record(uow, drawdown, T0 + timedelta(minutes=30))}
        uow.commit()
    return out


def test_exact_hits_matrix_and_moved_decisions(platform, history):
    report = backtest(uow=platform.reader(), candidate=CANDIDATE)
    assert report.evaluated == 7 and report.skipped == [] and report.rule_errors == 0
    assert report.rule_set == {"name": "candidate", "version": 2, "stage": "application",
                               "fingerprint": CANDIDATE.fingerprint}
    rules = {r.id: r.to_dict() for r in report.rules}
    assert list(rules) == ["many_apps", "enquiries", "low_income"]  # old_rule is not the candidate's
    assert rules["many_apps"] == {"id": "many_apps", "outcome": "reject", "hits": 2, "errors": 0, "compared": 7,
                                  "live_hits": 1, "new_hits": 1, "lost_hits": 0}
    assert rules["enquiries"] == {"id": "enquiries", "outcome": "review", "hits": 1, "errors": 0, "compared": 7,
                                  "live_hits": 1, "new_hits": 0, "lost_hits": 0}
    assert rules["low_income"] == {"id": "low_income", "outcome": "review", "hits": 1, "errors": 0, "compared": 0,
                                   "live_hits": None, "new_hits": 0, "lost_hits": 0}
    nonzero = {(live, cand): n for live, row in report.matrix.items() for cand, n in row.items() if n}
    assert nonzero == {("approve", "reject"): 1, ("review", "review"): 2, ("reject", "reject"): 2,
                       ("reject", "approve"): 1, ("approve", "approve"): 1}
    assert report.moved == 2
    assert report.moved_sample == [
        {"decision_record_id": history["A1"]["record_id"], "application_id": history["A1"]["application_id"],
         "live": "approve", "candidate": "reject"},
        {"decision_record_id": history["A6"]["record_id"], "application_id": history["A6"]["application_id"],
         "live": "reject", "candidate": "approve"}]
    json.dumps(report.to_dict())  # JSON-ready


def test_period_and_limit(platform, history):
    since = history["A3"]["at"]
    report = backtest(uow=platform.reader(), candidate=CANDIDATE, since=since, until=history["A7"]["at"])
    assert report.evaluated == 4  # A3, A4, A5, A6
    assert report.moved == 1 and report.moved_sample[0]["application_id"] == history["A6"]["application_id"]
    limited = backtest(uow=platform.reader(), candidate=CANDIDATE, limit=2)
    assert limited.evaluated == 2 and limited.moved == 1  # A1, A2
    for bad in [dict(since=T0, until=T0), dict(since=T0.replace(tzinfo=None)), dict(limit=0)]:
        with pytest.raises(ValidationError):
            backtest(uow=platform.reader(), candidate=CANDIDATE, **bad)
    with pytest.raises(ValidationError) as caught:
        backtest(uow=platform.reader(), candidate=CANDIDATE, stage="drawdown")
    assert caught.value.code == "stage_mismatch"


def test_replaying_the_live_rules_moves_only_what_they_cannot_see(platform, history):
    live = parse_rule_set(CANDIDATE.text.replace(">= 2", ">= 3").replace("low_income", "old_rule")
                          .replace("application.income < 3000", "application.income < 0")
                          .replace("outcome: review\n    reason: Low income", "outcome: reject\n    reason: Old"))
    report = backtest(uow=platform.reader(), candidate=live)
    assert report.evaluated == 7
    assert report.moved == 1 and report.moved_sample[0]["application_id"] == history["A6"]["application_id"]
    # only A6 moves: its old_rule hit live on a fact this replacement rule cannot see
    assert {r.id: (r.hits, r.live_hits, r.lost_hits) for r in report.rules} == {
        "many_apps": (1, 1, 0), "enquiries": (1, 1, 0), "old_rule": (0, 1, 1)}


def test_drawdowns_have_no_policy_vote(platform, history):
    candidate = parse_rule_set("""
name: dd
version: 1
stage: drawdown
rules:
  - id: big
    when: application.amount > 100
    outcome: review
    reason: Big
""")
    report = backtest(uow=platform.reader(), candidate=candidate)
    assert report.evaluated == 1
    assert report.matrix["reject"]["approve"] == 1 and report.moved == 1  # not "review" for want of a policy
    assert report.moved_sample[0]["application_id"] is None


def test_windows_the_records_lack_are_rule_errors_unless_a_fallback_store_answers(platform, history):
    candidate = parse_rule_set("""
name: devices
version: 1
stage: application
rules:
  - id: device_busy
    when: count("application", by="device", within="24h") >= 2
    outcome: reject
    reason: Busy device
""")
    report = backtest(uow=platform.reader(), candidate=candidate)
    assert report.rule_errors == 7 and report.rules[0].errors == 7 and report.rules[0].hits == 0
    assert report.matrix["approve"]["review"] == 2  # a broken rule never approves quietly

    store = InMemoryVelocityStore()
    a1 = history["A1"]["at"]
    for i, at in enumerate([a1 - timedelta(hours=2), a1 - timedelta(minutes=1), a1]):  # the last is A1 itself
        store.record(VelocityEvent("application", at, {"device": "h-dev-A1"}, ref=f"e{i}"))
    answered = backtest(uow=platform.reader(), candidate=candidate, fallback_store=store)
    assert answered.rule_errors == 0
    assert answered.rules[0].hits == 1
    # A1 now rejected; A2, A3 and A6 approved (this candidate has only the device rule)
    assert answered.moved == 4
    assert answered.moved_sample[0] == {"decision_record_id": history["A1"]["record_id"],
                                        "application_id": history["A1"]["application_id"],
                                        "live": "approve", "candidate": "reject"}
    assert [m["candidate"] for m in answered.moved_sample[1:]] == ["approve"] * 3


def test_broken_records_are_skipped_with_their_id(platform, history):
    with platform.uow() as uow:
        broken = insert_record(uow, {"kind": "application", "application_id": None,
                                     "decision": {"outcome": "approve"}}, T0, text="{not json")
        no_facts = insert_record(uow, {"kind": "application", "application_id": None,
                                       "decision": {"outcome": "approve"}}, T0)
        uow.commit()
    report = backtest(uow=platform.reader(), candidate=CANDIDATE)
    assert report.evaluated == 7
    assert [s["decision_record_id"] for s in report.skipped] == [broken, no_facts]


def test_shadow_report(platform, history):
    rule_sets.store_rule_set(uow=platform.uow(), clock=platform.clock, text=CANDIDATE.text, actor="risk")
    empty = shadow_report(uow=platform.reader(), name="candidate", version=2)
    assert (empty.count, empty.agreement) == (0, None)
    rows = [("A1", "approve", "reject", {"many_apps": True}), ("A2", "review", "review", {"enquiries": True}),
            ("A3", "reject", "reject", {"many_apps": True}), ("A4", "review", "review", {}),
            ("A6", "reject", "approve", {})]
    with platform.uow() as uow:
        for name, live, shadow, hit in rows:
            results = [_result(rule.id, rule.outcome, hit.get(rule.id, False)) for rule in CANDIDATE.rules]
            if name == "A4":
                results[1]["error"] = "LookupError: window was not recorded"
            uow.session.execute(insert(shadow_results).values(
                decision_record_id=history[name]["record_id"], stage="application", rule_set="candidate",
                rule_set_version=2, live_decision=live, shadow_decision=shadow,
                # as the flow stores them (the hits and errors only), or a whole Evaluation.to_dict()
                results=json.dumps([r for r in results if r["hit"] or r["error"]] if name != "A3" else
                                   {"rule_set": "candidate", "version": 2, "decision": shadow, "results": results}),
                created_at=history[name]["at"]))
        uow.session.execute(insert(shadow_results).values(  # another set's verdict is not counted
            decision_record_id=history["A5"]["record_id"], stage="application", rule_set="candidate",
            rule_set_version=1, live_decision="reject", shadow_decision="approve", results="[]", created_at=T0))
        uow.commit()
    report = shadow_report(uow=platform.reader(), name="candidate", version=2)
    assert (report.count, report.agreed, report.agreement) == (5, 3, 0.6)
    assert report.matrix["approve"]["reject"] == 1 and report.matrix["reject"]["approve"] == 1
    assert report.matrix["review"]["review"] == 2 and report.matrix["reject"]["reject"] == 1
    assert report.rules == [{"id": "many_apps", "hits": 2, "errors": 0}, {"id": "enquiries", "hits": 1, "errors": 1},
                            {"id": "low_income", "hits": 0, "errors": 0}]  # every rule, hit or not
    assert report.to_dict()["rule_set"]["status"] == "draft"
    with pytest.raises(NotFoundError):
        shadow_report(uow=platform.reader(), name="candidate", version=3)
