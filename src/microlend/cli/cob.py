"""``microlend cob``: run the close of business, join a running one, read its reports."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from microlend.cli.common import console, err_console, fail, handle_errors, parse_date, platform, print_json

cob_app = typer.Typer(help="Close of business: the nightly run that moves the book one day.", no_args_is_help=True)


class _Bar:
    """A rich progress bar per phase: chunks done and loans per second."""

    def __init__(self, progress: Progress):
        self.progress, self.tasks, self.loans, self.started = progress, {}, {}, {}

    def __call__(self, phase: str, done: int, total: int, loans: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total, rate="")
            self.loans[phase], self.started[phase] = 0, time.perf_counter()
        self.loans[phase] = loans
        elapsed = max(time.perf_counter() - self.started[phase], 1e-6)
        rate = f"{self.loans[phase] / elapsed:,.0f} loans/s" if self.loans[phase] else ""
        self.progress.update(self.tasks[phase], completed=done, total=total, rate=rate)


@cob_app.command("run")
@handle_errors
def cob_run(
    to: Annotated[Optional[str], typer.Option(help="Run every date up to this one (YYYY-MM-DD); default today")] = None,
    only: Annotated[Optional[str], typer.Option("--date", help="Run exactly this date (must be the next one)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (PostgreSQL)")] = 1,
    chunk_size: Annotated[int, typer.Option(min=1, max=1_000_000, help="Loans per chunk")] = 20_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
    allow_future: Annotated[bool, typer.Option("--allow-future",
                                               help="Allow dates after today (simulations and demos only)")] = False,
) -> None:
    """Run the close of business date by date; a run stopped half way resumes where it stopped."""
    from microlend.services.cob.engine import plan_dates, run_cob
    from microlend.services.cob.phases import CobOptions

    if to and only:
        fail("invalid_option (date): give --date or --to, not both")
    p = platform()
    to_date, only_date = parse_date(to, "to"), parse_date(only, "date")
    not_after = None if allow_future else getattr(p.clock, "calendar_date", p.clock.business_date)()
    plan = plan_dates(p, only=only_date, to=to_date, not_after=not_after)
    if not plan.dates:
        err_console.print(plan.note)
        if as_json:
            print_json([])
        return
    options = CobOptions(workers=workers, chunk_size=chunk_size)
    reports = []
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=quiet or as_json, transient=False) as progress:
        def on_date(day, report):
            reports.append(report)
            if not as_json:
                progress.console.print(_summary_line(report))
            progress.refresh()
        for day in plan.dates:
            bar = _Bar(progress)
            progress.console.print(f"[bold]close of business {day}[/]") if not (quiet or as_json) else None
            run_cob(p, only=day, options=options, progress=bar, on_date=on_date, not_after=not_after)
            for task in bar.tasks.values():
                progress.remove_task(task)
    if as_json:
        print_json(reports)


def _summary_line(report: dict) -> str:
    loans, debits = report["loans"], report["debits"]
    return (f"{report['business_date']}: {loans['processed']} loans ({loans['eventful']} with events), "
            f"accrued {report['accrued']['interest']} interest / {report['accrued']['penalty']} penalty, "
            f"debits {debits['succeeded']}/{debits['tried']} collected {debits['collected']}, "
            f"SMS {report['sms']['queued']}, written off {report['written_off']['count']}")


@cob_app.command("work")
@handle_errors
def cob_work(
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for a running date")] = 10.0,
) -> None:
    """Join a running close of business (from this or another machine) and work its chunks."""
    from microlend.services.cob.engine import join_running

    done = join_running(platform(), wait_seconds=wait)
    console.print(f"{done} chunks worked")


@cob_app.command("status")
@handle_errors
def cob_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The book's business date and the latest runs."""
    from microlend.services.cob import runs

    p = platform()
    with p.engine.connect() as conn:
        records = runs.list_runs(conn, limit=10)
        progress = runs.phase_progress(conn, records[0].business_date) if records else {}
    if as_json:
        print_json({"business_date": records[0].business_date.isoformat() if records else None,
                    "runs": [{"date": r.business_date.isoformat(), "status": r.status, "owner": r.owner,
                              "started_at": r.started_at.isoformat(),
                              "finished_at": r.finished_at.isoformat() if r.finished_at else None}
                             for r in records],
                    "phases": {k: {"done": v[0], "total": v[1]} for k, v in progress.items()}})
        return
    table = Table("Date", "Status", "Owner", "Started", "Finished", title="Close of business")
    for r in records:
        table.add_row(str(r.business_date), r.status, r.owner, f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                      f"{r.finished_at:%H:%M:%S}" if r.finished_at else "")
    console.print(table)


@cob_app.command("report")
@handle_errors
def cob_report(
    day: Annotated[Optional[str], typer.Argument(help="YYYY-MM-DD; default the latest finished date")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Counts by status, bucket and class; amounts accrued, collected, written off; debits; SMS."""
    from microlend.services.cob.queries import get_report

    report = get_report(platform(), parse_date(day, "date"))
    if as_json:
        print_json(report)
        return
    table = Table("Figure", "Value", title=f"Close of business {report['business_date']}")
    for section, values in report.items():
        if isinstance(values, dict):
            for key, value in values.items():
                table.add_row(f"{section}.{key}", ", ".join(f"{k}: {v}" for k, v in value.items())
                              if isinstance(value, dict) else str(value))
    console.print(table)
