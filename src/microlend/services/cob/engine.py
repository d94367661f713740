"""Running the close of business: dates in order, phases in order, chunks by workers.

The coordinator (``run_cob``) starts or resumes a date, creates each phase's chunks
and either works them itself (one worker, and always on SQLite) or starts worker
processes that claim chunks with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), while it
shows progress and keeps the run's heartbeat. More workers on other machines can
join a running date with ``microlend cob work``. When every phase is done the
coordinator posts the day's aggregated accruals and the report in one transaction.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Callable

from sqlalchemy import func, select

from microlend.errors import ConflictError, ValidationError
from microlend.services.cob import runs
from microlend.services.cob.phases import PHASES, CobOptions, Phase, process_chunk
from microlend.services.cob.report import finalize_date
from microlend.store import tables

#: Called with (phase, chunks done, chunks total, loans through the phase so far) as chunks finish.
ProgressFn = Callable[[str, int, int, int], None]


@dataclass(frozen=True)
class DatePlan:
    dates: list[date]
    note: str | None = None


def plan_dates(platform, *, only: date | None = None, to: date | None = None,
               not_after: date | None = None) -> DatePlan:
    """Which dates a run covers: the unfinished one, then each next date through ``to`` (or ``only``).

    ``not_after`` refuses dates past it (the CLI and API pass today: a close of business of a day
    that has not happened would accrue, debit and write off ahead of time); simulations leave it out.
    """
    with platform.engine.connect() as conn:
        last = runs.last_done(conn)
        unfinished = conn.execute(select(tables.cob_runs.c.business_date)
                                  .where(tables.cob_runs.c.status == runs.RUNNING)).scalar()
    today = getattr(platform.clock, "calendar_date", platform.clock.business_date)()
    for name, value in (("date", only), ("to", to)):
        if value is not None and not_after is not None and value > not_after:
            raise ValidationError(f"{value} is in the future: the close of business runs up to {not_after}",
                                  code="cob_date_in_future", field=name)
    if only is not None:
        if last is not None and only <= last:
            return DatePlan([], f"the close of business of {only} has already finished; nothing to do")
        expected = unfinished or (last + timedelta(days=1) if last else only)
        if only != expected:
            raise ValidationError(f"{only} is out of order: the next close of business is {expected}",
                                  code="cob_date_out_of_order", field="date", extra={"next_date": str(expected)})
        return DatePlan([only])
    first = unfinished or (last + timedelta(days=1) if last else (to or today))
    target = to or today
    if target < first:
        return DatePlan([], f"the book is already at {last or unfinished}; nothing to do through {target}")
    return DatePlan([first + timedelta(days=n) for n in range((target - first).days + 1)])


def run_cob(platform, *, only: date | None = None, to: date | None = None, options: CobOptions | None = None,
            progress: ProgressFn | None = None, on_date: Callable[[date, dict], None] | None = None,
            not_after: date | None = None) -> list[dict]:
    """Run the planned dates; returns each date's report."""
    options = options or CobOptions()
    if platform.engine.dialect.name != "postgresql" and options.workers > 1:
        options = replace(options, workers=1)  # SQLite has one writer: more processes would only queue
    reports = []
    for day in plan_dates(platform, only=only, to=to, not_after=not_after).dates:
        report = run_date(platform, day, options=options, progress=progress)
        reports.append(report)
        if on_date is not None:
            on_date(day, report)
    return reports


def run_date(platform, on: date, *, options: CobOptions, progress: ProgressFn | None = None) -> dict:
    engine = platform.engine
    owner = runs.owner_id()
    started = runs.begin_date(engine, on, now=platform.clock.now(), owner=owner)
    if started == "done":
        with engine.connect() as conn:
            return runs.get_run(conn, on).report or {}
    processes = _start_workers(platform, on, options) if options.workers > 1 else []
    timings: dict[str, float] = {}
    finished = False
    try:
        for phase in PHASES:
            began = time.perf_counter()
            _create_chunks(platform, on, phase, options)
            if not processes:
                work_phase(platform, on, phase, options, progress=progress)
            _wait_phase_done(platform, on, phase, processes=processes, progress=progress)
            timings[phase.name] = time.perf_counter() - began
            runs.heartbeat(engine, on, platform.clock.now())
        report = finalize_date(platform, on, owner=owner, timings=timings)
        finished = True
        return report
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        if not finished:
            runs.release(engine, on, owner)


def _start_workers(platform, on: date, options: CobOptions) -> list:
    """Worker processes for the whole date: they follow the phases as the coordinator opens them."""
    context = multiprocessing.get_context("spawn")
    url = platform.engine.url.render_as_string(hide_password=False)
    processes = [context.Process(target=_worker_main, args=(url, on, options), daemon=True)
                 for _ in range(options.workers)]
    for process in processes:
        process.start()
    return processes


def _wait_phase_done(platform, on: date, phase: Phase, *, processes=(), progress: ProgressFn | None = None,
                     timeout: float = 3600.0) -> None:
    """A barrier: every chunk of the phase done (by our workers or by ``cob work`` elsewhere)."""
    deadline = time.monotonic() + timeout
    last_seen = -1
    while True:
        with platform.engine.connect() as conn:
            finished, total = runs.phase_progress(conn, on).get(phase.name, (0, 0))
        if progress is not None and processes and finished != last_seen:
            with platform.engine.connect() as conn:
                progress(phase.name, finished, total, runs.loans_done(conn, on, phase.name))
            last_seen = finished
        if finished == total:
            return
        failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
        if failed or time.monotonic() > deadline:
            raise ConflictError(f"phase {phase.name} of {on} did not finish (worker exit codes {failed}); "
                                f"run the close of business again to resume", code="cob_worker_failed", field=None)
        time.sleep(0.05)
        runs.heartbeat(platform.engine, on, platform.clock.now())


def _create_chunks(platform, on: date, phase: Phase, options: CobOptions) -> None:
    ranges = [(0, 0)]
    if phase.chunked:
        with platform.engine.connect() as conn:
            low, high = conn.execute(select(func.min(tables.loans.c.id), func.max(tables.loans.c.id))).one()
        ranges = runs.id_ranges(low, high, options.chunk_size)
    runs.ensure_chunks(platform.engine, on, phase.name, ranges)


def work_phase(platform, on: date, phase: Phase, options: CobOptions, *, progress: ProgressFn | None = None,
               worker: str | None = None) -> int:
    """Claim and process chunks of one phase until none is left; returns how many this worker did."""
    worker = worker or runs.owner_id()
    done = 0
    while True:
        chunk = runs.claim_chunk(platform.engine, on, phase.name, worker)
        if chunk is None:
            return done
        process_chunk(platform, on, phase.name, chunk, options, platform.clock.now())
        done += 1
        runs.heartbeat(platform.engine, on, platform.clock.now())  # progress is life: no takeover meanwhile
        if progress is not None:
            with platform.engine.connect() as conn:
                finished, total = runs.phase_progress(conn, on).get(phase.name, (0, 0))
                progress(phase.name, finished, total, runs.loans_done(conn, on, phase.name))


def _worker_main(url: str, on: date, options: CobOptions) -> None:  # pragma: no cover - runs in a subprocess
    """Work every phase of the date in order, waiting at each phase's barrier for the others."""
    from microlend.config import get_settings
    from microlend.services.platform import Platform

    settings = get_settings().model_copy(update={"database_url": url})
    platform = Platform.build(settings)
    parent = os.getppid()
    try:
        for phase in PHASES:
            while True:  # the coordinator opens the phase (creates its chunks) when the last one is done
                if os.getppid() != parent:
                    return  # the coordinator died: a rerun resumes the date
                with platform.engine.connect() as conn:
                    state = conn.execute(select(tables.cob_runs.c.status)
                                         .where(tables.cob_runs.c.business_date == on)).scalar()
                    finished, total = runs.phase_progress(conn, on).get(phase.name, (0, 0))
                if state != runs.RUNNING or total:
                    break
                time.sleep(0.05)
            if state != runs.RUNNING:
                return
            work_phase(platform, on, phase, options)
            while finished != total and os.getppid() == parent:
                time.sleep(0.05)
                with platform.engine.connect() as conn:
                    finished, total = runs.phase_progress(conn, on).get(phase.name, (0, 0))
    finally:
        platform.engine.dispose()


def join_running(platform, options: CobOptions | None = None, *, wait_seconds: float = 5.0) -> int:
    """Help a running date from another process or machine: work whatever chunks are pending."""
    options = options or CobOptions()
    deadline = time.monotonic() + wait_seconds
    done = 0
    while time.monotonic() < deadline:
        with platform.engine.connect() as conn:
            on = conn.execute(select(tables.cob_runs.c.business_date)
                              .where(tables.cob_runs.c.status == runs.RUNNING)).scalar()
        if on is None:
            return done
        for phase in PHASES:
            if phase.chunked:
                done += work_phase(platform, on, phase, options)
        time.sleep(0.2)
    return done
