"""Engines and sessions for SQLite and PostgreSQL.

SQLite: every writing transaction starts with ``BEGIN IMMEDIATE`` so that two
writers never both read the same credit-line balance and then both write (the
second waits, up to the busy timeout). Read-only units of work begin deferred
and, with WAL, read a snapshot beside the writer without waiting.
PostgreSQL: row locks (``SELECT ... FOR UPDATE``) in the repositories do it.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from microlend.store.mapping import start_mappers

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "microlend_read_only"
#: Execution options of a read-only unit of work (``Platform.reader``).
READ_ONLY = {READ_ONLY_OPTION: True}


def make_engine(url: str, **kwargs) -> Engine:
    start_mappers()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine, in_memory=":memory:" in url or url.rstrip("/") == "sqlite:")
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Readers take no lock up front (WAL gives them a snapshot); writers take the write lock.
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
