"""``microlend rules``: load, list, show, activate, shadow, retire, backtest, shadow-report and the block
list; bad input exits 2 with the error code. The CLI builds its own platform from
``MICROLEND_DATABASE_URL``, pointed here at the test's database."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from microlend.cli.rules import rules_app
from microlend.config import get_settings
from microlend.services.origination import rule_sets
from microlend.store.origination_tables import decision_records

runner = CliRunner()


def rules_text(version: int = 1, threshold: int = 3) -> str:
    return (f"name: lender-app\nversion: {version}\nstage: application\nrules:\n"
            f"  - id: many_apps\n"
            f"    when: count(\"application\", by=\"id_number\", within=\"1h\") >= {threshold}\n"
            f"    outcome: reject\n    reason: Several applications\n")


@pytest.fixture
def cli(platform, db_url, monkeypatch):
    monkeypatch.setenv("MICROLEND_DATABASE_URL", db_url)
    monkeypatch.setenv("MICROLEND_ENV", "test")
    get_settings.cache_clear()
    rule_sets.clear_cache()

    def invoke(*args: str):
        return runner.invoke(rules_app, list(args))

    yield invoke
    get_settings.cache_clear()
    rule_sets.clear_cache()


@pytest.fixture
def rules_file(tmp_path):
    def write(text: str, name: str = "rules.yaml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def _error(result, code: str) -> None:
    assert result.exit_code == 2, result.output
    assert f"error: {code}" in result.output, result.output


def test_load_list_show_activate_shadow_retire(cli, rules_file):
    loaded = cli("load", rules_file(rules_text()), "--json")
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["status"] == "draft"
    second = cli("load", rules_file(rules_text(2, 2)), "--activate", "--actor", "risk team")
    assert second.exit_code == 0 and "stored lender-app@2 (application) as active" in second.stdout
    as_json = json.dumps({"name": "lender-app", "version": 3, "stage": "application", "rules": [
        {"id": "big", "when": "application.income > 1", "outcome": "review", "reason": "x"}]})
    third = cli("load", rules_file(as_json, "rules.json"), "--shadow", "--json")
    assert (json.loads(third.stdout)["format"], json.loads(third.stdout)["status"]) == ("json", "shadow")

    listed = json.loads(cli("list", "--json").stdout)
    assert [(r["version"], r["status"], r["created_by"]) for r in listed] == [
        (1, "draft", "cli"), (2, "active", "risk team"), (3, "shadow", "cli")]
    table = cli("list", "--status", "active")
    assert table.exit_code == 0 and "lender-app" in table.stdout and "active" in table.stdout
    shown = cli("show", "lender-app", "2")
    assert shown.exit_code == 0 and ">= 2" in shown.stdout and "active" in shown.stdout
    assert json.loads(cli("show", "lender-app", "1", "--json").stdout)["source"] == rules_text()

    assert "lender-app@1 (application) is active" in cli("activate", "lender-app", "1").stdout
    assert "is retired" in cli("retire", "lender-app", "3").stdout
    assert "is shadow" in cli("shadow", "lender-app", "2").stdout
    _error(cli("retire", "lender-app", "1"), "rule_set_active")


def test_bad_input_exits_2(cli, rules_file, tmp_path):
    _error(cli("load", rules_file(rules_text().replace("outcome:", "outcme:"))), "invalid_rule_set")
    bad = cli("load", rules_file(rules_text().replace("outcome:", "outcme:")))
    assert "line 7" in bad.output
    _error(cli("load", str(tmp_path / "missing.yaml")), "file_not_readable")
    cli("load", rules_file(rules_text()))
    _error(cli("load", rules_file(rules_text())), "rule_set_exists")
    _error(cli("load", rules_file(rules_text(2)), "--activate", "--shadow"), "invalid_option")
    _error(cli("show", "lender-app", "9"), "rule_set_not_found")
    _error(cli("list", "--stage", "repayment"), "invalid_stage")
    _error(cli("backtest"), "invalid_option")
    _error(cli("backtest", "--name", "lender-app"), "invalid_option")
    _error(cli("backtest", "--name", "lender-app", "--version", "1", "--since", "yesterday"), "invalid_time")
    _error(cli("shadow-report", "lender-app", "5"), "rule_set_not_found")


def test_backtest_and_shadow_report(cli, platform, rules_file):
    with platform.uow() as uow:
        for hour, count in enumerate([0, 2, 3]):
            at = datetime(2026, 3, 1, 8 + hour, tzinfo=timezone.utc)
            outcome = "reject" if count >= 3 else "approve"
            record = {"kind": "application", "application_id": None, "at": at.isoformat(),
                      "facts": {"application": {}, "keys": {"id_number": "h"}, "lists": {}},
                      "windows": [{"function": "count", "kind": "application", "by": "id_number", "value": "h",
                                   "within_s": 3600, "result": str(count)}],
                      "rules": {"results": [{"id": "many_apps", "hit": count >= 3}]},
                      "decision": {"outcome": outcome, "parts": {"rules": outcome, "sources": "approve",
                                                                 "policy": "approve"}}}
            uow.session.execute(insert(decision_records).values(
                kind="application", decision=outcome, record=json.dumps(record), rule_set="live", rule_set_version=1,
                rule_set_fingerprint="f" * 64, created_at=at))
        uow.commit()
    candidate = rules_file(rules_text(2, 2))
    report = cli("backtest", candidate, "--json")
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    assert (data["evaluated"], data["moved"], data["rules"][0]["hits"]) == (3, 1, 2)
    since = json.loads(cli("backtest", candidate, "--since", "2026-03-01T09:30:00", "--json").stdout)
    assert since["evaluated"] == 1 and since["since"] == "2026-03-01T09:30:00+00:00"
    table = cli("backtest", candidate, "--until", "2026-03-02")
    assert table.exit_code == 0, table.output
    assert "1 would move" in table.stdout and "Final outcome" in table.stdout and "many_apps" in table.stdout

    cli("load", rules_file(rules_text()))
    stored = json.loads(cli("backtest", "--name", "lender-app", "--version", "1", "--json").stdout)
    assert (stored["evaluated"], stored["moved"]) == (3, 0)
    shadow = cli("shadow-report", "lender-app", "1")
    assert shadow.exit_code == 0 and "shadowed 0 decisions; agreement -" in shadow.stdout
    assert json.loads(cli("shadow-report", "lender-app", "1", "--json").stdout)["count"] == 0


def test_block_list(cli):
    added = cli("block", "add", "phone", "+86 138 1234 5678", "--reason", "fraud ring")
    assert added.exit_code == 0 and "blocked phone 138****5678 (entry 1)" in added.stdout
    _error(cli("block", "add", "phone", "13812345678", "--reason", "again"), "already_blocked")
    _error(cli("block", "add", "phone", "123", "--reason", "x"), "invalid_phone (value)")
    _error(cli("block", "add", "email", "a@b", "--reason", "x"), "invalid_key_kind")
    missing = cli("block", "add", "phone", "13812345679")
    assert missing.exit_code == 2  # --reason is required
    listed = json.loads(cli("block", "list", "--json").stdout)
    assert [(e["kind"], e["value_masked"], e["reason"]) for e in listed] == [("phone", "138****5678", "fraud ring")]
    assert "138****5678" in cli("block", "list").stdout and "13812345678" not in cli("block", "list").stdout
    assert "removed phone 138****5678" in cli("block", "remove", "1").stdout
    _error(cli("block", "remove", "1"), "block_list_entry_not_found")
