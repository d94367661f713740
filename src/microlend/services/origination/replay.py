"""Making a decision reproducible: record what the rules read, read it back later.

While a decision is made, :class:`RecordingWindows` wraps the live velocity store and
keeps every window aggregate the rules asked for with its answer; the decision record
stores them beside the facts. :class:`RecordedWindows` answers the same questions from
the record, so replaying a record (or backtesting a candidate rule set over stored
records) sees exactly what the live decision saw, even after the events aged out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from microlend.errors import ValidationError
from microlend.rules.velocity import VelocityEvent, VelocityStore

_ONE_MICROSECOND = timedelta(microseconds=1)


def _window_key(function: str, kind: str, by: str, value: str, within: timedelta, field: str | None,
                include: str | None) -> tuple:
    return function, kind, by, value, int(within.total_seconds()), field, include


class RecordingWindows:
    """A velocity store that passes reads to ``store`` and remembers each answer (one instance per decision)."""

    def __init__(self, store: VelocityStore):
        self._store = store
        self.seen: dict[tuple, int | Decimal] = {}

    def record(self, event: VelocityEvent) -> None:
        self._store.record(event)

    def aggregate(self, *, function: str, kind: str, by: str, value: str, within: timedelta, now: datetime,
                  field: str | None = None, include: str | None = None) -> int | Decimal:
        key = _window_key(function, kind, by, value, within, field, include)
        if key in self.seen:
            return self.seen[key]
        result = self._store.aggregate(function=function, kind=kind, by=by, value=value, within=within, now=now,
                                       field=field, include=include)
        self.seen[key] = result
        return result

    def prefetch(self, rule_sets, keys: Mapping[str, str], now: datetime, *, connection=None) -> None:
        """Ask for every window the rule sets will read, at once when the store can batch (the database
        store answers them in one statement); the rules then find the answers here."""
        wanted: dict[tuple, dict] = {}
        for rule_set in rule_sets:
            for rule in rule_set.rules:
                for window in rule.expression.windows:
                    value = keys.get(window.by)
                    if not value:
                        continue  # the rule gets None without asking the store
                    include = keys.get(window.field) if window.function == "distinct" else None
                    key = _window_key(window.function, window.kind, window.by, value, window.within, window.field,
                                      include)
                    if key not in self.seen:
                        wanted[key] = {"function": window.function, "kind": window.kind, "by": window.by,
                                       "value": value, "within": window.within, "field": window.field,
                                       "include": include}
        if not wanted:
            return
        many = getattr(self._store, "aggregate_many", None)
        if many is None:
            return  # the rules ask one by one
        results = many(list(wanted.values()), now=now, connection=connection)
        self.seen.update(zip(wanted, results))

    def to_json(self) -> list[dict]:
        return [{"function": f, "kind": k, "by": b, "value": v, "within_s": w, "field": fl, "include": inc,
                 "result": str(result)}
                for (f, k, b, v, w, fl, inc), result in self.seen.items()]


class RecordedWindows:
    """Answers window aggregates from a decision record; ``fallback`` (a live store, asked at the record's
    time minus 1 µs so the decided event itself is not counted) answers windows the record lacks."""

    def __init__(self, windows: list[Mapping[str, Any]], *, at: datetime | None = None,
                 fallback: VelocityStore | None = None):
        self._answers: dict[tuple, int | Decimal] = {}
        for w in windows:
            result = Decimal(str(w["result"]))
            value: int | Decimal = int(result) if w["function"] in ("count", "distinct") else result
            key = _window_key(w["function"], w["kind"], w["by"], w["value"], timedelta(seconds=int(w["within_s"])),
                              w.get("field"), w.get("include"))
            self._answers[key] = value
        self._at = at
        self._fallback = fallback

    def record(self, event: VelocityEvent) -> None:
        raise RuntimeError("a recorded decision is read-only")

    def aggregate(self, *, function: str, kind: str, by: str, value: str, within: timedelta, now: datetime,
                  field: str | None = None, include: str | None = None) -> int | Decimal:
        key = _window_key(function, kind, by, value, within, field, include)
        if key in self._answers:
            return self._answers[key]
        if self._fallback is None:
            raise LookupError(f"window {function}({kind}, by={by}, within={within}) was not recorded")
        at = (self._at or now) - _ONE_MICROSECOND
        return self._fallback.aggregate(function=function, kind=kind, by=by, value=value, within=within, now=at,
                                        field=field, include=include)


# --- facts as JSON and back ---------------------------------------------------------------------

def jsonable(value: Any) -> Any:
    """Facts as JSON: Decimal as text (exact), sets as sorted lists, dates as ISO text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


#: Facts stored as text that are text (everything else that parses as a number is a number).
_TEXT_FACTS = {"application": {"industry", "region", "province", "channel", "product", "gender"}}


def facts_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a decision record, ready for ``rules.engine.evaluate``: numbers as Decimal,
    lists as frozensets (the shape they had when the decision was made)."""
    stored = record.get("facts")
    if not isinstance(stored, Mapping):
        raise ValidationError("the decision record has no facts", code="invalid_decision_record", field="facts")
    facts: dict[str, Any] = {}
    for root, section in stored.items():
        if root == "findings":
            facts[root] = frozenset(section or ())
        elif root == "lists":
            facts[root] = {name: frozenset(values or ()) for name, values in (section or {}).items()}
        elif root == "keys" or section is None:
            facts[root] = section
        else:
            text_fields = _TEXT_FACTS.get(root, set())
            facts[root] = {name: _fact_value(value, name in text_fields) for name, value in section.items()}
    return facts


def _fact_value(value: Any, is_text: bool) -> Any:
    if isinstance(value, list):
        return frozenset(value)
    if is_text or not isinstance(value, str):
        return value
    try:
        number = Decimal(value)
    except ArithmeticError:
        return value
    return number if number.is_finite() else value
