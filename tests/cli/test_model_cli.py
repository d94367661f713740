"""``microlend model``: register, list, show, promote, retire and export; errors exit 2 with the
error code. The CLI builds its own platform from ``MICROLEND_DATABASE_URL``, pointed here at the
test's database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json

import pytest
from model_artifacts import scorecard as card
from typer.testing import CliRunner

from microlend.cli.main import app
from microlend.config import get_settings
from microlend.services import models

runner = CliRunner()


def scorecard(auc: float = 0.71) -> dict:
    return card(auc, notes=["收入 in CNY"])


@pytest.fixture
def cli(platform, db_url, monkeypatch):
    """The CLI pointed at the test's database."""
    monkeypatch.setenv("MICROLEND_DATABASE_URL", db_url)
    monkeypatch.setenv("MICROLEND_ENV", "test")
    get_settings.cache_clear()
    models.clear_cache()

    def invoke(*args: str):
        return runner.invoke(app, ["model", *args])

    yield invoke
    get_settings.cache_clear()
    models.clear_cache()


@pytest.fixture
def artifact_file(tmp_path):
    def write(data, name="card.json"):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return str(path)

    return write


def _error(result, code: str) -> None:
    assert result.exit_code == 2, result.output
    assert f"error: {code}" in result.output, result.output


def test_register_list_show_promote_retire(cli, artifact_file):
    made = cli("register", artifact_file(scorecard()), "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["version"] == 1 and json.loads(made.stdout)["role"] == "challenger"
    second = cli("register", artifact_file(scorecard(0.75)), "--actor", "risk team")
    assert second.exit_code == 0 and "registered default v2 (scorecard) as challenger" in second.stdout
    other = cli("register", artifact_file(scorecard()), "--name", "risk")
    assert other.exit_code == 0 and "risk v1" in other.stdout

    listed = cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(m["name"], m["version"], m["role"], m["created_by"]) for m in json.loads(listed.stdout)] == [
        ("default", 1, "challenger", "cli"), ("default", 2, "challenger", "risk team"), ("risk", 1, "challenger", "cli")]
    table = cli("list")
    assert table.exit_code == 0 and "0.7500" in table.stdout and "champion" not in table.stdout

    shown = cli("show", "2", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["artifact"] == scorecard(0.75)
    assert json.loads(cli("show", "risk", "--json").stdout)["name"] == "risk"  # a bare name: its newest version
    assert json.loads(cli("show", "default:1", "--json").stdout)["version"] == 1
    human = cli("show", "1")
    assert human.exit_code == 0 and "income" in human.stdout and "registered" in human.stdout
    _error(cli("show"), "no_champion")  # the default is the champion, and there is none yet

    promoted = cli("promote", "1", "--note", "first model")
    assert promoted.exit_code == 0 and "default v1 is the champion" in promoted.stdout, promoted.output
    assert "already the champion" in cli("promote", "1").stdout
    now = cli("promote", "2")
    assert now.exit_code == 0 and "default v1 is now a challenger" in now.stdout, now.output
    assert json.loads(cli("show", "champion", "--json").stdout)["version"] == 2
    assert json.loads(cli("show", "--json").stdout)["version"] == 2

    _error(cli("retire", "2"), "champion_cannot_be_retired")
    retired = cli("retire", "1", "--note", "replaced")
    assert retired.exit_code == 0 and "default v1 is retired" in retired.stdout
    _error(cli("promote", "1"), "model_retired")
    events = [(e["event"], e["note"]) for e in json.loads(cli("show", "1", "--json").stdout)["events"]]
    assert events == [("registered", None), ("promoted", "first model"), ("demoted", "replaced by default v2"),
                      ("retired", "replaced")]


def test_register_with_promote(cli, artifact_file):
    made = cli("register", artifact_file(scorecard()), "--promote")
    assert made.exit_code == 0 and "as champion" in made.stdout, made.output


def test_export_json(cli, artifact_file, tmp_path):
    _error(cli("export"), "no_champion")
    cli("register", artifact_file(scorecard()))
    cli("register", artifact_file(scorecard(0.75)))
    cli("promote", "2")
    out = cli("export", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == scorecard(0.75)  # the champion by default
    assert json.loads(cli("export", "1").stdout) == scorecard(0.71)
    target = tmp_path / "out.json"
    written = cli("export", "1", "--json", "--out", str(target))
    assert written.exit_code == 0 and "written to" in written.output
    assert json.loads(target.read_text(encoding="utf-8")) == scorecard(0.71)
    _error(cli("export", "--sql", "--json"), "invalid_option")


def test_export_sql(cli, artifact_file, tmp_path):
    pytest.importorskip("microlend.scoring.artifact")
    cli("register", artifact_file(scorecard()), "--promote")
    out = cli("export", "--sql")
    assert out.exit_code == 0, out.output
    assert "CASE" in out.stdout.upper()
    target = tmp_path / "card.sql"
    assert cli("export", "1", "--sql", "--out", str(target)).exit_code == 0
    assert target.read_text(encoding="utf-8").strip() == out.stdout.strip()


def test_errors_exit_2_with_the_code(cli, artifact_file, tmp_path):
    _error(cli("register", str(tmp_path / "missing.json")), "file_not_readable")
    _error(cli("register", artifact_file("{not json")), "invalid_json")
    _error(cli("register", artifact_file([1, 2])), "invalid_model_artifact")
    _error(cli("register", artifact_file({**scorecard(), "format": "pickle"})), "invalid_model_artifact (artifact.format)")
    _error(cli("register", artifact_file(scorecard()), "--name", "bad name"), "invalid_model_name")
    assert json.loads(cli("list", "--json").stdout) == []
    cli("register", artifact_file(scorecard()))
    _error(cli("promote", "7"), "model_not_found")
    _error(cli("promote", "abc"), "invalid_model_version")
    _error(cli("promote", "default:x"), "invalid_model_version")
    _error(cli("retire", "0"), "invalid_model_version")
    _error(cli("show", "nope"), "model_not_found")
    _error(cli("show", "9"), "model_not_found")
