"""The built-in rule sets: every rule firing and not firing on hand-built histories."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from microlend.errors import ValidationError
from microlend.rules import InMemoryVelocityStore, VelocityEvent, evaluate, parse_rule_set
from microlend.rules.builtin import BUILTIN_STAGES, builtin_rule_set, builtin_text

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
ME = {"id_number": "id-me", "phone": "ph-me", "device": "dv-me", "ip": "ip-me", "card": "cd-me"}
_seq = iter(range(10**9))


def base_facts(stage: str) -> dict:
    lists = {f"blocked_{k}": {f"{k}-someone-else"} for k in ("id_number", "phone", "device", "card")}
    facts: dict = {"keys": dict(ME), "lists": lists}
    if stage == "application":
        facts["application"] = {"income": Decimal("8000"), "industry": "retail", "region": "110105", "age": 30}
        facts["bureau"] = {"overdue_now": False, "overdue_amount": Decimal(0), "enquiries_1m": 1, "enquiries_3m": 2,
                           "enquiries_6m": 3, "enquiries_12m": 5, "max_dpd_24m": 0}
    else:
        facts["application"] = {"amount": Decimal("500")}
        facts["line"] = {"limit": Decimal("5000"), "available": Decimal("5000"), "granted_days_ago": 30,
                         "devices_seen": ["dv-other", ME["device"]]}
    return facts


def record(store: InMemoryVelocityStore, kind: str, ago: timedelta, amount: str | None = None, **keys: str) -> None:
    store.record(VelocityEvent(kind, NOW - ago, keys, amount=Decimal(amount) if amount else None,
                               ref=f"ref-{next(_seq)}"))


def mins(n: float) -> timedelta:
    return timedelta(minutes=n)


def apps(store, n: int, spread: timedelta, **keys):
    """``n`` applications spread evenly inside the last ``spread`` (never at its edge)."""
    for i in range(n):
        record(store, "application", spread * (i + 1) / (n + 1), **keys)


def draws(store, n: int, spread: timedelta, amount: str = "100", **keys):
    for i in range(n):
        record(store, "drawdown", spread * (i + 1) / (n + 1), amount=amount, **keys)


def block(kind):
    def setup(store, facts):
        facts["lists"][f"blocked_{kind}"].add(ME[kind])
    return setup


def nothing(store, facts):
    pass


def fact(root, **values):
    def setup(store, facts):
        facts[root].update(values)
    return setup


H, D = timedelta(hours=1), timedelta(days=1)

# (stage, rule id, a history that fires it, a history that does not)
SCENARIOS = [
    ("application", "many_apps_same_id_1h",
     lambda s, f: apps(s, 3, H, id_number="id-me"),
     lambda s, f: (apps(s, 2, H, id_number="id-me"), record(s, "application", H, id_number="id-me"))),
    ("application", "many_apps_same_id_7d",
     lambda s, f: apps(s, 6, 7 * D, id_number="id-me"),
     lambda s, f: (apps(s, 5, 7 * D, id_number="id-me"), record(s, "application", 7 * D, id_number="id-me"))),
    ("application", "many_apps_same_phone_24h",
     lambda s, f: apps(s, 4, D, phone="ph-me"),
     lambda s, f: (apps(s, 3, D, phone="ph-me"), record(s, "application", D + mins(1), phone="ph-me"))),
    ("application", "many_apps_same_device_1h",
     lambda s, f: apps(s, 3, H, device="dv-me"),
     lambda s, f: (apps(s, 2, H, device="dv-me"), apps(s, 1, H, device="dv-other"))),
    ("application", "many_apps_same_ip_1h",
     lambda s, f: apps(s, 10, H, ip="ip-me"),
     lambda s, f: (apps(s, 9, H, ip="ip-me"), record(s, "application", 2 * H, ip="ip-me"))),
    # distinct identities count the applicant asking: two earlier ones plus a newcomer make three
    ("application", "device_shared_by_identities",
     lambda s, f: [record(s, "application", D * i, device="dv-me", id_number=f"id-{i}") for i in (1, 2)],
     lambda s, f: [record(s, "application", D * i, device="dv-me", id_number=f"id-{i}") for i in (1, 7)]),
    ("application", "device_shared_by_two_identities",
     lambda s, f: [record(s, "application", H * i, device="dv-me", id_number="id-1") for i in (1, 2, 3)],
     lambda s, f: [record(s, "application", H * i, device="dv-me", id_number="id-me") for i in (1, 2, 3)]),
    ("application", "phone_shared_by_identities",
     lambda s, f: (record(s, "application", D, phone="ph-me", id_number="id-me"),
                   record(s, "application", 6 * D, phone="ph-me", id_number="id-other")),
     lambda s, f: (record(s, "application", D, phone="ph-me", id_number="id-me"),
                   record(s, "application", 8 * D, phone="ph-me", id_number="id-other"))),
    ("application", "blocked_id_number", block("id_number"), nothing),
    ("application", "blocked_phone", block("phone"), nothing),
    ("application", "blocked_device", block("device"), nothing),
    ("application", "blocked_card", block("card"), nothing),
    ("application", "bureau_overdue_now", fact("bureau", overdue_now=True), fact("bureau", overdue_now=None)),
    ("application", "bureau_enquiries_1m", fact("bureau", enquiries_1m=4), fact("bureau", enquiries_1m=3)),
    ("application", "bureau_enquiries_surge_3m", fact("bureau", enquiries_3m=6, enquiries_12m=8),
     fact("bureau", enquiries_3m=6, enquiries_12m=12)),
    ("application", "bureau_identity_mismatch",
     lambda s, f: f.update(findings=frozenset({"bureau_identity_mismatch", "kyc_match"})),
     lambda s, f: f.update(findings=frozenset({"kyc_match", "income_unverified"}))),
    ("application", "no_income_in_statements",
     lambda s, f: f.update(findings=frozenset({"no_income_in_statements"})),
     lambda s, f: f.update(findings=frozenset({"income_above_statements"}))),
    ("drawdown", "blocked_id_number", block("id_number"), nothing),
    ("drawdown", "blocked_phone", block("phone"), nothing),
    ("drawdown", "blocked_device", block("device"), nothing),
    ("drawdown", "blocked_card", block("card"), nothing),
    ("drawdown", "new_line_drawn_out",
     lambda s, f: (f["line"].update(granted_days_ago=1), f["application"].update(amount=Decimal("4500"))),
     lambda s, f: (f["line"].update(granted_days_ago=1), f["application"].update(amount=Decimal("3900")))),
    ("drawdown", "new_line_drawn_out",
     lambda s, f: (f["line"].update(granted_days_ago=3), f["application"].update(amount=Decimal("4000"))),
     lambda s, f: (f["line"].update(granted_days_ago=4), f["application"].update(amount=Decimal("5000")))),
    ("drawdown", "many_drawdowns_24h",
     lambda s, f: draws(s, 3, D, id_number="id-me"),
     lambda s, f: (draws(s, 2, D, id_number="id-me"), record(s, "drawdown", D, amount="1", id_number="id-me"))),
    ("drawdown", "drawdown_burst_24h",
     lambda s, f: draws(s, 6, D, id_number="id-me"),
     lambda s, f: draws(s, 5, D, id_number="id-me")),
    ("drawdown", "drawdown_amount_24h",
     lambda s, f: draws(s, 2, D, amount="2300", id_number="id-me"),      # 4600 + 500 > 5000
     lambda s, f: draws(s, 2, D, amount="2250", id_number="id-me")),     # 4500 + 500 = 5000
    ("drawdown", "new_device_at_drawdown",
     lambda s, f: f["line"].update(devices_seen=["dv-other"]),
     nothing),
    ("drawdown", "device_shared_at_drawdown",
     lambda s, f: (record(s, "drawdown", H, amount="5", device="dv-me", id_number="id-a"),
                   record(s, "drawdown", D, amount="5", device="dv-me", id_number="id-b")),
     lambda s, f: (record(s, "drawdown", H, amount="5", device="dv-me", id_number="id-me"),
                   record(s, "application", D, device="dv-me", id_number="id-b"))),
]


def run(stage, setup):
    store = InMemoryVelocityStore()
    facts = base_facts(stage)
    setup(store, facts)
    return evaluate(builtin_rule_set(stage), facts, store, NOW)


def test_every_builtin_rule_has_scenarios():
    for stage in BUILTIN_STAGES:
        covered = {rule_id for s, rule_id, _, _ in SCENARIOS if s == stage}
        assert covered == {rule.id for rule in builtin_rule_set(stage).rules}, stage


@pytest.mark.parametrize("stage", BUILTIN_STAGES)
def test_a_clean_case_is_approved(stage):
    result = run(stage, nothing)
    assert result.decision == "approve" and result.hits == () and result.errors == ()


@pytest.mark.parametrize(("stage", "rule_id", "fire", "miss"), SCENARIOS,
                         ids=[f"{s}:{r}" for s, r, _, _ in SCENARIOS])
def test_builtin_rule_fires_and_does_not(stage, rule_id, fire, miss):
    hit = run(stage, fire)
    fired = {r.id: r for r in hit.hits}
    assert rule_id in fired, f"{rule_id} did not fire; hits: {sorted(fired)}"
    assert hit.errors == ()
    rule = builtin_rule_set(stage).rule(rule_id)
    assert hit.decision in {rule.outcome, *(r.outcome for r in hit.hits)}
    quiet = run(stage, miss)
    assert rule_id not in {r.id for r in quiet.hits}
    assert quiet.errors == ()


def test_the_fourth_application_within_an_hour_is_rejected():
    """Rules count previous events: evaluate, then record, as origination does."""
    store = InMemoryVelocityStore()
    rs = builtin_rule_set("application")
    decisions = []
    for i in range(4):
        at = NOW + mins(10 * i)
        facts = base_facts("application")
        facts["keys"]["ip"] = f"ip-{i}"
        facts["keys"]["device"] = f"dv-{i}"
        decisions.append(evaluate(rs, facts, store, at).decision)
        store.record(VelocityEvent("application", at, facts["keys"], ref=f"app-{i}"))
    assert decisions[:3] == ["approve"] * 3 and decisions[3] == "reject"


def test_outcomes_are_sensible():
    app = builtin_rule_set("application")
    assert all(app.rule(f"blocked_{k}").outcome == "reject" for k in ("id_number", "phone", "device", "card"))
    assert app.rule("bureau_overdue_now").outcome == "reject"
    draw = builtin_rule_set("drawdown")
    assert draw.rule("new_device_at_drawdown").outcome == "step_up"
    assert draw.rule("new_line_drawn_out").outcome == "step_up"


@pytest.mark.parametrize("stage", BUILTIN_STAGES)
def test_builtin_sets_are_well_formed(stage):
    rs = builtin_rule_set(stage)
    assert rs is builtin_rule_set(stage)  # compiled once
    assert rs.stage == stage and rs.version >= 1 and rs.name == f"builtin-{stage}"
    for rule in rs.rules:
        assert rule.reason and rule.reason != rule.reason_zh
        assert re.search(r"[\u4e00-\u9fff]", rule.reason_zh), rule.id
        if rule.expression.windows:
            assert re.search(r"\d", rule.when), rule.id  # window thresholds are numbers in the YAML
    # the source is plain YAML a lender can copy and change
    copy = parse_rule_set(builtin_text(stage).replace("version: 1", "version: 2"))
    assert copy.version == 2 and [r.id for r in copy.rules] == [r.id for r in rs.rules]


def test_unknown_builtin_stage_is_refused():
    with pytest.raises(ValidationError):
        builtin_text("servicing")
