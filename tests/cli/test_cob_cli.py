"""``microlend cob``: run dates, read reports and status; bad input exits 2 with the error code.

The CLI builds its own platform from ``MICROLEND_DATABASE_URL``, pointed here at the test's
database (SQLite, and PostgreSQL when configured). One 10,000 loan at 0.05% a day drawn
2026-03-10 earns 10000 x 0.0005 = 5.00 a day.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from microlend.cli.main import app
from microlend.config import get_settings
from microlend.services import drawdowns

runner = CliRunner()


@pytest.fixture
def cli(platform, db_url, make_line, monkeypatch):
    """The test's database with one loan, and the CLI pointed at it."""
    line = make_line()
    drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher, clock=platform.clock,
                               line_id=line.id, amount=Decimal("10000"), term=5)
    monkeypatch.setenv("MICROLEND_DATABASE_URL", db_url)
    monkeypatch.setenv("MICROLEND_ENV", "test")
    get_settings.cache_clear()

    def invoke(*args: str):
        return runner.invoke(app, ["cob", *args])

    yield invoke
    get_settings.cache_clear()


def test_run_report_and_status_as_json(cli):
    ran = cli("run", "--date", "2026-03-11", "--json")
    assert ran.exit_code == 0, ran.output
    [report] = json.loads(ran.stdout)
    assert report["business_date"] == "2026-03-11"
    assert report["accrued"] == {"interest": "5.00", "fee": "0.00", "penalty": "0.00"}
    assert report["loans"]["processed"] == 1

    again = cli("run", "--date", "2026-03-11", "--json")  # done already: nothing to do
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == []
    assert "already finished" in again.output

    two = cli("run", "--to", "2026-03-13", "--json")
    assert two.exit_code == 0, two.output
    assert [(r["business_date"], r["accrued"]["interest"]) for r in json.loads(two.stdout)] == [
        ("2026-03-12", "5.00"), ("2026-03-13", "5.00")]

    latest = cli("report", "--json")
    assert latest.exit_code == 0, latest.output
    assert json.loads(latest.stdout)["business_date"] == "2026-03-13"
    first = cli("report", "2026-03-11", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == report

    status = cli("status", "--json")
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["business_date"] == "2026-03-13"
    assert [(r["date"], r["status"]) for r in data["runs"]] == [
        ("2026-03-13", "done"), ("2026-03-12", "done"), ("2026-03-11", "done")]
    assert set(data["phases"]) == {"loans", "debit_request", "debit_send", "lines", "sms", "sms_send", "collections"}
    assert all(p["done"] == p["total"] >= 1 for p in data["phases"].values())


def test_human_output(cli):
    ran = cli("run", "--date", "2026-03-11", "--quiet")
    assert ran.exit_code == 0, ran.output
    assert "2026-03-11: 1 loans" in ran.output and "accrued 5.00 interest" in ran.output  # on stderr
    report = cli("report")
    assert report.exit_code == 0 and "accrued.interest" in report.stdout and "5.00" in report.stdout
    status = cli("status")
    assert status.exit_code == 0 and "2026-03-11" in status.stdout and "done" in status.stdout


@pytest.mark.parametrize("args,code", [
    (["run", "--date", "2026-03-13"], "cob_date_out_of_order"),
    (["run", "--date", "2026-03-13", "--json"], "cob_date_out_of_order"),
    (["run", "--date", "2026-02-30"], "invalid_date"),
    (["run", "--to", "13/03/2026"], "invalid_date"),
    (["run", "--date", "2026-03-12", "--to", "2026-03-13"], "invalid_option"),
    (["report", "2026-01-01"], "cob_report_not_found"),
    (["report", "someday"], "invalid_date"),
    (["run", "--to", "2099-01-01"], "cob_date_in_future"),
    (["run", "--date", "9999-12-31"], "invalid_date"),
])
def test_bad_input_exits_2_with_the_code(cli, args, code):
    assert cli("run", "--date", "2026-03-11", "--json").exit_code == 0
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert code in result.output and "Traceback" not in result.output
    if code == "cob_date_out_of_order":
        assert "2026-03-12" in result.output  # the date that would be next
    status = json.loads(cli("status", "--json").stdout)
    assert [r["date"] for r in status["runs"]] == ["2026-03-11"]  # nothing else ran


def test_report_before_any_run(cli):
    result = cli("report", "--json")
    assert result.exit_code == 2 and "cob_report_not_found" in result.output
    status = cli("status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) == {"business_date": None, "runs": [], "phases": {}}
