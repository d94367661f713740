"""Shared helpers for close-of-business tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from microlend.services import drawdowns
from microlend.services.cob.engine import run_cob
from microlend.services.cob.phases import CobOptions


def draw(platform, line_id, amount, term=5):
    return drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher,
                                      clock=platform.clock, line_id=line_id, amount=Decimal(amount), term=term)


def close(platform, day: date, **options) -> dict:
    """Run the close of business of exactly ``day`` and move the test clock to it."""
    reports = run_cob(platform, only=day, options=CobOptions(**options))
    platform.clock.current_date = day
    return reports[0] if reports else {}


def close_through(platform, first: date, last: date, **options) -> list[dict]:
    out, day = [], first
    while day <= last:
        out.append(close(platform, day, **options))
        day += timedelta(days=1)
    return out
