"""Benchmark: one close-of-business date on a simulated book.

Builds a book with ``microlend.simulation.book`` once (kept as a template database on
PostgreSQL and a file on SQLite, so reruns only clone it), then times one COB date on a
fresh copy: PostgreSQL with N worker processes, and the same book on SQLite with one.
Prints seconds and loans per second per phase, and the peak memory of the processes,
beside the issue's limits (1,000,000 loans in <= 60 s on PostgreSQL with 2 workers,
peak memory < 2 GiB).

    .venv/bin/python benchmarks/cob.py --loans 1000000 --workers 2
    .venv/bin/python benchmarks/cob.py --loans 20000 --skip-sqlite
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select, text

from microlend.config import Settings
from microlend.services.cob.engine import run_cob
from microlend.services.cob.phases import PHASES, CobOptions
from microlend.services.platform import Platform
from microlend.simulation.behaviour import BehaviouralRail
from microlend.simulation.book import build_book
from microlend.store import tables
from microlend.store.database import make_engine
from microlend.store.migrate import upgrade

AS_OF = date(2026, 6, 30)
RUN_DATE = AS_OF + timedelta(days=1)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
console = Console(stderr=True)


def build_template(url: str, loans: int, settings: Settings) -> float:
    engine = make_engine(url)
    upgrade(engine)
    platform = Platform.build(settings.model_copy(update={"database_url": url}), engine=engine)
    started = time.perf_counter()
    with Progress(TextColumn("building book"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("build", total=loans)
        build_book(engine, loans=loans, as_of=AS_OF, cipher=platform.cipher, seed=2026,
                   progress=lambda n: progress.update(task, completed=n))
    engine.dispose()
    return time.perf_counter() - started


def pg_database(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def prepare_postgres(loans: int, settings: Settings) -> str:
    template, copy = f"microlend_bench_book_{loans}", "microlend_bench_cob"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template}).first()
    if not exists:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{template}"'))
        seconds = build_template(pg_database(template), loans, settings)
        console.print(f"built {loans:,} loans on PostgreSQL in {seconds:.0f} s ({loans / seconds:,.0f} loans/s)")
        engine = make_engine(pg_database(template))
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"'))
    admin.dispose()
    return pg_database(copy)


def prepare_sqlite(loans: int, settings: Settings, folder: Path) -> str:
    template, copy = folder / f"book_{loans}.db", folder / "cob_run.db"
    if not template.exists():
        seconds = build_template(f"sqlite:///{template}", loans, settings)
        console.print(f"built {loans:,} loans on SQLite in {seconds:.0f} s")
    for suffix in ("", "-wal", "-shm"):
        Path(str(copy) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, copy)
    return f"sqlite:///{copy}"


def time_one_date(url: str, workers: int, chunk_size: int, settings: Settings) -> tuple[dict, float, int]:
    platform = Platform.build(settings.model_copy(update={"database_url": url}), rail=BehaviouralRail())
    with platform.engine.connect() as conn:
        active = conn.execute(select(func.count()).select_from(tables.loans)
                              .where(tables.loans.c.status == "active")).scalar()
    started = time.perf_counter()
    report = run_cob(platform, only=RUN_DATE, options=CobOptions(workers=workers, chunk_size=chunk_size))[0]
    seconds = time.perf_counter() - started
    platform.engine.dispose()
    return report, seconds, active


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory of this process and of the largest worker process (MiB)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def print_table(title: str, report: dict, seconds: float, active: int, limit: float | None) -> None:
    table = Table("Phase", "What", "Seconds", "Loans/s", title=title)
    for phase in PHASES:
        spent = report["seconds"].get(phase.name, 0.0)
        table.add_row(phase.name, phase.label, f"{spent:.2f}", f"{active / spent:,.0f}" if spent else "-")
    table.add_row("total", f"{active:,} active loans", f"{seconds:.2f}", f"{active / seconds:,.0f}",
                  style="bold")
    print_console = Console()
    print_console.print(table)
    verdict = "" if limit is None else ("  [green]within[/]" if seconds <= limit else "  [red]over[/]")
    print_console.print(f"{title}: {seconds:.1f} s for one date" + (f" (limit {limit:.0f} s){verdict}" if limit else ""))
    loans = report["loans"]
    print_console.print(f"  quiet {loans['quiet']:,} / with events {loans['eventful']:,} (set-based in SQL: {loans.get('set_based', 0):,}); debits "
                        f"{report['debits']['tried']:,} tried, {report['debits']['failed']:,} failed; SMS "
                        f"{report['sms']['queued']:,}; written off {report['written_off']['count']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--cache", default=os.environ.get("MICROLEND_BENCH_CACHE", "/tmp/microlend-bench"))
    args = parser.parse_args()
    settings = Settings(env="test", simulated_rail="behavioural")
    os.environ["MICROLEND_SIMULATED_RAIL"] = "behavioural"  # worker processes build their own rail
    folder = Path(args.cache)
    folder.mkdir(parents=True, exist_ok=True)
    if not args.skip_postgres:
        url = prepare_postgres(args.loans, settings)
        report, seconds, active = time_one_date(url, args.workers, args.chunk_size, settings)
        limit = 60.0 * args.loans / 1_000_000
        print_table(f"PostgreSQL, {args.workers} workers", report, seconds, active, limit)
        own, worker = peak_rss_mib()
        Console().print(f"  peak memory: coordinator {own:,.0f} MiB, largest worker {worker:,.0f} MiB "
                        f"(limit 2,048 MiB)")
    if not args.skip_sqlite:
        url = prepare_sqlite(args.loans, settings, folder)
        report, seconds, active = time_one_date(url, 1, args.chunk_size, settings)
        print_table("SQLite, 1 worker", report, seconds, active, None)
        own, _ = peak_rss_mib()
        Console().print(f"  peak memory: {own:,.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
