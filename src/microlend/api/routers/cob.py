"""The close of business over HTTP: status, runs and reports (staff), starting a date (admins)."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, status
from pydantic import BaseModel

from microlend.api.deps import AdminDep, PlatformDep, StaffDep
from microlend.api.schemas import DateIn, Strict
from microlend.errors import NotFoundError, ValidationError
from microlend.services.cob import runs
from microlend.services.cob.engine import plan_dates, run_cob
from microlend.services.cob.queries import get_report

router = APIRouter(tags=["close of business"])


class CobRunCreate(Strict):
    #: Exactly this date (it must be the next one); default: the next date.
    date: DateIn | None = None


class CobRunRead(BaseModel):
    business_date: date
    status: str
    owner: str
    started_at: str
    finished_at: str | None
    report: dict | None


def _read(record: runs.RunRecord) -> CobRunRead:
    return CobRunRead(business_date=record.business_date, status=record.status, owner=record.owner,
                      started_at=record.started_at.isoformat(),
                      finished_at=record.finished_at.isoformat() if record.finished_at else None,
                      report=record.report)


@router.get("/v1/cob/runs", response_model=list[CobRunRead])
def list_runs(platform: PlatformDep, _: StaffDep):
    """The latest dates, newest first, with their reports."""
    with platform.engine.connect() as conn:
        return [_read(r) for r in runs.list_runs(conn, limit=30)]


@router.get("/v1/cob/runs/{business_date}", response_model=CobRunRead)
def read_run(business_date: DateIn, platform: PlatformDep, _: StaffDep):
    with platform.engine.connect() as conn:
        record = runs.get_run(conn, business_date)
    if record is None:
        raise NotFoundError(f"no close of business of {business_date}", code="cob_run_not_found",
                            field="business_date")
    return _read(record)


@router.get("/v1/cob/report")
def latest_report(platform: PlatformDep, _: StaffDep) -> dict:
    """The report of the latest finished date."""
    return get_report(platform)


@router.post("/v1/cob/runs", status_code=status.HTTP_201_CREATED, response_model=CobRunRead)
def start_run(body: CobRunCreate, platform: PlatformDep, _: AdminDep):
    """Run the close of business of one date in this process; a finished date answers its record unchanged.

    Big books belong to ``microlend cob run --workers N`` (several processes, a progress bar).
    """
    day = body.date
    if day is None:
        with platform.engine.connect() as conn:
            last = runs.last_done(conn)
        if last is None:
            raise ValidationError("no close of business has run yet: give the first date",
                                  code="missing_field", field="date")
        day = last + timedelta(days=1)
    today = getattr(platform.clock, "calendar_date", platform.clock.business_date)()
    if plan_dates(platform, only=day, not_after=today).dates:  # refuses a date out of order or in the future
        run_cob(platform, only=day, not_after=today)
    with platform.engine.connect() as conn:
        record = runs.get_run(conn, day)
    if record is None:  # before the first date ever run
        raise ValidationError(f"{day} is before the first close of business of this book",
                              code="cob_date_out_of_order", field="date")
    return _read(record)
