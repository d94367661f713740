"""The ``microlend`` command line: good input prints results, bad input a message and exit 2."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from microlend.cli.main import app
from microlend.config import get_settings

runner = CliRunner()


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROLEND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_quote_json_matches_the_reference_figures():
    result = runner.invoke(app, ["quote", "--amount", "10000", "--term", "10", "--daily-rate", "0.0005",
                                 "--start-date", "2025-01-31", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["simple_annualized_rate"] == "0.182500"
    assert Decimal("0.1805") < Decimal(data["apr"]) < Decimal("0.1840")
    assert sum(Decimal(i["principal"]) for i in data["installments"]) == Decimal("10000.00")
    assert data["total_interest"] == "828.50"


def test_quote_table_and_flat_fee_true_rate():
    result = runner.invoke(app, ["quote", "--amount", "10000", "--term", "12", "--daily-rate", "0",
                                 "--monthly-fee-rate", "0.006", "--json"])
    assert result.exit_code == 0, result.output
    assert Decimal("0.129") < Decimal(json.loads(result.stdout)["apr"]) < Decimal("0.131")
    table = runner.invoke(app, ["quote", "--amount", "5000", "--term", "5", "--method", "equal_installment"])
    assert table.exit_code == 0 and "Annualized rate (IRR)" in table.stdout


@pytest.mark.parametrize("args,code", [
    (["--amount", "abc", "--term", "10"], "invalid_amount"),
    (["--amount", "100.001", "--term", "10"], "invalid_amount"),
    (["--amount", "-5", "--term", "10"], "invalid_amount"),
    (["--amount", "10000", "--term", "0"], "invalid_term"),
    (["--amount", "10000", "--term", "10", "--daily-rate", "0.001"], "apr_above_cap"),
    (["--amount", "10000", "--term", "10", "--start-date", "2025-02-30"], "invalid_date"),
])
def test_quote_bad_input_exits_2_with_a_message(args, code):
    result = runner.invoke(app, ["quote", *args])
    assert result.exit_code == 2
    assert code in result.output and "Traceback" not in result.output


def test_db_upgrade_keys_demo_and_ledger(sqlite_env):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(app, ["keys", "create", "--role", "operator", "--name", "ops"])
    assert created.exit_code == 0 and "mlk_" in created.stdout
    bad = runner.invoke(app, ["keys", "create", "--role", "borrower"])
    assert bad.exit_code == 2 and "customer_required" in bad.output
    first = runner.invoke(app, ["demo", "load"])
    assert first.exit_code == 0 and "customers created" in first.stdout
    again = runner.invoke(app, ["demo", "load"])
    assert "already present" in again.stdout
    tb = runner.invoke(app, ["ledger", "trial-balance", "--json"])
    assert tb.exit_code == 0 and json.loads(tb.stdout)["balanced"] is True
    assert runner.invoke(app, ["ledger", "reconcile"]).exit_code == 0
    assert runner.invoke(app, ["ledger", "trial-balance", "--through", "nope"]).exit_code == 2
    key_id = created.stdout.split("key id ")[1].split()[0]
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "nope"]).exit_code == 2
    rotated = runner.invoke(app, ["keys", "rotate-fields"])
    assert rotated.exit_code == 0 and re.search(r"0 of \d+ customers re-encrypted", rotated.stdout)
    resolved = runner.invoke(app, ["drawdowns", "resolve-pending"])
    assert resolved.exit_code == 0 and "0 pending drawdowns examined" in resolved.stdout
    debits = runner.invoke(app, ["repayments", "resolve-pending"])
    assert debits.exit_code == 0 and "0 pending card debits examined" in debits.stdout
