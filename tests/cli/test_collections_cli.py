"""``microlend collections``: list, show, assign and act on cases; bad input exits 2 with a message."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from microlend.cli.main import app
from microlend.config import get_settings
from microlend.services import collections, credit_lines, customers, drawdowns, products
from microlend.services.platform import Platform
from microlend.simulation.people import make_person
from microlend.store.migrate import upgrade
from microlend.store.tables import loan_installments, loans

runner = CliRunner()


@pytest.fixture
def case_id(tmp_path, monkeypatch) -> int:
    """A fresh SQLite database (the one the CLI will use) with one open collection case."""
    monkeypatch.setenv("MICROLEND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    p = Platform.build()
    upgrade(p.engine)
    products.ensure_reference_product(uow=p.uow(), clock=p.clock)
    today = p.clock.business_date()
    person = make_person(random.Random(3), on=today)
    customer = customers.register_customer(uow=p.uow(), cipher=p.cipher, clock=p.clock, name=person.name,
                                           id_number=person.id_number, phone=person.phone,
                                           bank_card=person.bank_card)
    line = credit_lines.grant_line(uow=p.uow(), clock=p.clock, customer_id=customer.id, product_code="REVOLVE",
                                   limit=Decimal("10000"), daily_rate=Decimal("0.0005"), actor="test")
    loan_id = drawdowns.request_drawdown(uow=p.uow(), rail=p.rail, cipher=p.cipher, clock=p.clock, line_id=line.id,
                                         amount=Decimal("3000"), term=5).loan_id
    with p.engine.begin() as conn:
        conn.execute(update(loan_installments)
                     .where(loan_installments.c.loan_id == loan_id, loan_installments.c.number == 1)
                     .values(due_date=today - timedelta(days=8)))
        conn.execute(update(loans).where(loans.c.id == loan_id).values(dpd=8, bucket="M1"))
        collections.sync_cases(conn, business_date=today)
    found = collections.list_cases(uow=p.reader())[0].id
    p.engine.dispose()
    yield found
    get_settings.cache_clear()


def test_list_show_assign_act(case_id):
    listed = runner.invoke(app, ["collections", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [case] = json.loads(listed.stdout)
    assert (case["id"], case["bucket"], case["dpd"], case["status"]) == (case_id, "M1", 8, "open")
    assert Decimal(case["amount_overdue"]) > 0
    assert json.loads(runner.invoke(app, ["collections", "list", "--bucket", "M2", "--json"]).stdout) == []
    table = runner.invoke(app, ["collections", "list"])
    assert table.exit_code == 0 and "Collection cases" in table.stdout

    assigned = runner.invoke(app, ["collections", "assign", str(case_id), "--to", "chen"])
    assert assigned.exit_code == 0 and "assigned to chen" in assigned.stdout
    acted = runner.invoke(app, ["collections", "act", str(case_id), "--kind", "call", "--note", "no answer",
                                "--actor", "ops:li"])
    assert acted.exit_code == 0, acted.output
    detail = json.loads(runner.invoke(app, ["collections", "show", str(case_id), "--json"]).stdout)
    assert detail["assigned_to"] == "chen"
    assert [(a["kind"], a["actor"]) for a in detail["actions"]] == [("note", "cli"), ("call", "ops:li")]
    shown = runner.invoke(app, ["collections", "show", str(case_id)])
    assert shown.exit_code == 0 and "no answer" in shown.stdout


@pytest.mark.parametrize("args,code", [
    (["act", "{id}", "--kind", "visit"], "invalid_action_kind"),
    (["act", "{id}", "--kind", "promise_to_pay", "--promise-amount", "abc", "--promise-date", "2099-01-01"],
     "invalid_amount"),
    (["act", "{id}", "--kind", "promise_to_pay", "--promise-amount", "100", "--promise-date", "2020-01-01"],
     "invalid_date"),
    (["act", "{id}", "--kind", "promise_to_pay", "--promise-amount", "100", "--promise-date", "tomorrow"],
     "invalid_date"),
    (["show", "999"], "case_not_found"),
    (["list", "--bucket", "M9"], "invalid_bucket"),
])
def test_bad_input_exits_2(case_id, args, code):
    result = runner.invoke(app, ["collections", *[a.format(id=case_id) for a in args]])
    assert result.exit_code == 2, result.output
    assert code in result.output and "Traceback" not in result.output
