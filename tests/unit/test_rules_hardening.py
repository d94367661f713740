"""Regression tests for what review found in the rule language and the built-in sets: load-time limits
against hostile or broken files, arithmetic only on numbers, floats compared as Decimal, and shared
devices counting the applicant asking."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from microlend.errors import ValidationError
from microlend.rules.builtin import builtin_rule_set
from microlend.rules.engine import evaluate
from microlend.rules.language import compile_expression, parse_rule_set
from microlend.rules.velocity import InMemoryVelocityStore, VelocityEvent

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)


def _rule_set(when: str, **extra) -> str:
    lines = ["name: t", "version: 1", "stage: application", "rules:", "  - id: r", f"    when: '{when}'",
             "    outcome: review", "    reason: r"] + [f"    {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, reason", [
    (_rule_set(" or ".join(["application.age > 1"] * 150)), "parts"),
    (_rule_set(" + ".join(["application.age"] * 150)), "nested more than"),
    (_rule_set(" + ".join(["application.age"] * 500)), "longer than"),
    (_rule_set("not " * 500 + "true"), "nested"),
    (_rule_set("-" * 3000 + "1"), ""),
    (_rule_set('count("application", by="id_number", within="99999999999999999999d") > 1'), "duration"),
    (_rule_set('count("application", by="id_number", within="٣h") > 1'), "duration"),
    (_rule_set("application.income < 1e999"), "finite"),
    (_rule_set('application.age * "3" == 1'), "numbers only"),
    (_rule_set("true", points=10**29), "points"),
    ("name: t\x00\n", ""),
    ("rules: " + "[" * 10000 + "]" * 10000 + "\n", "nested"),
    ("[" * 100000 + "]" * 100000, "nested"),
    ("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "aliases"),
])
def test_hostile_or_broken_rule_files_are_refused_at_load(text, reason):
    with pytest.raises(ValidationError) as refused:
        parse_rule_set(text, source="t.yaml")
    assert refused.value.code == "invalid_rule_set" and reason in refused.value.message


def test_arithmetic_on_text_or_lists_is_an_error_not_a_value():
    expression = compile_expression("application.industry * application.age == 1")
    with pytest.raises(TypeError):
        expression({"application": {"industry": "retail", "age": 30}})
    assert compile_expression("application.age * 2 == 60")({"application": {"age": 30}}) is True


def test_float_facts_compare_as_decimal():
    assert compile_expression("bureau.utilisation >= 0.7")({"bureau": {"utilisation": 0.7}}) is True
    assert compile_expression("bureau.utilisation == 0.1")({"bureau": {"utilisation": 0.1}}) is True
    assert compile_expression("bureau.utilisation >= 0")({"bureau": {"utilisation": float("nan")}}) is False


def _facts(id_number: str, device: str) -> dict:
    return {"application": {}, "keys": {"id_number": id_number, "device": device, "phone": f"ph-{id_number}"},
            "bureau": {}, "statements": {}, "findings": [], "lists": {}}


def test_a_newcomer_on_a_shared_device_is_caught():
    store = InMemoryVelocityStore()
    rules = builtin_rule_set("application")
    decisions = []
    for n, person in enumerate(["id-a", "id-b", "id-c"]):
        facts = _facts(person, "dv-1")
        decisions.append(evaluate(rules, facts, store, NOW + timedelta(minutes=n * 90)))
        store.record(VelocityEvent(kind="application", at=NOW + timedelta(minutes=n * 90), keys=facts["keys"],
                                   ref=f"app-{n}"))
    hits = [{r.id for r in d.hits} for d in decisions]
    assert "device_shared_by_two_identities" not in hits[0] and "device_shared_by_identities" not in hits[0]
    assert "device_shared_by_two_identities" in hits[1]  # the second identity on the device is the newcomer
    assert "device_shared_by_identities" in hits[2] and decisions[2].decision == "reject"


def test_the_in_memory_store_refuses_what_the_others_refuse():
    store = InMemoryVelocityStore()
    for amount in (Decimal("-1"), Decimal("0.001"), 1.5):
        with pytest.raises(ValidationError):
            store.record(VelocityEvent(kind="drawdown", at=NOW, keys={"card": "c"}, amount=amount))
