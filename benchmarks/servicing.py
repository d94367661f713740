"""Drawdown and repayment operations per second through the services.

Each drawdown is the full production path: lock the line, validate, price,
reserve, commit; call the (simulated) payment rail; book the loan with its
installments and a balanced disbursement entry; commit. Each repayment locks
the loan, allocates, re-schedules, recognises income, posts, commits. Both run
on SQLite (a file, WAL) and, when reachable, PostgreSQL.

    python benchmarks/servicing.py [--loans 300] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from microlend.clock import FixedClock
from microlend.config import Settings
from microlend.services import credit_lines, customers, drawdowns, ledger, products, repayments
from microlend.services.platform import Platform
from microlend.simulation.people import make_person
from microlend.store.migrate import upgrade

DEFAULT_PG = os.environ.get("MICROLEND_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def build(url: str, n: int) -> tuple[Platform, list[int]]:
    clock = FixedClock(date(2026, 3, 10), datetime(2026, 3, 10, tzinfo=timezone.utc))
    platform = Platform.build(Settings(database_url=url, env="test"), clock=clock)
    upgrade(platform.engine)
    products.ensure_reference_product(uow=platform.uow(), clock=clock)
    rng = random.Random(3)
    line_ids = []
    for _ in range(n):
        p = make_person(rng, on=clock.current_date)
        c = customers.register_customer(uow=platform.uow(), cipher=platform.cipher, clock=clock, name=p.name,
                                        id_number=p.id_number, phone=p.phone, bank_card=p.bank_card)
        line = credit_lines.grant_line(uow=platform.uow(), clock=clock, customer_id=c.id, product_code="REVOLVE",
                                       limit=Decimal("20000"), daily_rate=Decimal("0.0005"), actor="bench")
        line_ids.append(line.id)
    return platform, line_ids


def measure(platform: Platform, line_ids: list[int]) -> dict[str, float]:
    clock = platform.clock
    t0 = time.perf_counter()
    loan_ids = [
        drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher, clock=clock,
                                   line_id=line_id, amount=Decimal("5000"), term=10).loan_id
        for line_id in line_ids
    ]
    t1 = time.perf_counter()
    clock.advance(17)  # a prepayment mid-period: accrued interest, principal, re-schedule
    for loan_id in loan_ids:
        repayments.repay(uow=platform.uow(), clock=clock, rail=platform.rail, cipher=platform.cipher,
                         loan_id=loan_id, amount=Decimal("1200"))
    t2 = time.perf_counter()
    assert ledger.get_trial_balance(uow=platform.uow()).balanced
    n = len(line_ids)
    return {"drawdowns/s": n / (t1 - t0), "repayments/s": n / (t2 - t1), "pairs/s": n / (t2 - t0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=300)
    parser.add_argument("--postgres", default=DEFAULT_PG, help="admin URL; a scratch database is created and dropped")
    args = parser.parse_args()
    results: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        platform, lines = build(f"sqlite:///{tmp}/bench.db", args.loans)
        results.append(("SQLite (file, WAL)", measure(platform, lines)))
        platform.engine.dispose()
    try:
        admin = create_engine(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        name = f"microlend_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            platform, lines = build(make_url(args.postgres).set(database=name).render_as_string(hide_password=False), args.loans)
            results.append(("PostgreSQL", measure(platform, lines)))
            platform.engine.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as exc:  # noqa: BLE001 - report and go on with what ran
        Console(stderr=True).print(f"PostgreSQL skipped: {exc.__class__.__name__}: {exc}")
    table = Table(title=f"Drawdown + repayment through the services, {args.loans} loans, one process")
    for col in ("database", "drawdowns/s", "repayments/s", "drawdown+repayment pairs/s"):
        table.add_column(col, justify="right" if col != "database" else "left")
    for name, r in results:
        table.add_row(name, f"{r['drawdowns/s']:,.0f}", f"{r['repayments/s']:,.0f}", f"{r['pairs/s']:,.0f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
