"""Reading the close of business: the business date, runs and reports (CLI and API)."""

from __future__ import annotations

from datetime import date

from microlend.errors import NotFoundError
from microlend.services.cob import runs


def get_report(platform, on: date | None = None) -> dict:
    """The report of a finished date (default: the latest)."""
    with platform.engine.connect() as conn:
        day = on or runs.last_done(conn)
        record = runs.get_run(conn, day) if day else None
    if record is None or record.status != runs.DONE:
        what = f"of {on}" if on else "yet"
        raise NotFoundError(f"no finished close of business {what}", code="cob_report_not_found", field="date")
    return record.report or {}
