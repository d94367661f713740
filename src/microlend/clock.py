"""Time, injected.

Two notions of time: the wall clock (``now``, timezone-aware UTC, for event and
audit timestamps) and the *business date* (the bank's date, the date on which
interest and due dates are reckoned). They differ around midnight and while the
close of business runs, so services never call ``date.today()`` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """Current instant, timezone-aware UTC."""

    def business_date(self) -> date:
        """The bank's current business date."""


class SystemClock:
    """Wall time; the business date is the calendar date in Beijing time."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def business_date(self) -> date:
        return self.now().astimezone(BUSINESS_TZ).date()


@dataclass
class FixedClock:
    """A clock that tests (and simulations) move by hand."""

    current_date: date
    current_time: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=timezone.utc))

    def now(self) -> datetime:
        return self.current_time

    def business_date(self) -> date:
        return self.current_date

    def advance(self, days: int = 1) -> None:
        self.current_date += timedelta(days=days)
        self.current_time += timedelta(days=days)


class BookClock:
    """Wall time, with the business date of the book: the date of the latest close of business.

    Before any close of business has run, the fallback clock's date. Read at most
    once a second, so a request does not cost a query.
    """

    def __init__(self, engine, fallback: Clock, ttl_seconds: float = 1.0):
        self._engine, self._fallback, self._ttl = engine, fallback, ttl_seconds
        self._cached: tuple[float, date] | None = None

    def now(self) -> datetime:
        return self._fallback.now()

    def calendar_date(self) -> date:
        """Today by the wall clock (what the close of business runs up to by default)."""
        return self._fallback.business_date()

    def business_date(self) -> date:
        import time

        from sqlalchemy import func, select
        from sqlalchemy.exc import DBAPIError

        from microlend.store.database import READ_ONLY
        from microlend.store.tables import cob_runs

        moment = time.monotonic()
        if self._cached is not None and moment - self._cached[0] < self._ttl:
            return self._cached[1]
        try:
            # A read-only connection: on SQLite it must not queue for the write lock, which the caller's own
            # unit of work may hold (a grant reads the business date inside its transaction).
            with self._engine.execution_options(**READ_ONLY).connect() as conn:
                book = conn.execute(select(func.max(cob_runs.c.business_date))).scalar()
        except DBAPIError:  # a database not migrated yet has no calendar: the fallback's date
            book = None
        value = book or self._fallback.business_date()
        self._cached = (moment, value)
        return value
