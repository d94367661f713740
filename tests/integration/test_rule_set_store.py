"""Rule sets stored in the database: refused at load with the line, drafts, one active and one shadow
set per stage, the built-in set when none is active, the history of who changed what, and the
compiled-set cache the decision path uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import IntegrityError

from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.rules.builtin import builtin_rule_set
from microlend.rules.language import parse_rule_set
from microlend.services.origination import rule_sets
from microlend.services.origination.rule_sets import active_rule_set, shadow_rule_set
from microlend.store.origination_tables import rule_set_events
from microlend.store.origination_tables import rule_sets as rule_sets_table


def rules_text(name: str = "lender-app", version: int = 1, stage: str = "application", threshold: int = 3) -> str:
    return f"""name: {name}
version: {version}
stage: {stage}
description: test rules
rules:
  - id: many_apps
    when: count("application", by="id_number", within="1h") >= {threshold}
    outcome: reject
    reason: Several applications within an hour
    reason_zh: 一小时内多次申请
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    rule_sets.clear_cache()
    yield
    rule_sets.clear_cache()


def store(platform, text: str, actor: str = "risk team", format: str | None = None):
    return rule_sets.store_rule_set(uow=platform.uow(), clock=platform.clock, text=text, format=format, actor=actor)


def change(platform, action: str, name: str, version: int, actor: str = "admin"):
    return getattr(rule_sets, action)(uow=platform.uow(), clock=platform.clock, name=name, version=version,
                                      actor=actor)


def active(platform, stage: str = "application"):
    with platform.reader() as uow:
        return active_rule_set(uow.session, stage)


def shadowed(platform, stage: str = "application"):
    with platform.reader() as uow:
        return shadow_rule_set(uow.session, stage)


def statuses(platform) -> dict[str, str]:
    return {r.label: r.status for r in rule_sets.list_rule_sets(platform.reader())}


def test_a_stored_set_is_a_draft_with_its_source_and_who_stored_it(platform):
    record = store(platform, rules_text())
    assert (record.name, record.version, record.stage, record.status, record.format, record.created_by) == \
        ("lender-app", 1, "application", "draft", "yaml", "risk team")
    assert record.created_at == record.changed_at == platform.clock.now()
    assert record.fingerprint == parse_rule_set(rules_text()).fingerprint
    assert record.source is None and "source" not in record.to_dict()

    got = rule_sets.get_rule_set(platform.reader(), "lender-app", 1)
    assert got.source == rules_text() and got.to_dict()["source"] == rules_text()
    assert [r.label for r in rule_sets.list_rule_sets(platform.reader())] == ["lender-app@1"]
    assert active(platform) is builtin_rule_set("application")  # a draft decides nothing


def test_json_sets_are_stored_as_json(platform):
    text = ('{"name": "lender-dd", "version": 1, "stage": "drawdown", "rules": [{"id": "big", '
            '"when": "application.amount > 5000", "outcome": "review", "reason": "Large drawdown"}]}')
    assert store(platform, text).format == "json"
    assert store(platform, text.replace('"version": 1', '"version": 2'), format="json").format == "json"
    assert [(r.label, r.stage) for r in rule_sets.list_rule_sets(platform.reader(), stage="drawdown")] == [
        ("lender-dd@1", "drawdown"), ("lender-dd@2", "drawdown")]
    assert rule_sets.list_rule_sets(platform.reader(), stage="application") == []


@pytest.mark.parametrize("text, line, words", [
    (rules_text().replace("outcome: reject", "outcme: reject"), 8, "unknown field 'outcme'"),
    (rules_text().replace(">= 3", ">= ("), 7, "many_apps"),
    (rules_text().replace('count("application", by="id_number", within="1h")', "bureau.enquries_3m"), 7,
     "enquries_3m"),
    (rules_text().replace("stage: application", "stage: repayment"), 3, "unknown stage"),
    (rules_text() + "  - id: many_apps\n    when: 1 > 0\n    outcome: review\n    reason: again\n", 11,
     "duplicate rule id"),
    ("name: x\nversion: 1\nstage: application\nrules: [\n", None, "YAML syntax error"),
])
def test_a_set_that_does_not_compile_is_refused_with_the_line_and_nothing_is_stored(platform, text, line, words):
    with pytest.raises(ValidationError) as caught:
        store(platform, text)
    assert caught.value.code == "invalid_rule_set"
    if line is not None:
        assert caught.value.extra["line"] == line and f"line {line}:" in caught.value.message
    assert words in caught.value.message
    assert rule_sets.list_rule_sets(platform.reader()) == []


def test_names_must_fit_urls_and_versions_are_never_stored_twice(platform):
    with pytest.raises(ValidationError) as caught:
        store(platform, rules_text(name="lender/app"))
    assert caught.value.code == "invalid_rule_set"
    store(platform, rules_text())
    with pytest.raises(ConflictError) as caught:
        store(platform, rules_text(threshold=5))  # same name and version, other rules
    assert (caught.value.code, caught.value.field) == ("rule_set_exists", "version")
    with pytest.raises(ValidationError) as caught:
        store(platform, rules_text(version=2), actor="  ")
    assert caught.value.code == "invalid_actor"


def test_activating_retires_the_previous_active_set_of_that_stage_only(platform, clock):
    for version in (1, 2):
        store(platform, rules_text(version=version, threshold=version + 2))
    store(platform, rules_text(name="lender-dd", stage="drawdown"))
    clock.current_time += timedelta(minutes=5)
    first = change(platform, "activate", "lender-app", 1)
    assert first.status == "active" and first.changed_at == clock.now() and first.created_by == "risk team"
    assert active(platform).label == "lender-app@1"
    assert active(platform, "drawdown") is builtin_rule_set("drawdown")

    change(platform, "activate", "lender-dd", 1)
    change(platform, "activate", "lender-app", 2)
    assert statuses(platform) == {"lender-app@1": "retired", "lender-app@2": "active", "lender-dd@1": "active"}
    assert active(platform).label == "lender-app@2"
    assert active(platform).rules[0].when.endswith(">= 4")
    assert active(platform, "drawdown").label == "lender-dd@1"

    again = change(platform, "activate", "lender-app", 2)  # idempotent
    assert again.status == "active"
    rollback = change(platform, "activate", "lender-app", 1)  # a retired version can come back
    assert rollback.status == "active"
    assert statuses(platform)["lender-app@2"] == "retired"
    assert [r.label for r in rule_sets.list_rule_sets(platform.reader(), status="active")] == [
        "lender-app@1", "lender-dd@1"]


def test_one_shadow_per_stage_and_the_active_set_is_not_its_own_shadow(platform):
    for version in (1, 2, 3):
        store(platform, rules_text(version=version))
    assert shadowed(platform) is None
    change(platform, "activate", "lender-app", 1)
    change(platform, "shadow", "lender-app", 2)
    assert shadowed(platform).label == "lender-app@2" and active(platform).label == "lender-app@1"
    change(platform, "shadow", "lender-app", 3)
    assert statuses(platform) == {"lender-app@1": "active", "lender-app@2": "retired", "lender-app@3": "shadow"}
    with pytest.raises(ConflictError) as caught:
        change(platform, "shadow", "lender-app", 1)
    assert caught.value.code == "rule_set_active"
    promoted = change(platform, "activate", "lender-app", 3)  # the shadow set goes live
    assert promoted.status == "active" and shadowed(platform) is None
    assert statuses(platform)["lender-app@1"] == "retired"


def test_retiring(platform):
    store(platform, rules_text(version=1))
    store(platform, rules_text(version=2))
    change(platform, "activate", "lender-app", 1)
    change(platform, "shadow", "lender-app", 2)
    with pytest.raises(ConflictError) as caught:
        change(platform, "retire", "lender-app", 1)
    assert (caught.value.code, caught.value.field) == ("rule_set_active", "version")
    assert change(platform, "retire", "lender-app", 2).status == "retired"
    assert change(platform, "retire", "lender-app", 2).status == "retired"  # idempotent
    assert shadowed(platform) is None
    with pytest.raises(NotFoundError) as caught:
        change(platform, "retire", "lender-app", 9)
    assert caught.value.code == "rule_set_not_found"
    with pytest.raises(NotFoundError):
        rule_sets.get_rule_set(platform.reader(), "nobody", 1)
    with pytest.raises(ValidationError):
        rule_sets.list_rule_sets(platform.reader(), status="live")
    with pytest.raises(ValidationError) as caught:
        active(platform, "repayment")
    assert caught.value.code == "invalid_stage"


def history(platform, version: int, name: str = "lender-app") -> list[tuple]:
    return [(e["event"], e["actor"], e["note"]) for e in rule_sets.rule_set_history(platform.reader(), name, version)]


def test_every_store_and_status_change_is_in_the_history(platform, clock):
    for version in (1, 2, 3):
        store(platform, rules_text(version=version))
    clock.current_time += timedelta(minutes=5)
    change(platform, "activate", "lender-app", 1, actor="admin:a1")
    change(platform, "shadow", "lender-app", 2, actor="admin:a2")
    clock.current_time += timedelta(minutes=5)
    change(platform, "shadow", "lender-app", 3, actor="admin:a3")  # retires the shadow v2
    change(platform, "activate", "lender-app", 3, actor="admin:a4")  # retires the active v1
    change(platform, "activate", "lender-app", 3, actor="admin:a5")  # already active: nothing happens
    change(platform, "retire", "lender-app", 2, actor="admin:a6")  # already retired: nothing happens

    assert history(platform, 1) == [("stored", "risk team", None), ("activated", "admin:a1", None),
                                    ("retired", "admin:a4", "replaced by lender-app@3")]
    assert history(platform, 2) == [("stored", "risk team", None), ("shadowed", "admin:a2", None),
                                    ("retired", "admin:a3", "replaced by lender-app@3")]
    assert history(platform, 3) == [("stored", "risk team", None), ("shadowed", "admin:a3", None),
                                    ("activated", "admin:a4", None)]
    events = rule_sets.rule_set_history(platform.reader(), "lender-app", 2)
    start = clock.now() - timedelta(minutes=10)
    assert [e["at"] for e in events] == [start.isoformat(), (start + timedelta(minutes=5)).isoformat(),
                                         clock.now().isoformat()]
    assert set(events[0]) == {"id", "event", "actor", "note", "at"}


def test_a_refused_change_writes_no_history(platform):
    store(platform, rules_text(version=1))
    with pytest.raises(ConflictError):
        store(platform, rules_text(version=1, threshold=5))
    with pytest.raises(ValidationError):
        store(platform, rules_text(version=2).replace("outcome:", "outcme:"))
    change(platform, "activate", "lender-app", 1)
    for action in ("retire", "shadow"):
        with pytest.raises(ConflictError):
            change(platform, action, "lender-app", 1)
    assert [event for event, _, _ in history(platform, 1)] == ["stored", "activated"]
    with platform.reader() as uow:
        assert len(uow.session.execute(select(rule_set_events)).all()) == 2
    with pytest.raises(NotFoundError) as caught:
        rule_sets.rule_set_history(platform.reader(), "lender-app", 2)
    assert (caught.value.code, caught.value.field) == ("rule_set_not_found", "version")


def test_a_set_read_with_its_history(platform):
    store(platform, rules_text())
    change(platform, "activate", "lender-app", 1, actor="admin:a1")
    plain = rule_sets.get_rule_set(platform.reader(), "lender-app", 1)
    assert plain.events is None and "events" not in plain.to_dict()
    full = rule_sets.get_rule_set(platform.reader(), "lender-app", 1, events=True)
    assert full.source == rules_text() and full.status == "active"
    assert [e["event"] for e in full.to_dict()["events"]] == ["stored", "activated"]
    assert full.to_dict()["events"] == rule_sets.rule_set_history(platform.reader(), "lender-app", 1)


def test_the_database_allows_one_active_set_per_stage(platform):
    store(platform, rules_text(version=1))
    store(platform, rules_text(version=2))
    change(platform, "activate", "lender-app", 1)
    with platform.uow() as uow, pytest.raises(IntegrityError):
        uow.session.execute(update(rule_sets_table).where(rule_sets_table.c.version == 2).values(status="active"))


def test_the_decision_path_is_one_query_and_a_cache_hit(platform):
    store(platform, rules_text())
    change(platform, "activate", "lender-app", 1)
    rule_sets.clear_cache()
    first = active(platform)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(platform.engine, "before_cursor_execute", count)
    try:
        with platform.reader() as uow:
            again = active_rule_set(uow.session, "application")
            assert shadow_rule_set(uow.session, "application") is None
    finally:
        event.remove(platform.engine, "before_cursor_execute", count)
    assert again is first
    assert len([s for s in statements if "rule_sets" in s]) == 2  # one for the active, one for the shadow set
    assert all("source" not in s.split("FROM")[0] for s in statements)


def test_a_source_changed_behind_the_store_is_refused(platform):
    store(platform, rules_text())
    change(platform, "activate", "lender-app", 1)
    with platform.uow() as uow:
        uow.session.execute(update(rule_sets_table).values(source=rules_text(threshold=99)))
        uow.commit()
    rule_sets.clear_cache()
    with pytest.raises(ConflictError) as caught:
        active(platform)
    assert caught.value.code == "rule_set_altered"


def test_a_row_written_by_hand_is_compiled_on_first_use(platform):
    text = rules_text(name="by-hand", threshold=7)
    fingerprint = parse_rule_set(text).fingerprint
    now = platform.clock.now()
    with platform.uow() as uow:
        uow.session.execute(insert(rule_sets_table).values(
            name="by-hand", version=1, stage="application", format="yaml", source=text, fingerprint=fingerprint,
            status="active", created_by="migration", created_at=now, changed_at=now))
        uow.commit()
    compiled = active(platform)
    assert compiled.label == "by-hand@1" and compiled.fingerprint == fingerprint
    assert rule_sets.compiled_rule_set(platform.reader(), "by-hand", 1) is compiled
    with platform.reader() as uow:
        assert uow.session.execute(select(rule_sets_table.c.status)).scalar_one() == "active"
