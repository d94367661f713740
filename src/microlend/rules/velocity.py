"""Velocity windows: the events rules count, and the store interface the engine asks.

The engine never counts anything itself; it asks a :class:`VelocityStore` for an
aggregate over a sliding window ("how many applications from this device in the last
hour?"). Keeping the interface this small lets the same rules run against the
in-memory store (tests, benchmarks), the database (the default) and Redis, with
identical results.

Window semantics, shared by every implementation: an event counts when
``now - within < at <= now`` (an event exactly ``within`` old is out; one at ``now``
is in).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from microlend.errors import ValidationError

#: Key kinds an event may carry and rules may group by.
KEY_KINDS = ("id_number", "phone", "device", "ip", "card")
#: Event kinds.
EVENT_KINDS = ("application", "drawdown")
#: Aggregate functions.
FUNCTIONS = ("count", "distinct", "sum", "max")
#: Longest window a rule may ask for (stores may expire older events).
MAX_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class VelocityEvent:
    """One application or drawdown, keyed by the hashed identifiers it carried."""

    kind: str                      # "application" | "drawdown"
    at: datetime                   # aware UTC
    keys: dict[str, str]           # key kind -> hashed value; kinds: id_number, phone, device, ip, card
    amount: Decimal | None = None  # drawdown amount (for sum / max)
    ref: str = ""                  # application or drawdown id (idempotent recording: same ref twice counts once)


class VelocityStore(Protocol):
    """Where velocity events are kept and aggregated."""

    def record(self, event: VelocityEvent) -> None: ...

    def aggregate(self, *, function: str, kind: str, by: str, value: str, within: timedelta, now: datetime,
                  field: str | None = None, include: str | None = None) -> int | Decimal:
        """``include`` (distinct only): a value counted as if present, the current event's own ``field`` key,
        so "identities on this device" counts the applicant asking as well as the earlier ones."""
        ...


def check_aggregate(function: str, kind: str, by: str, field: str | None) -> None:
    """Refuse an aggregate request no store can answer (shared by the implementations)."""
    if function not in FUNCTIONS:
        raise ValidationError(f"unknown aggregate function {function!r}", code="invalid_aggregate", field="function")
    if by not in KEY_KINDS:
        raise ValidationError(f"unknown key kind {by!r}", code="invalid_aggregate", field="by")
    if kind not in EVENT_KINDS:
        raise ValidationError(f"unknown event kind {kind!r}", code="invalid_aggregate", field="kind")
    if function == "distinct" and field not in KEY_KINDS:
        raise ValidationError(f"distinct needs a key kind field, not {field!r}", code="invalid_aggregate",
                              field="field")
    if function in ("sum", "max") and field != "amount":
        raise ValidationError(f"{function} needs field 'amount', not {field!r}", code="invalid_aggregate",
                              field="field")


class _Series:
    """Events of one (kind, by, value): times sorted ascending, events in the same order."""

    __slots__ = ("times", "events")

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.events: list[VelocityEvent] = []


class InMemoryVelocityStore:
    """A process-local store: per-(kind, by, value) sorted timestamp lists searched with bisect.

    Counting is two binary searches; distinct/sum/max walk only the events inside the
    window. Good for tests and the engine benchmark; not shared between processes.
    """

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._refs: set[tuple[str, str]] = set()

    def record(self, event: VelocityEvent) -> None:
        if event.at.tzinfo is None:
            raise ValidationError("velocity event time must be timezone-aware", code="invalid_event", field="at")
        if event.amount is not None:  # the same refusal as the database and Redis stores
            amount = event.amount if isinstance(event.amount, Decimal) else None
            if amount is None or not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
                raise ValidationError(f"velocity event amount must be whole fen, at least 0, not {event.amount}",
                                      code="invalid_event", field="amount")
        if event.ref:
            marker = (event.kind, event.ref)
            if marker in self._refs:
                return
            self._refs.add(marker)
        for by, value in event.keys.items():
            if not value:
                continue
            series = self._series.get((event.kind, by, value))
            if series is None:
                series = self._series[(event.kind, by, value)] = _Series()
            index = bisect_right(series.times, event.at)
            series.times.insert(index, event.at)
            series.events.insert(index, event)

    def aggregate(self, *, function: str, kind: str, by: str, value: str, within: timedelta, now: datetime,
                  field: str | None = None, include: str | None = None) -> int | Decimal:
        check_aggregate(function, kind, by, field)
        series = self._series.get((kind, by, value))
        if series is None:
            return 1 if function == "distinct" and include else (Decimal(0) if function in ("sum", "max") else 0)
        times = series.times
        # now - within < at <= now
        lo = bisect_right(times, now - within)
        hi = bisect_right(times, now, lo)
        if function == "count":
            return hi - lo
        if function == "distinct":
            seen = {v for event in series.events[lo:hi] if (v := event.keys.get(field))}
            return len(seen | {include}) if include else len(seen)
        if function == "sum":
            total = Decimal(0)
            for event in series.events[lo:hi]:
                if event.amount is not None:
                    total += event.amount
            return total
        if function == "max":
            best = Decimal(0)
            for event in series.events[lo:hi]:
                if event.amount is not None and event.amount > best:
                    best = event.amount
            return best
        check_aggregate(function, kind, by, field)
        raise AssertionError("unreachable")
