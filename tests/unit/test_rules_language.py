"""The rule language: parsing with line numbers, the safe expression compiler, its None semantics."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from microlend.errors import ValidationError
from microlend.rules import (
    InMemoryVelocityStore,
    VelocityEvent,
    compile_expression,
    evaluate,
    load_rule_set,
    parse_duration,
    parse_rule_set,
)
from microlend.rules.language import RuleSyntaxError

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)

GOOD = """\
name: test-set
version: 2
stage: application
description: a test
rules:
  - id: many_apps
    when: count("application", by="id_number", within="1h") >= 2
    outcome: reject
    reason: Several applications
    reason_zh: 多次申请
    points: -5
  - id: enquiries
    when: bureau.enquiries_1m >= 4 and not bureau.overdue_now
    outcome: review
    reason: Enquiries
"""


def ev(text: str, facts: dict | None = None, store=None):
    return compile_expression(text)(facts or {}, store, NOW)


def load_error(text: str, **kw) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_rule_set(text, source="t.yaml", **kw)
    assert info.value.code == "invalid_rule_set"
    return info.value


# --- parsing ---------------------------------------------------------------------------------------------------

def test_parses_a_rule_set():
    rs = parse_rule_set(GOOD)
    assert (rs.name, rs.version, rs.stage, rs.description) == ("test-set", 2, "application", "a test")
    assert [r.id for r in rs.rules] == ["many_apps", "enquiries"]
    first, second = rs.rules
    assert (first.outcome, first.points, first.reason_zh, first.line) == ("reject", -5, "多次申请", 6)
    assert second.points == 0 and second.reason_zh == "Enquiries"  # reason_zh defaults to the English reason
    assert first.expression.windows[0].within == timedelta(hours=1)
    assert "bureau.enquiries_1m" in second.expression.facts
    assert rs.label == "test-set@2" and len(rs.fingerprint) == 64 and rs.text == GOOD


def test_json_and_yaml_are_equivalent():
    yaml_set = parse_rule_set(GOOD)
    text = json.dumps(yaml_set.to_dict(), ensure_ascii=False, indent=2)
    json_set = parse_rule_set(text)
    assert json_set.format == "json" and yaml_set.format == "yaml"
    assert json_set.to_dict() == yaml_set.to_dict()
    assert json_set.fingerprint == yaml_set.fingerprint
    assert json_set.rules[1].line > json_set.rules[0].line > 1  # lines come from JSON too
    store = InMemoryVelocityStore()
    for i in range(2):
        store.record(VelocityEvent("application", NOW - timedelta(minutes=5 + i), {"id_number": "a"}, ref=str(i)))
    facts = {"keys": {"id_number": "a"}, "bureau": {"enquiries_1m": 5, "overdue_now": False}}
    assert evaluate(yaml_set, facts, store, NOW).results[:2] == evaluate(json_set, facts, store, NOW).results[:2]


def test_load_rule_set_from_files(tmp_path):
    yaml_path = tmp_path / "set.yaml"
    yaml_path.write_text(GOOD, encoding="utf-8")
    json_path = tmp_path / "set.json"
    json_path.write_text(json.dumps(parse_rule_set(GOOD).to_dict()), encoding="utf-8")
    assert load_rule_set(yaml_path).to_dict() == load_rule_set(json_path).to_dict()
    with pytest.raises(ValidationError, match="cannot read"):
        load_rule_set(tmp_path / "missing.yaml")


# --- load errors with line numbers ---------------------------------------------------------------------------

def test_yaml_syntax_error_names_the_line():
    err = load_error(GOOD.replace("    outcome: review", "    outcome: [review"))
    assert "line" in err.message and "YAML syntax error" in err.message
    assert err.extra["line"] is not None


def test_expression_syntax_error_names_the_line():
    err = load_error(GOOD.replace("bureau.enquiries_1m >= 4", "bureau.enquiries_1m >=>= 4"))
    assert err.extra["line"] == 13 and "line 13" in err.message and "syntax error" in err.message
    assert "enquiries" in err.message  # names the rule


def test_unknown_rule_field_is_refused_with_a_suggestion():
    err = load_error(GOOD.replace("    outcome: review", "    outcme: review"))
    assert err.extra["line"] == 14
    assert "unknown field 'outcme'" in err.message and "did you mean 'outcome'" in err.message


def test_unknown_top_level_field_is_refused():
    err = load_error(GOOD.replace("description: a test", "descripton: a test"))
    assert err.extra["line"] == 4 and "unknown field 'descripton'" in err.message


@pytest.mark.parametrize(("bad", "needle"), [
    ('bogus("application", by="id_number", within="1h") >= 2', "unknown function 'bogus'"),
    ('income.monthly >= 2', "unknown fact 'income'"),
    ('bureau.enquries_1m >= 2', "unknown field 'bureau.enquries_1m'"),
    ('count("application", by="id_number", within="2 hours") >= 2', "bad duration"),
    ('count("application", by="id_number", within="8d") >= 2', "at most 7 days"),
    ('count("application", by="id_number", within="0h") >= 2', "positive"),
    ('count("application", by="email", within="1h") >= 2', "unknown key 'email'"),
    ('count("payment", by="id_number", within="1h") >= 2', "unknown event kind"),
    ('count("application", within="1h") >= 2', "by is required"),
    ('count("application", by="id_number") >= 2', "within is required"),
    ('count(by="id_number", within="1h") >= 2', "kind is required"),
    ('count("application", by="id_number", within="1h", step="1m") >= 2', "unknown keyword 'step'"),
    ('count("application", "device", by="id_number", within="1h") >= 2', "at most 1 positional"),
    ('count("application", by=keys.device, within="1h") >= 2', "must be a quoted string"),
    ('distinct("application", by="device", within="1h") >= 2', "distinct(): field must be"),
    ('sum("drawdown", "id_number", by="device", within="1h") >= 2', "field must be 'amount'"),
    ('count >= 2', "is a window function"),
])
def test_bad_expressions_are_refused_at_load_with_the_line(bad, needle):
    err = load_error(GOOD.replace('count("application", by="id_number", within="1h") >= 2', bad))
    assert needle in err.message
    assert err.extra["line"] == 7 and "many_apps" in err.message


@pytest.mark.parametrize(("old", "new", "line", "needle"), [
    ("outcome: reject", "outcome: deny", 8, "unknown outcome 'deny'"),
    ("  - id: enquiries", "  - id: many_apps", 12, "duplicate rule id 'many_apps' (first on line 6)"),
    ("  - id: enquiries", "  - id: Enquiries!", 12, "rule id"),
    ("version: 2", "version: two", 2, "version must be a positive integer"),
    ("version: 2", "version: 0", 2, "version must be a positive integer"),
    ("stage: application", "stage: servicing", 3, "unknown stage"),
    ("    points: -5", "    points: 1.5", 11, "points must be a whole number"),
    ("    reason: Enquiries", "    reason: ''", 15, "reason must be a non-empty string"),
    ("    reason_zh: 多次申请", "    reason_zh: 多次申请\n    reason_zh: 再次", 11, "duplicate key 'reason_zh'"),
    ('    when: count("application", by="id_number", within="1h") >= 2', "    when: 3", 7, "when must be"),
])
def test_bad_fields_are_refused_with_the_line(old, new, line, needle):
    assert old in GOOD
    err = load_error(GOOD.replace(old, new))
    assert needle in err.message and err.extra["line"] == line, err.message


def test_missing_required_fields_are_refused():
    assert "has no 'reason'" in load_error(GOOD.replace("    reason: Enquiries\n", "")).message
    assert "has no 'stage'" in load_error(GOOD.replace("stage: application\n", "")).message
    assert "non-empty list" in load_error("name: x\nversion: 1\nstage: drawdown\nrules: []\n").message
    assert "must be a mapping" in load_error("- 1\n- 2\n").message
    assert "empty" in load_error("").message


def test_block_scalar_expression_errors_point_into_the_block():
    text = GOOD.replace("    when: bureau.enquiries_1m >= 4 and not bureau.overdue_now",
                        "    when: |\n      bureau.enquiries_1m >= 4\n      and bureau.nonsense")
    err = load_error(text)
    assert "unknown field 'bureau.nonsense'" in err.message and err.extra["line"] == 15
    err = load_error(text.replace("when: |", "when: >"))  # folded: one line, reported at the block's start
    assert err.extra["line"] == 14


def test_multiline_expression_compiles():
    text = GOOD.replace("    when: bureau.enquiries_1m >= 4 and not bureau.overdue_now",
                        "    when: |\n      bureau.enquiries_1m >= 4\n      and not bureau.overdue_now")
    rs = parse_rule_set(text)
    assert rs.rules[1].expression({"bureau": {"enquiries_1m": 4, "overdue_now": False}}) is True


def test_json_errors_name_the_line():
    text = json.dumps(parse_rule_set(GOOD).to_dict(), indent=2)
    err = load_error(text.replace('"outcome": "review"', '"outcome": "review",,'))
    assert "JSON syntax error" in err.message and err.extra["line"] > 1
    err = load_error(text.replace('"outcome": "review"', '"outcme": "review"'))
    assert "unknown field 'outcme'" in err.message and err.extra["line"] > 1
    err = load_error(text.replace('"reason": "Enquiries"', '"reason": "Enquiries", "reason": "x"'))
    assert "duplicate key" in err.message


def test_bad_format_is_refused():
    assert "unknown format" in load_error(GOOD, format="toml").message


def test_durations():
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1h") == parse_duration("60m")
    assert parse_duration("24h") == parse_duration("1d")
    assert parse_duration("7d") == parse_duration("1w")
    for bad in ("", "1", "h", "1.5h", "-1h", "1y", "2w", "169h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# --- safety ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "keys.__class__",
    "keys.id_number.__class__ == 1",
    "bureau._secret > 1",
    "__import__('os')",
    "open('/etc/passwd')",
    "keys.get('id_number')",
    "'abc'.upper() == 'ABC'",
    "(lambda: 1)()",
    "[x for x in findings]",
    "{x for x in findings}",
    "any(x for x in findings)",
    "keys['id_number']",
    "findings[0]",
    "(y := 1)",
    "1 if bureau.overdue_now else 2",
    "f'{keys.id_number}'",
    "{'a': 1}",
    "bureau.enquiries_1m ** 99",
    "bureau.enquiries_1m // 2",
    "bureau.enquiries_1m % 2",
    "~bureau.enquiries_1m",
    "bureau.enquiries_1m is None",
    "count('application', by='id_number', within='1h').real",
    "count('application', **{'by': 'id_number'})",
    "x",
    "print",
    "bureau.enquiries_1m >= 1; import os",
    "b'bytes'",
])
def test_unsafe_or_unsupported_expressions_are_refused(text):
    with pytest.raises(RuleSyntaxError):
        compile_expression(text)


def test_refusals_say_why():
    with pytest.raises(RuleSyntaxError, match="subscripts"):
        compile_expression("keys['id_number']")
    with pytest.raises(RuleSyntaxError, match="lambda"):
        compile_expression("(lambda: 1) == 1")
    with pytest.raises(RuleSyntaxError, match="only the window functions"):
        compile_expression("(lambda: 1)()")
    with pytest.raises(RuleSyntaxError, match="comprehensions"):
        compile_expression("[x for x in findings]")
    with pytest.raises(RuleSyntaxError, match="underscore|'_'"):
        compile_expression("keys.__class__")


# --- semantics -------------------------------------------------------------------------------------------------

def test_literals_and_arithmetic():
    assert ev("1 + 2 * 3") == Decimal(7)
    assert ev("0.1 + 0.2 == 0.3") is True  # Decimal, not float
    assert ev("10 / 4") == Decimal("2.5")
    assert ev("-bureau.utilisation", {"bureau": {"utilisation": 0.5}}) == Decimal("-0.5")
    assert ev("bureau.utilisation * 2 > 1.5", {"bureau": {"utilisation": 0.8}}) is True  # float fact -> Decimal
    assert ev("true and True and not false and not False") is True
    assert ev("'retail' in ['retail', 'mining']") is True
    assert ev("application.industry in ('retail', 'mining')", {"application": {"industry": "mining"}}) is True
    assert ev("application.industry not in ['retail']", {"application": {"industry": "mining"}}) is True
    assert ev("'income_mismatch' in findings", {"findings": {"income_mismatch"}}) is True
    assert ev("'income_mismatch' in findings", {"findings": ["x"]}) is False
    assert ev("1 < 2 < 3") is True and ev("1 < 3 < 2") is False
    assert ev("application.age >= 18 or application.age == null", {"application": {}}) is True
    assert ev("[application.age, 1] == [application.age, 1]", {"application": {"age": 3}}) is True


def test_none_semantics():
    empty: dict = {}
    for text in ("bureau.enquiries_1m >= 4", "bureau.enquiries_1m < 4", "bureau.enquiries_1m == 4",
                 "bureau.enquiries_1m != 4", "keys.device in line.devices_seen",
                 "keys.device not in line.devices_seen", "4 <= bureau.enquiries_1m",
                 "1 < bureau.enquiries_1m < 3", "bureau.overdue_now == true"):
        assert ev(text, empty) is False, text
    assert ev("keys.device not in line.devices_seen", {"keys": {"device": "d"}}) is False  # no line: not a hit
    assert ev("keys.device not in line.devices_seen", {"keys": {"device": "d"}, "line": {"devices_seen": []}})
    assert ev("bureau.enquiries_1m + 1", empty) is None
    assert ev("bureau.enquiries_1m + 1 > 0", empty) is False
    assert ev("bureau.enquiries_3m / bureau.enquiries_12m", {"bureau": {"enquiries_3m": 3, "enquiries_12m": 0}}) \
        is None  # division by zero
    assert ev("bureau.enquiries_1m == null", empty) is True
    assert ev("null == bureau.enquiries_1m", empty) is True
    assert ev("bureau.enquiries_1m != null", empty) is False
    assert ev("bureau.enquiries_1m != null", {"bureau": {"enquiries_1m": 0}}) is True
    assert ev("not bureau.overdue_now", empty) is True  # truthiness: missing is false
    assert ev("bureau.enquiries_1m", {"bureau": "not a mapping"}) is None
    assert ev("count('application', by='device', within='1h') >= 0", {"keys": {}}, InMemoryVelocityStore()) is False


def test_window_functions_read_the_store():
    store = InMemoryVelocityStore()
    for i, (ident, amount) in enumerate([("a", "100"), ("b", "250.50"), ("a", "30")]):
        store.record(VelocityEvent("drawdown", NOW - timedelta(minutes=10 * (i + 1)),
                                   {"id_number": ident, "device": "d1"}, amount=Decimal(amount), ref=f"r{i}"))
    facts = {"keys": {"device": "d1", "id_number": "a"}}
    assert ev("count('drawdown', by='device', within='1h')", facts, store) == 3
    assert ev("count(kind='drawdown', by='device', within='15m')", facts, store) == 1
    assert ev("distinct('drawdown', 'id_number', by='device', within='1h')", facts, store) == 2
    assert ev("distinct('drawdown', field='id_number', by='device', within='1h')", facts, store) == 2
    assert ev("sum('drawdown', by='device', within='1h')", facts, store) == Decimal("380.50")
    assert ev("sum('drawdown', 'amount', by='id_number', within='1h')", facts, store) == Decimal("130")
    assert ev("max('drawdown', field='amount', by='device', within='1h')", facts, store) == Decimal("250.50")
    assert ev("count('application', by='device', within='1h')", facts, store) == 0
    assert ev("max('drawdown', by='device', within='1m')", facts, store) == 0
