"""Velocity stores agree: the same scenarios (window edges to the microsecond, distinct,
exact Decimal sums, idempotent refs) on the in-memory store, the database (SQLite and,
when configured, PostgreSQL) and Redis (when MICROLEND_TEST_REDIS_URL is set), and a
property test that random histories give identical aggregates on all of them."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from microlend.errors import ValidationError
from microlend.rules.velocity import InMemoryVelocityStore, VelocityEvent
from microlend.rules.velocity_db import DatabaseVelocityStore
from microlend.rules.velocity_redis import RedisVelocityStore
from microlend.store.database import make_engine

PG_URL = os.environ.get("MICROLEND_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MICROLEND_TEST_REDIS_URL")
BACKENDS = ["memory", "sqlite"] + (["postgresql"] if PG_URL else []) + ["redis"]

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
H, D, W = timedelta(hours=1), timedelta(days=1), timedelta(days=7)


# --- fixtures: one store per backend ------------------------------------------------------

def _database_store(backend: str, request, tmp_path):
    """A store on the session's migrated databases (the templates behind ``db_url``)."""
    if backend == "sqlite":
        path = tmp_path / f"velocity-{uuid.uuid4().hex[:6]}.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
    else:
        engine = make_engine(request.getfixturevalue("postgres_url"))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM velocity_events"))
    request.addfinalizer(engine.dispose)
    return DatabaseVelocityStore(engine)


def _redis_store(request):
    if not REDIS_URL:
        pytest.skip("MICROLEND_TEST_REDIS_URL is not set")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"microlend-test:{uuid.uuid4().hex}"

    def flush():
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    request.addfinalizer(flush)
    return RedisVelocityStore(client, prefix=prefix)


def _make_store(backend: str, request, tmp_path):
    if backend == "memory":
        return InMemoryVelocityStore()
    if backend == "redis":
        return _redis_store(request)
    return _database_store(backend, request, tmp_path)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return _make_store(request.param, request, tmp_path)


def agg(store, function, by, value, within, *, kind="application", field=None, now=NOW):
    return store.aggregate(function=function, kind=kind, by=by, value=value, within=within, now=now, field=field)


def event(ago: timedelta, ref: str = "", kind: str = "application", amount: str | None = None, **keys):
    return VelocityEvent(kind=kind, at=NOW - ago, keys=keys, amount=None if amount is None else Decimal(amount),
                         ref=ref)


# --- the scenario battery ------------------------------------------------------------------

def test_count_windows_to_the_microsecond(store):
    offsets = [timedelta(0), H - US, H, 23 * H, D, 3 * D, W - US, W]
    for i, ago in enumerate(offsets):
        store.record(event(ago, ref=f"a{i}", id_number="id1", device="dev1"))
    store.record(event(timedelta(minutes=5), ref="other", id_number="id2", device="dev1"))
    # An event exactly `within` old is out; one at `now` is in.
    assert agg(store, "count", "id_number", "id1", H) == 2
    assert agg(store, "count", "id_number", "id1", D) == 4
    assert agg(store, "count", "id_number", "id1", W) == 7
    assert agg(store, "count", "device", "dev1", H) == 3
    # Moving `now` by one microsecond moves the edges with it.
    assert agg(store, "count", "id_number", "id1", H, now=NOW - US) == 2  # H-US and H in, 0 out (future)
    assert agg(store, "count", "id_number", "id1", H, now=NOW + US) == 1  # H-US drops out
    assert agg(store, "count", "id_number", "unknown", W) == 0
    assert agg(store, "count", "id_number", "id1", W, kind="drawdown") == 0


def test_a_future_event_is_not_counted(store):
    store.record(event(timedelta(0), ref="now", phone="p1"))
    store.record(event(-US, ref="later", phone="p1"))
    assert agg(store, "count", "phone", "p1", H) == 1
    assert agg(store, "count", "phone", "p1", H, now=NOW + US) == 2


def test_distinct_identities_per_device(store):
    store.record(event(10 * US, ref="1", id_number="A", device="d"))
    store.record(event(H - US, ref="2", id_number="B", device="d"))
    store.record(event(2 * H, ref="3", id_number="A", device="d"))
    store.record(event(2 * D, ref="4", id_number="C", device="d"))
    store.record(event(3 * H, ref="5", device="d"))  # no id_number: counted by count, not by distinct
    store.record(event(W, ref="6", id_number="E", device="d"))  # exactly 7 days old: out
    store.record(event(H, ref="7", id_number="Z", device="other"))
    assert agg(store, "distinct", "device", "d", H, field="id_number") == 2
    assert agg(store, "distinct", "device", "d", D, field="id_number") == 2
    assert agg(store, "distinct", "device", "d", W, field="id_number") == 3
    assert agg(store, "count", "device", "d", W) == 5
    assert agg(store, "distinct", "id_number", "A", W, field="device") == 1
    assert agg(store, "distinct", "id_number", "A", W, field="id_number") == 1
    assert agg(store, "distinct", "device", "nobody", W, field="id_number") == 0


def test_sum_and_max_of_amounts_are_exact_decimals(store):
    draw = dict(kind="drawdown", card="c1")
    store.record(event(timedelta(minutes=1), ref="d1", amount="0.10", **draw))
    store.record(event(timedelta(minutes=2), ref="d2", amount="0.20", **draw))
    store.record(event(timedelta(minutes=3), ref="d3", **draw))  # no amount: ignored by sum and max
    store.record(event(2 * H, ref="d4", amount="123456789012.34", **draw))
    store.record(event(D, ref="d5", amount="999.99", **draw))  # exactly a day old
    total = agg(store, "sum", "card", "c1", H, kind="drawdown", field="amount")
    assert total == Decimal("0.30") and isinstance(total, Decimal)
    assert agg(store, "max", "card", "c1", H, kind="drawdown", field="amount") == Decimal("0.20")
    assert agg(store, "sum", "card", "c1", D, kind="drawdown", field="amount") == Decimal("123456789012.64")
    assert agg(store, "max", "card", "c1", D, kind="drawdown", field="amount") == Decimal("123456789012.34")
    assert agg(store, "sum", "card", "c1", W, kind="drawdown", field="amount") == Decimal("123456790012.63")
    assert agg(store, "count", "card", "c1", H, kind="drawdown") == 3
    assert agg(store, "sum", "card", "none", W, kind="drawdown", field="amount") == 0
    assert agg(store, "max", "card", "none", W, kind="drawdown", field="amount") == 0


def test_recording_the_same_ref_again_counts_once(store):
    store.record(event(H / 2, ref="app-1", id_number="A", device="d", kind="drawdown", amount="100.00"))
    # A replay (even with other keys, time or amount) is ignored: the first write wins.
    store.record(event(H / 2, ref="app-1", id_number="A", device="d", kind="drawdown", amount="100.00"))
    store.record(event(H / 4, ref="app-1", id_number="B", device="d", phone="p", kind="drawdown", amount="5.00"))
    assert agg(store, "count", "device", "d", H, kind="drawdown") == 1
    assert agg(store, "distinct", "device", "d", H, kind="drawdown", field="id_number") == 1
    assert agg(store, "sum", "device", "d", H, kind="drawdown", field="amount") == Decimal("100.00")
    assert agg(store, "count", "phone", "p", H, kind="drawdown") == 0
    # The same ref of another kind is another event; events without a ref all count.
    store.record(event(H / 2, ref="app-1", id_number="A", device="d"))
    store.record(event(H / 2, id_number="A", device="d"))
    store.record(event(H / 2, id_number="A", device="d"))
    assert agg(store, "count", "device", "d", H) == 3
    assert agg(store, "count", "device", "d", H, kind="drawdown") == 1


def test_long_and_empty_key_values(store):
    long = "f" * 100
    store.record(event(H / 2, ref="1", device=long, id_number="A"))
    store.record(event(H / 3, ref="2", device=long, id_number="f" * 99 + "e", ip=""))
    assert agg(store, "count", "device", long, H) == 2
    assert agg(store, "distinct", "device", long, H, field="id_number") == 2
    assert agg(store, "count", "ip", "", H) == 0  # an empty key value is not recorded


def test_bad_requests_are_refused(store):
    with pytest.raises(ValidationError):
        store.record(VelocityEvent(kind="application", at=datetime(2026, 3, 10), keys={"phone": "p"}))
    store.record(event(H, ref="1", phone="p"))
    with pytest.raises(ValidationError):
        agg(store, "median", "phone", "p", H)
    if isinstance(store, InMemoryVelocityStore):
        return  # the database and Redis stores also refuse what they cannot keep exactly
    with pytest.raises(ValidationError):
        agg(store, "count", "phone", "p", W + US)
    with pytest.raises(ValidationError):
        agg(store, "sum", "phone", "p", H, field="phone")
    with pytest.raises(ValidationError):
        store.record(event(H, ref="2", kind="drawdown", amount="0.001", phone="p"))


def test_database_store_round_trips(request, tmp_path):
    """One INSERT per record and one SELECT per aggregate (no BEGIN/COMMIT on PostgreSQL)."""
    backend = "postgresql" if PG_URL else "sqlite"
    store = _database_store(backend, request, tmp_path)
    statements: list[str] = []
    from sqlalchemy import event as sa_event

    sa_event.listen(store._engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement.split()[0].upper()))
    store.record(event(H, ref="1", id_number="A", device="d", phone="p", ip="i", card="c"))
    store.record(event(H, id_number="A", device="d"))
    store.aggregate(function="distinct", kind="application", by="device", value="d", within=D, now=NOW,
                    field="id_number")
    assert [s for s in statements if s not in ("BEGIN", "SELECT 1")] == ["INSERT", "INSERT", "SELECT"]


# --- identical aggregates on random histories ----------------------------------------------

VALUES = st.sampled_from(["a", "b", "c"])
KEY_KINDS = ["id_number", "phone", "device", "ip", "card"]
# Offsets on a coarse grid, plus a microsecond either side, so window edges are hit often.
OFFSETS = st.builds(lambda hours, nudge: timedelta(hours=hours) + nudge * US,
                    st.integers(0, 24 * 9), st.sampled_from([-1, 0, 0, 0, 1]))
EVENTS = st.builds(
    lambda kind, keys, amount, ago, ref: VelocityEvent(
        kind=kind, at=NOW - ago, keys=keys, amount=amount, ref=ref),
    st.sampled_from(["application", "drawdown"]),
    st.dictionaries(st.sampled_from(KEY_KINDS), VALUES, min_size=1, max_size=5),
    st.one_of(st.none(), st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False,
                                     allow_infinity=False)),
    OFFSETS,
    st.one_of(st.just(""), st.sampled_from([f"r{i}" for i in range(12)])),
)


@pytest.fixture
def all_stores(request, tmp_path):
    stores = {backend: _make_store(backend, request, tmp_path) for backend in BACKENDS
              if backend != "redis" or REDIS_URL}
    return stores


def _reset(stores: dict) -> dict:
    fresh = {"memory": InMemoryVelocityStore()}
    for backend, store in stores.items():
        if isinstance(store, DatabaseVelocityStore):
            with store._engine.begin() as conn:
                conn.execute(text("DELETE FROM velocity_events"))
            fresh[backend] = store
        elif isinstance(store, RedisVelocityStore):
            # A fresh sub-prefix per example (flushed with the test's prefix at the end).
            fresh[backend] = RedisVelocityStore(store._client, prefix=f"{store._prefix}:{uuid.uuid4().hex[:8]}")
    return fresh


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(EVENTS, max_size=25), data=st.data())
def test_random_histories_give_identical_aggregates(all_stores, history, data):
    stores = _reset(all_stores)
    for e in history:
        for store in stores.values():
            store.record(e)
    latest = max((e.at for e in history), default=NOW)
    # Windows ending at or after the newest event (Redis trims what no such window can reach),
    # including those whose edge falls exactly on an event.
    nows = [latest, latest + H, NOW + D] + [e.at + w for e in history for w in (H, D, W) if e.at + w >= latest]
    for _ in range(12):
        now = data.draw(st.sampled_from(nows))
        function, field = data.draw(st.sampled_from(
            [("count", None), ("distinct", "id_number"), ("distinct", "device"), ("sum", "amount"),
             ("max", "amount")]))
        query = dict(function=function, field=field, kind=data.draw(st.sampled_from(["application", "drawdown"])),
                     by=data.draw(st.sampled_from(KEY_KINDS)), value=data.draw(VALUES),
                     within=data.draw(st.sampled_from([H, D, W])), now=now)
        results = {backend: store.aggregate(**query) for backend, store in stores.items()}
        assert len(set(results.values())) == 1, (query, results)


def test_distinct_counts_the_asker_on_every_store(all_stores):
    """``include``: the current event's own key counts as if present (a newcomer on a shared device is the
    second identity, and one already seen is not counted twice)."""
    from datetime import datetime, timedelta, timezone

    from microlend.rules.velocity import VelocityEvent

    now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    for name, store in all_stores.items():
        store.record(VelocityEvent(kind="application", at=now - timedelta(hours=1),
                                   keys={"device": f"dv-{name}", "id_number": "id-a"}, ref=f"r1-{name}"))
        ask = dict(function="distinct", kind="application", by="device", value=f"dv-{name}",
                   within=timedelta(days=1), now=now, field="id_number")
        assert store.aggregate(**ask) == 1, name
        assert store.aggregate(**ask, include="id-b") == 2, name
        assert store.aggregate(**ask, include="id-a") == 1, name
        assert store.aggregate(**{**ask, "value": f"dv-none-{name}"}, include="id-b") == 1, name
