"""Updating many rows at once by key: one array-driven statement on PostgreSQL, executemany on SQLite.

The close of business writes back thousands of rows per chunk; an ORM flush or a
plain executemany is one round trip per row on PostgreSQL, ``UPDATE … FROM unnest(…)``
is one for all of them. Values go through the columns' own types (Money, ExactDecimal).
"""

from __future__ import annotations

from sqlalchemy import Date, DateTime, Integer, String, Table, and_, bindparam, text, update
from sqlalchemy.orm import Session

from microlend.store.types import ExactDecimal, Money


def _pg_array_type(column) -> str:
    kind = column.type
    if isinstance(kind, (Money, ExactDecimal)):
        return "numeric"
    kind = getattr(kind, "impl", kind)  # other decorated types by what they store
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, String):
        return "text"
    raise TypeError(f"no array type for column {column.name} ({kind!r})")


def bulk_update(session: Session, table: Table, keys: tuple[str, ...], columns: tuple[str, ...],
                rows: list[dict]) -> None:
    """Set ``columns`` of the rows identified by ``keys`` (each dict holds both)."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        names = [*keys, *columns]
        arrays = ", ".join(f"CAST(:v{n} AS {_pg_array_type(table.c[c])}[])" for n, c in enumerate(names))
        aliases = ", ".join(f"c{n}" for n in range(len(names)))
        assignments = ", ".join(f'"{c}" = v.c{len(keys) + n}' for n, c in enumerate(columns))
        matches = " AND ".join(f'{table.name}."{k}" = v.c{n}' for n, k in enumerate(keys))
        statement = text(f"UPDATE {table.name} SET {assignments} FROM unnest({arrays}) AS v({aliases}) "
                         f"WHERE {matches}")
        params = {}
        for n, name in enumerate(names):
            processor = table.c[name].type.bind_processor(session.get_bind().dialect)
            values = [row[name] for row in rows]
            params[f"v{n}"] = [processor(v) for v in values] if processor else values
        session.execute(statement, params)
        return
    statement = update(table).where(and_(*(table.c[k] == bindparam(f"k_{k}", type_=table.c[k].type)
                                           for k in keys))).values(
        {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns})
    session.execute(statement, [{**{f"k_{k}": row[k] for k in keys}, **{f"v_{c}": row[c] for c in columns}}
                                for row in rows])
