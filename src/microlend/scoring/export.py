"""The scorecard as SQL: one expression that gives, row by row, exactly the points of the Python scorer,
on SQLite and PostgreSQL alike (tested on both).

Why it is exact: points are whole numbers, so the sum is integer arithmetic in any database; bin edges
are written as exact doubles (whole numbers, or an integer divided by a power of two, see
``number_literal``), so a ``double precision``/``REAL`` column compares with the same number Python does; the tests run in the same order as ``ScorecardModel``
(missing, special values, ranges by ``x < upper``). Conventions for the scored table: numeric features are
``double precision`` (PostgreSQL) or ``REAL``/``INTEGER`` (SQLite), categorical features are text, and
missing values are ``NULL``.
"""

from __future__ import annotations

import math

from microlend.scoring.model import SCORECARD_FORMAT


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def number_literal(value: float) -> str:
    """An SQL expression for exactly this double.

    Whole numbers are written as integers. Others are built as (integer mantissa) / (power of two),
    which both databases compute exactly: SQLite does not always read a decimal literal as the nearest
    double (it reads 0.0302665 one step high), so a decimal would move values lying on a bin edge.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value} in SQL")
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    mantissa, exponent = math.frexp(value)
    numerator, shift = int(mantissa * 2**53), 53 - exponent  # value = numerator / 2**shift, exactly
    while shift > 0 and numerator % 2 == 0:
        numerator //= 2
        shift -= 1
    if shift <= 0:
        return f"CAST({numerator * 2 ** -shift} AS DOUBLE PRECISION)"
    divisions = []
    while shift > 0:  # powers of two up to 2**62 fit a 64-bit integer literal
        step = min(shift, 62)
        divisions.append(f" / {2**step}")
        shift -= step
    return f"(CAST({numerator} AS DOUBLE PRECISION){''.join(divisions)})"


def _feature_case(feature: dict, column: str) -> str:
    bins = feature["bins"]
    points = [int(b["points"]) for b in bins]
    missing = next(i for i, b in enumerate(bins) if b["kind"] == "missing")
    parts = [f"WHEN {column} IS NULL THEN {points[missing]}"]
    if feature["type"] == "numeric":
        for i, b in enumerate(bins):
            if b["kind"] == "special":
                values = ", ".join(number_literal(v) for v in b["values"])
                parts.append(f"WHEN {column} IN ({values}) THEN {points[i]}")
        ranges = [i for i, b in enumerate(bins) if b["kind"] == "range"]
        for i in ranges[:-1]:
            parts.append(f"WHEN {column} < {number_literal(bins[i]['upper'])} THEN {points[i]}")
        otherwise = points[ranges[-1]]
    else:
        for i, b in enumerate(bins):
            if b["kind"] == "categories" and b["values"]:
                values = ", ".join(quote_text(v) for v in b["values"])
                parts.append(f"WHEN {column} IN ({values}) THEN {points[i]}")
        otherwise = points[int(feature["unseen_bin"])]
    return "CASE " + " ".join(parts) + f" ELSE {otherwise} END"


def score_expression(artifact: dict, *, columns: dict[str, str] | None = None, indent: str = "  ") -> str:
    """The score as one SQL expression; ``columns`` maps a feature to another column name."""
    if artifact.get("format") != SCORECARD_FORMAT:
        raise ValueError("only a scorecard can be written as SQL")
    columns = columns or {}
    terms = [str(int(artifact["base_points"]))]
    for feature in artifact["features"]:
        column = quote_identifier(columns.get(feature["name"], feature["name"]))
        terms.append(_feature_case(feature, column))  # the quoted column names say which feature is which
    return "(\n" + indent + f"\n{indent}+ ".join(terms) + "\n)"


def band_expression(artifact: dict, score_sql: str) -> str:
    parts = [f"WHEN {score_sql} >= {int(b['min_score'])} THEN {quote_text(b['band'])}"
             for b in artifact["bands"] if b["min_score"] is not None]
    last = artifact["bands"][-1]["band"]
    return "CASE " + " ".join(parts) + f" ELSE {quote_text(last)} END" if parts else quote_text(last)


def scorecard_sql(artifact: dict, *, table: str | None = None, key_columns: tuple[str, ...] = (),
                  columns: dict[str, str] | None = None) -> str:
    """Without ``table``: the score expression. With it: a query giving key columns, score and band."""
    expression = score_expression(artifact, columns=columns)
    if table is None:
        return expression
    keys = "".join(f"{quote_identifier(k)}, " for k in key_columns)
    inner = f"SELECT {keys}{expression} AS score\nFROM {quote_identifier(table)}"
    outer_keys = "".join(f"scored.{quote_identifier(k)}, " for k in key_columns)
    return (f"SELECT {outer_keys}scored.score, {band_expression(artifact, 'scored.score')} AS band\n"
            f"FROM (\n{inner}\n) AS scored")
