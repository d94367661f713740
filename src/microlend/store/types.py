"""Column types that keep money exact on both databases.

PostgreSQL has an exact NUMERIC; SQLite does not (it stores NUMERIC as a
float). On SQLite, money is stored as an integer count of fen (so SQL sums stay
exact) and finer decimals (rates, unrounded accruals) as text.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from microlend.money import FEN


class Money(TypeDecorator[Decimal]):
    """An amount in whole fen: NUMERIC(18, 2) on PostgreSQL, integer fen on SQLite."""

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        if value != value.quantize(FEN):
            raise ValueError(f"money column got a sub-fen amount: {value}")
        if dialect.name == "sqlite":
            return int(value * 100)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(FEN)
        return Decimal(value).quantize(FEN)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal with up to ``scale`` places: NUMERIC on PostgreSQL, text on SQLite."""

    impl = Numeric(30, 12)
    cache_ok = True

    def __init__(self, precision: int = 30, scale: int = 12):
        super().__init__()
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        if dialect.name == "sqlite":
            return format(value, "f")
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(value) if not isinstance(value, Decimal) else value


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
