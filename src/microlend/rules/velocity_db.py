"""Velocity windows kept in the platform database (the default store).

Why this shape: a decision must stay fast on PostgreSQL, so recording an event is one
INSERT statement and every aggregate is one SELECT over the index
``(kind, key_kind, key_value, at)``. An event is stored as one row per key kind it
carries; the rows of one event share ``event_id`` (derived from the kind and ref),
which makes re-recording a ref a no-op and lets ``distinct`` join an event's ``by`` row
to its ``field`` row. Results equal :class:`~microlend.rules.velocity.InMemoryVelocityStore`
and the Redis store (tested).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import (
    Connection,
    Engine,
    Numeric,
    and_,
    bindparam,
    case,
    cast,
    delete,
    distinct,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from microlend.errors import ValidationError
from microlend.money import FEN
from microlend.rules.velocity import MAX_WINDOW, VelocityEvent, check_aggregate
from microlend.store.database import READ_ONLY
from microlend.store.tables import velocity_events as _t
from microlend.store.types import Money, UTCDateTime

#: Longest key value stored as given; longer ones are stored as their SHA-256 (hex, 64 characters).
KEY_VALUE_MAX = 64
_INSERT_COLUMNS = ("event_id", "kind", "key_kind", "key_value", "amount", "ref", "at")


def event_id(kind: str, ref: str) -> str:
    """The id grouping an event's rows: stable per (kind, ref), random when there is no ref."""
    if not ref:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{kind}\x00{ref}".encode()).hexdigest()


def stored_key_value(value: str) -> str:
    """A key value as stored: as given when it fits the column, else its SHA-256 (equality is kept)."""
    if len(value) <= KEY_VALUE_MAX:
        return value
    return hashlib.sha256(value.encode()).hexdigest()


def check_event(event: VelocityEvent) -> None:
    """Refuse an event the stores cannot keep exactly (shared with the Redis store)."""
    if event.at.tzinfo is None:
        raise ValidationError("velocity event time must be timezone-aware", code="invalid_event", field="at")
    if event.amount is not None:
        amount = Decimal(event.amount)
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(FEN):
            raise ValidationError(f"velocity event amount must be whole fen, at least 0, not {event.amount}",
                                  code="invalid_event", field="amount")


def check_window(within: timedelta, now: datetime) -> None:
    """Refuse a window the stores do not keep (longer than 7 days) or a naive ``now``."""
    if not timedelta(0) < within <= MAX_WINDOW:
        raise ValidationError(f"window must be more than 0 and at most 7 days, not {within}",
                              code="invalid_aggregate", field="within")
    if now.tzinfo is None:
        raise ValidationError("aggregate time must be timezone-aware", code="invalid_aggregate", field="now")


class DatabaseVelocityStore:
    """A :class:`~microlend.rules.velocity.VelocityStore` over the ``velocity_events`` table.

    ``record`` and ``aggregate`` run on their own connection (autocommit on PostgreSQL,
    so each is a single round trip) unless ``connection=`` is given, in which case they
    join the caller's transaction (an application recorded with its decision).
    """

    def __init__(self, engine: Engine):
        self._engine = engine
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database for velocity events: {self._dialect}")
        # PostgreSQL: one statement needs no BEGIN/COMMIT round trips.
        self._batches: dict[tuple, object] = {}  # aggregate_many's statements, one per shape
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT") \
            if self._dialect == "postgresql" else None

    # --- writing ---------------------------------------------------------------------------

    def record(self, event: VelocityEvent, *, connection: Connection | None = None) -> None:
        """Store ``event`` once per (kind, ref): a ref already stored is ignored (first write wins)."""
        check_event(event)
        statement = self._insert(event)
        if statement is None:
            return
        if connection is not None:
            connection.execute(statement)
        elif self._autocommit is not None:
            with self._autocommit.connect() as conn:
                conn.execute(statement)
        else:
            with self._engine.begin() as conn:
                conn.execute(statement)

    def _insert(self, event: VelocityEvent):
        keys = [(kind, value) for kind, value in event.keys.items() if value]
        if not keys:
            return None
        eid = event_id(event.kind, event.ref)
        at = event.at.astimezone(timezone.utc)
        amount = None if event.amount is None else Decimal(event.amount)
        ref = event.ref or None
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        if ref is None:
            # A fresh random event id: plain multi-row VALUES.
            rows = [{"event_id": eid, "kind": event.kind, "key_kind": key_kind,
                     "key_value": stored_key_value(value), "amount": amount, "ref": None, "at": at}
                    for key_kind, value in keys]
            return dialect_insert(_t).values(rows).on_conflict_do_nothing(index_elements=["event_id", "key_kind"])
        # INSERT ... SELECT <rows> WHERE NOT EXISTS (a row of this event): the whole event is
        # stored once even if a later call carries other keys; ON CONFLICT covers a race.
        amount_sql = literal(amount, Money())
        if self._dialect == "postgresql":  # a NULL or text parameter in a UNION needs its type spelled out
            amount_sql = cast(amount_sql, Numeric(18, 2))
        selects = [
            select(literal(eid, _t.c.event_id.type).label("event_id"),
                   literal(event.kind, _t.c.kind.type).label("kind"),
                   literal(key_kind, _t.c.key_kind.type).label("key_kind"),
                   literal(stored_key_value(value), _t.c.key_value.type).label("key_value"),
                   amount_sql.label("amount"),
                   literal(ref, _t.c.ref.type).label("ref"),
                   literal(at, UTCDateTime()).label("at"))
            for key_kind, value in keys
        ]
        rows = (union_all(*selects) if len(selects) > 1 else selects[0]).subquery("v")
        source = select(*[rows.c[name] for name in _INSERT_COLUMNS]).where(
            ~exists().where(_t.c.event_id == eid))
        return dialect_insert(_t).from_select(list(_INSERT_COLUMNS), source).on_conflict_do_nothing(
            index_elements=["event_id", "key_kind"])

    def prune(self, now: datetime, *, keep: timedelta = MAX_WINDOW) -> int:
        """Delete events no window can reach any more (``at <= now - keep``); returns the rows deleted."""
        with self._engine.begin() as conn:
            return conn.execute(delete(_t).where(_t.c.at <= now - keep)).rowcount

    # --- reading ---------------------------------------------------------------------------

    def aggregate(self, *, function: str, kind: str, by: str, value: str, within: timedelta, now: datetime,
                  field: str | None = None, include: str | None = None,
                  connection: Connection | None = None) -> int | Decimal:
        """``function`` over events of ``kind`` whose ``by`` key is ``value`` and ``now - within < at <= now``;
        ``include`` is counted by ``distinct`` as if present (see ``VelocityStore``)."""
        check_aggregate(function, kind, by, field)
        check_window(within, now)
        included = stored_key_value(include) if (function == "distinct" and include) else None
        statement = self._select(function, kind, by, stored_key_value(value), within, now, field, included)
        if connection is not None:
            result = _one(connection.execute(statement))
        elif self._autocommit is not None:
            with self._autocommit.connect() as conn:
                result = _one(conn.execute(statement))
        else:
            with self._engine.connect().execution_options(**READ_ONLY) as conn:
                result = _one(conn.execute(statement))
                conn.rollback()
        if function == "distinct" and included is not None:
            count, present = result
            return int(count) + (0 if present else 1)
        if function in ("count", "distinct"):
            return int(result)
        return Decimal(result).quantize(FEN)

    def aggregate_many(self, requests: list[dict], *, now: datetime,
                       connection: Connection | None = None) -> list[int | Decimal]:
        """Several aggregates (each a dict of ``aggregate``'s keywords but ``now``) in ONE statement: a
        decision asks for all its windows in a single round trip instead of one per window. The statement
        is built once per shape (functions, keys, windows) with bound values, then reused."""
        if not requests:
            return []
        now = now.astimezone(timezone.utc)
        check_window(MAX_WINDOW, now)
        shape, params = [], {"hi": now}
        for index, request in enumerate(requests):
            function, kind, by, field = request["function"], request["kind"], request["by"], request.get("field")
            check_aggregate(function, kind, by, field)
            check_window(request["within"], now)
            include = request.get("include")
            with_include = function == "distinct" and bool(include)
            shape.append((function, kind, by, field, with_include))
            params[f"v{index}"] = stored_key_value(request["value"])
            params[f"lo{index}"] = now - request["within"]
            if with_include:
                params[f"inc{index}"] = stored_key_value(include)
        query = self._batch_statement(tuple(shape))
        if connection is not None:
            row = connection.execute(query, params).one()
        else:
            with self._engine.connect().execution_options(**READ_ONLY) as conn:
                row = conn.execute(query, params).one()
                conn.rollback()
        results, position = [], 0
        for function, _, _, _, with_include in shape:
            if with_include:
                count, present = row[position], row[position + 1]
                results.append(int(count) + (0 if present else 1))
                position += 2
                continue
            value = row[position]
            position += 1
            results.append(int(value) if function in ("count", "distinct") else Decimal(value).quantize(FEN))
        return results

    def _batch_statement(self, shape: tuple):
        statement = self._batches.get(shape)
        if statement is None:
            hi = bindparam("hi", type_=_t.c.at.type)
            columns = []
            for index, (function, kind, by, field, with_include) in enumerate(shape):
                one = self._shape(function, kind, by, field, bindparam(f"v{index}", type_=_t.c.key_value.type),
                                  bindparam(f"lo{index}", type_=_t.c.at.type), hi,
                                  bindparam(f"inc{index}", type_=_t.c.key_value.type) if with_include else None)
                if with_include:  # count and "the asker is among them" as two scalar columns
                    columns += [one.with_only_columns(one.selected_columns[0]).scalar_subquery(),
                                one.with_only_columns(one.selected_columns[1]).scalar_subquery()]
                else:
                    columns.append(one.scalar_subquery())
            statement = self._batches[shape] = select(*columns)
        return statement

    def _select(self, function: str, kind: str, by: str, value: str, within: timedelta, now: datetime,
                field: str | None, included: str | None = None):
        now = now.astimezone(timezone.utc)
        return self._shape(function, kind, by, field, value, now - within, now, included)

    @staticmethod
    def _shape(function: str, kind: str, by: str, field: str | None, value, lo, hi, included=None):
        """The aggregate over ``lo < at <= hi``; values may be Python values or bound parameters."""
        a = _t.alias("a") if function == "distinct" else _t
        window = and_(a.c.kind == kind, a.c.key_kind == by, a.c.key_value == value, a.c.at > lo, a.c.at <= hi)
        if function == "count":
            return select(func.count()).select_from(a).where(window)
        if function == "distinct":
            b = _t.alias("b")
            joined = a.join(b, and_(b.c.event_id == a.c.event_id, b.c.key_kind == field))
            if included is None:
                return select(func.count(distinct(b.c.key_value))).select_from(joined).where(window)
            present = func.coalesce(func.max(case((b.c.key_value == included, 1), else_=0)), 0)
            return select(func.count(distinct(b.c.key_value)), present).select_from(joined).where(window)
        aggregate = func.sum(a.c.amount) if function == "sum" else func.max(a.c.amount)
        return select(func.coalesce(aggregate, literal(Decimal(0), Money()))).where(window)


def _one(result):
    """The single value of a one-column row, or the whole row when it has more columns."""
    row = result.one()
    return row[0] if len(row) == 1 else tuple(row)
