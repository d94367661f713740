"""The business calendar and the record of each close of business (COB).

A COB date D brings the book to D: after it finishes, the business date is D.
Dates run one at a time, in order. ``cob_runs`` holds one row per date (running
or done); ``cob_chunks`` holds the units of work of each phase, which worker
processes claim (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so a run killed half
way resumes where it stopped.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Connection, Engine, func, insert, select, update

from microlend.errors import ConflictError, ValidationError
from microlend.store import tables

RUNNING = "running"
DONE = "done"
PENDING = "pending"
#: A run whose owner has not written a heartbeat for this long is taken over.
STALE_AFTER = timedelta(minutes=2)

runs, chunks = tables.cob_runs, tables.cob_chunks


def owner_id() -> str:
    """Who runs a date: host, process and a token of this run (two runs in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def last_done(conn: Connection) -> date | None:
    return conn.execute(select(func.max(runs.c.business_date)).where(runs.c.status == DONE)).scalar()


@dataclass(frozen=True)
class RunRecord:
    business_date: date
    status: str
    owner: str
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    report: dict | None


def get_run(conn: Connection, on: date) -> RunRecord | None:
    row = conn.execute(select(runs).where(runs.c.business_date == on)).first()
    return RunRecord(**row._mapping) if row else None


def list_runs(conn: Connection, limit: int = 30) -> list[RunRecord]:
    rows = conn.execute(select(runs).order_by(runs.c.business_date.desc()).limit(limit))
    return [RunRecord(**r._mapping) for r in rows]


def _owner_alive(owner: str, heartbeat_at: datetime, now: datetime) -> bool:
    host, pid = (owner.split(":") + ["", ""])[:2]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return now - heartbeat_at < STALE_AFTER


def begin_date(engine: Engine, on: date, *, now: datetime, owner: str) -> str:
    """Start (or resume) the COB of ``on`` as ``owner``; returns "started", "resumed" or "done".

    Refused: a date that is not the day after the last one done, a date while an
    earlier one is unfinished, and a date another live run (any other owner whose
    process is alive, this process included) is running.
    """
    me = owner
    with engine.begin() as conn:
        _lock_calendar(conn)
        existing = conn.execute(select(runs).where(runs.c.business_date == on).with_for_update()).first()
        if existing is not None and existing.status == DONE:
            return "done"
        if existing is not None:
            if existing.owner != me and _owner_alive(existing.owner, existing.heartbeat_at, now):
                raise ConflictError(
                    f"the close of business of {on} is already running (owner {existing.owner}, "
                    f"last heartbeat {existing.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)",
                    code="cob_already_running", field="date")
            conn.execute(update(runs).where(runs.c.business_date == on).values(owner=me, heartbeat_at=now))
            # Chunks a dead worker had claimed go back to the queue: every phase is safe to redo.
            conn.execute(update(chunks).where(chunks.c.business_date == on, chunks.c.status == RUNNING)
                         .values(status=PENDING, worker=None))
            return "resumed"
        unfinished = conn.execute(select(runs.c.business_date).where(runs.c.status == RUNNING)).scalar()
        if unfinished is not None:
            raise ConflictError(f"the close of business of {unfinished} has not finished; run it first",
                                code="cob_unfinished", field="date")
        previous = last_done(conn)
        expected = previous + timedelta(days=1) if previous else None  # the first date is the caller's
        if expected is not None and on != expected:
            word = "already past" if previous and on <= previous else "out of order"
            raise ValidationError(f"{on} is {word}: the next close of business is {expected}",
                                  code="cob_date_out_of_order", field="date", extra={"next_date": str(expected)})
        conn.execute(insert(runs).values(business_date=on, status=RUNNING, started_at=now, heartbeat_at=now,
                                         owner=me))
        return "started"


def _lock_calendar(conn: Connection) -> None:
    """Serialise run starts: on PostgreSQL an advisory transaction lock; SQLite's writer lock does it."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(74656)")


def release(engine: Engine, on: date, owner: str) -> None:
    """Give up a date this run could not finish (an error), so another run may resume it at once."""
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.business_date == on, runs.c.owner == owner, runs.c.status == RUNNING)
                     .values(owner="", heartbeat_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


def heartbeat(engine: Engine, on: date, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.business_date == on).values(heartbeat_at=now))


def lock_for_finish(conn: Connection, on: date, owner: str) -> str:
    """Lock the date's run row before finishing it; returns its status. Refuses a run someone else took over."""
    row = conn.execute(select(runs.c.status, runs.c.owner).where(runs.c.business_date == on).with_for_update()).one()
    if row.status == RUNNING and row.owner != owner:
        raise ConflictError(f"the close of business of {on} was taken over by {row.owner}", code="cob_taken_over",
                            field="date")
    return row.status


def finish_date(conn: Connection, on: date, *, now: datetime, report: dict) -> None:
    conn.execute(update(runs).where(runs.c.business_date == on)
                 .values(status=DONE, finished_at=now, heartbeat_at=now, report=report))


# --- chunks ------------------------------------------------------------------------

def ensure_chunks(engine: Engine, on: date, phase: str, ranges: list[tuple[int, int]]) -> None:
    """Create the chunks of a phase once (a resumed run keeps the ones it has)."""
    with engine.begin() as conn:
        have = conn.execute(select(func.count()).select_from(chunks)
                            .where(chunks.c.business_date == on, chunks.c.phase == phase)).scalar()
        if have:
            return
        conn.execute(insert(chunks), [
            {"business_date": on, "phase": phase, "chunk_no": n, "first_id": a, "last_id": b, "status": PENDING}
            for n, (a, b) in enumerate(ranges)
        ])


def claim_chunk(engine: Engine, on: date, phase: str, worker: str):
    """Take the next pending chunk of a phase (committed as running), or None when none is left."""
    with engine.begin() as conn:
        stmt = (select(chunks.c.chunk_no, chunks.c.first_id, chunks.c.last_id)
                .where(chunks.c.business_date == on, chunks.c.phase == phase, chunks.c.status == PENDING)
                .order_by(chunks.c.chunk_no).limit(1))
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        row = conn.execute(stmt).first()
        if row is None:
            return None
        conn.execute(update(chunks).where(chunks.c.business_date == on, chunks.c.phase == phase,
                                          chunks.c.chunk_no == row.chunk_no)
                     .values(status=RUNNING, worker=worker))
        return row


def complete_chunk(conn: Connection, on: date, phase: str, chunk_no: int, *, now: datetime, result: dict) -> None:
    conn.execute(update(chunks).where(chunks.c.business_date == on, chunks.c.phase == phase,
                                      chunks.c.chunk_no == chunk_no)
                 .values(status=DONE, done_at=now, result=result))


def phase_progress(conn: Connection, on: date) -> dict[str, tuple[int, int]]:
    """(done, total) chunks per phase."""
    rows = conn.execute(select(chunks.c.phase, chunks.c.status, func.count())
                        .where(chunks.c.business_date == on).group_by(chunks.c.phase, chunks.c.status))
    out: dict[str, list[int]] = {}
    for phase, status, count in rows:
        done_total = out.setdefault(phase, [0, 0])
        done_total[1] += count
        if status == DONE:
            done_total[0] += count
    return {k: (v[0], v[1]) for k, v in out.items()}


def loans_done(conn: Connection, on: date, phase: str) -> int:
    """Loans through a phase so far: the loans a chunk reports, else the size of its id range."""
    rows = conn.execute(select(chunks.c.first_id, chunks.c.last_id, chunks.c.result).where(
        chunks.c.business_date == on, chunks.c.phase == phase, chunks.c.status == DONE))
    total = 0
    for first, last, result in rows:
        reported = (result or {}).get("loans") if isinstance(result, dict) else None
        total += int(reported) if reported is not None else (last - first + 1 if last >= first > 0 else 0)
    return total


def chunk_results(conn: Connection, on: date, phase: str) -> list[dict]:
    rows = conn.execute(select(chunks.c.result).where(chunks.c.business_date == on, chunks.c.phase == phase,
                                                      chunks.c.status == DONE))
    return [r.result or {} for r in rows]


def id_ranges(lowest: int | None, highest: int | None, size: int) -> list[tuple[int, int]]:
    if lowest is None or highest is None:
        return [(0, 0)]
    return [(start, min(start + size - 1, highest)) for start in range(lowest, highest + 1, size)]
