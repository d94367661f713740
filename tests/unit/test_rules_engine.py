"""The rule engine: decisions by severity, points, per-rule results, errors, window boundaries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from microlend.errors import ValidationError
from microlend.rules import (
    OUTCOMES,
    InMemoryVelocityStore,
    VelocityEvent,
    evaluate,
    most_severe,
    parse_rule_set,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def rule_set(*rules: tuple[str, str, str, int], stage: str = "application"):
    lines = ["name: t", "version: 7", f"stage: {stage}", "rules:"]
    for rule_id, when, outcome, points in rules:
        lines += [f"  - id: {rule_id}", f"    when: '{when}'", f"    outcome: {outcome}",
                  f"    reason: {rule_id} reason", f"    reason_zh: {rule_id} 原因", f"    points: {points}"]
    return parse_rule_set("\n".join(lines) + "\n")


def test_nothing_hits_means_approve():
    rs = rule_set(("a", "bureau.enquiries_1m >= 4", "reject", -10))
    result = evaluate(rs, {"bureau": {"enquiries_1m": 1}}, InMemoryVelocityStore(), NOW)
    assert result.decision == "approve" and result.points == 0 and result.hits == ()
    assert (result.rule_set, result.version, result.stage) == ("t", 7, "application")
    assert result.fingerprint == rs.fingerprint


@pytest.mark.parametrize(("hits", "expected"), [
    (["approve"], "approve"),
    (["review"], "review"),
    (["review", "approve"], "review"),
    (["step_up", "review"], "step_up"),
    (["review", "step_up", "approve"], "step_up"),
    (["reject", "step_up"], "reject"),
    (["approve", "review", "step_up", "reject"], "reject"),
])
def test_decision_is_the_most_severe_hit(hits, expected):
    rules = [(f"r{i}", "true", outcome, 0) for i, outcome in enumerate(hits)]
    rules.append(("never", "false", "reject", 0))
    result = evaluate(rule_set(*rules), {}, InMemoryVelocityStore(), NOW)
    assert result.decision == expected
    assert most_severe(hits) == expected


def test_severity_order_and_most_severe_of_nothing():
    assert OUTCOMES == ("approve", "review", "step_up", "reject")
    assert most_severe([]) == "approve"


def test_points_sum_over_hits_only_and_results_in_order():
    rs = rule_set(("a", "true", "review", -10), ("b", "false", "reject", -100), ("c", "1 < 2", "approve", 25),
                  ("d", "true", "review", 0))
    result = evaluate(rs, {}, InMemoryVelocityStore(), NOW)
    assert result.points == 15
    assert [(r.id, r.hit) for r in result.results] == [("a", True), ("b", False), ("c", True), ("d", True)]
    assert result.results[1].to_dict() == {"id": "b", "hit": False, "outcome": "reject", "reason": "b reason",
                                           "reason_zh": "b 原因", "points": -100, "error": None}
    assert result.reasons() == ["a reason", "d reason", "c reason"]  # most severe first, stable
    assert result.reasons("zh")[0] == "a 原因"
    data = result.to_dict()
    assert data["decision"] == "review" and data["points"] == 15 and len(data["results"]) == 4
    assert data["version"] == 7 and data["rule_set"] == "t"


def test_a_failing_rule_is_reported_and_raises_the_decision_to_review():
    rs = rule_set(("bad", "application.industry > 3", "reject", -50), ("ok", "true", "approve", 5))
    facts = {"application": {"industry": "retail"}}  # str > Decimal: TypeError at evaluation
    result = evaluate(rs, facts, InMemoryVelocityStore(), NOW)
    bad = result.results[0]
    assert bad.hit is False and bad.error is not None and "TypeError" in bad.error
    assert result.errors == (bad,)
    assert result.decision == "review" and result.points == 5
    assert evaluate(rs, facts, InMemoryVelocityStore(), NOW, error_outcome=None).decision == "approve"
    assert evaluate(rs, facts, InMemoryVelocityStore(), NOW, error_outcome="reject").decision == "reject"


def test_a_failing_store_is_a_rule_error_not_a_crash():
    class Down:
        def aggregate(self, **kw):
            raise ConnectionError("redis is down")

    rs = rule_set(("v", 'count("application", by="id_number", within="1h") >= 3', "reject", 0))
    result = evaluate(rs, {"keys": {"id_number": "x"}}, Down(), NOW)
    assert result.decision == "review" and "redis is down" in result.results[0].error


def test_naive_time_and_unknown_error_outcome_are_refused():
    rs = rule_set(("a", "true", "review", 0))
    with pytest.raises(ValidationError):
        evaluate(rs, {}, InMemoryVelocityStore(), datetime(2025, 1, 1))
    with pytest.raises(ValidationError):
        evaluate(rs, {}, InMemoryVelocityStore(), NOW, error_outcome="deny")


def test_same_window_asked_by_two_rules_is_fetched_once():
    calls = []

    class Counting(InMemoryVelocityStore):
        def aggregate(self, **kw):
            calls.append(kw)
            return super().aggregate(**kw)

    rs = rule_set(("a", 'count("application", by="device", within="1h") >= 3', "reject", 0),
                  ("b", 'count("application", by="device", within="1h") >= 1', "review", 0),
                  ("c", 'count("application", by="device", within="24h") >= 1', "review", 0))
    store = Counting()
    store.record(VelocityEvent("application", NOW - timedelta(minutes=1), {"device": "d"}, ref="1"))
    result = evaluate(rs, {"keys": {"device": "d"}}, store, NOW)
    assert [r.hit for r in result.results] == [False, True, True]
    assert len(calls) == 2


# --- windows ---------------------------------------------------------------------------------------------------

COUNT_1H = rule_set(("c", 'count("application", by="id_number", within="1h") >= 1', "review", 0))


def _one_event_at(at: datetime) -> InMemoryVelocityStore:
    store = InMemoryVelocityStore()
    store.record(VelocityEvent("application", at, {"id_number": "a"}, ref="x"))
    return store


@pytest.mark.parametrize(("age", "inside"), [
    (timedelta(hours=1), False),                              # exactly `within` old: out
    (timedelta(hours=1) - timedelta(microseconds=1), True),   # just inside
    (timedelta(hours=1, seconds=1), False),
    (timedelta(0), True),                                     # at now: in
    (-timedelta(seconds=1), False),                           # after now (a later event): out
])
def test_window_boundaries(age, inside):
    store = _one_event_at(NOW - age)
    hit = evaluate(COUNT_1H, {"keys": {"id_number": "a"}}, store, NOW).results[0].hit
    assert hit is inside


def test_windows_key_on_the_current_events_keys_and_kind():
    store = _one_event_at(NOW - timedelta(minutes=5))
    assert not evaluate(COUNT_1H, {"keys": {"id_number": "b"}}, store, NOW).results[0].hit
    assert not evaluate(COUNT_1H, {"keys": {}}, store, NOW).results[0].hit
    assert not evaluate(COUNT_1H, {}, store, NOW).results[0].hit
    store.record(VelocityEvent("drawdown", NOW, {"id_number": "b"}, amount=Decimal(1), ref="y"))
    assert not evaluate(COUNT_1H, {"keys": {"id_number": "b"}}, store, NOW).results[0].hit


def test_in_memory_store_semantics():
    store = InMemoryVelocityStore()
    keys = {"id_number": "i1", "device": "d1", "phone": ""}
    store.record(VelocityEvent("drawdown", NOW - timedelta(hours=2), keys, amount=Decimal("10"), ref="r1"))
    store.record(VelocityEvent("drawdown", NOW - timedelta(hours=2), keys, amount=Decimal("10"), ref="r1"))  # replay
    store.record(VelocityEvent("drawdown", NOW - timedelta(hours=3), {"id_number": "i2", "device": "d1"},
                               amount=Decimal("25"), ref="r2"))
    store.record(VelocityEvent("drawdown", NOW - timedelta(hours=1), {"id_number": "i1", "device": "d1"},
                               amount=None, ref="r3"))

    def agg(function, by="device", value="d1", within=timedelta(days=1), field=None, kind="drawdown"):
        return store.aggregate(function=function, kind=kind, by=by, value=value, within=within, now=NOW,
                               field=field)

    assert agg("count") == 3
    assert agg("count", by="id_number", value="i1") == 2
    assert agg("count", by="phone", value="") == 0  # empty keys are not recorded
    assert agg("distinct", field="id_number") == 2
    assert agg("sum", field="amount") == Decimal("35")
    assert agg("max", field="amount") == Decimal("25")
    assert agg("sum", field="amount", within=timedelta(minutes=150)) == Decimal("10")
    assert agg("max", field="amount", value="nobody") == 0
    assert agg("count", kind="application") == 0
    with pytest.raises(ValidationError):
        agg("median", field="amount")
    with pytest.raises(ValidationError):
        store.record(VelocityEvent("drawdown", datetime(2025, 1, 1), keys, ref="naive"))


def test_events_recorded_out_of_order_are_counted_by_time():
    store = InMemoryVelocityStore()
    for i, minutes in enumerate([50, 5, 70, 30, 59]):
        store.record(VelocityEvent("application", NOW - timedelta(minutes=minutes), {"ip": "p"}, ref=str(i)))
    counts = [store.aggregate(function="count", kind="application", by="ip", value="p",
                              within=timedelta(minutes=m), now=NOW) for m in (5, 6, 30, 31, 60, 71)]
    assert counts == [0, 1, 1, 2, 4, 5]
