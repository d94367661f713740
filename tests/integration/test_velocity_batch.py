"""``DatabaseVelocityStore.aggregate_many`` (every window of a decision in one statement) answers exactly
what ``aggregate`` answers one by one, on SQLite and PostgreSQL, including window edges, ``distinct``
with the asker counted, and sums; the statement is built once per shape and reused."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from test_velocity_stores import NOW, US, _database_store, event

D, H, W = timedelta(days=1), timedelta(hours=1), timedelta(days=7)
BACKENDS = ["sqlite"] + (["postgresql"] if __import__("os").environ.get("MICROLEND_TEST_DATABASE_URL") else [])


@pytest.fixture(params=BACKENDS)
def db_store(request, tmp_path):
    return _database_store(request.param, request, tmp_path)


def _requests(rng: random.Random) -> list[dict]:
    out = []
    for _ in range(rng.randrange(1, 9)):
        function = rng.choice(["count", "distinct", "sum", "max"])
        kind = "drawdown" if function in ("sum", "max") else rng.choice(["application", "drawdown"])
        by = rng.choice(["id_number", "phone", "device"])
        field = {"distinct": rng.choice(["id_number", "device"]), "sum": "amount", "max": "amount"}.get(function)
        include = rng.choice([None, "id-1", "id-9", "dev-2"]) if function == "distinct" else None
        out.append({"function": function, "kind": kind, "by": by, "value": rng.choice(["id-1", "ph-1", "dev-1",
                                                                                       "dev-2", "nobody"]),
                    "within": rng.choice([H, D, W, timedelta(minutes=30)]), "field": field, "include": include})
    return out


def test_a_batch_answers_exactly_what_each_aggregate_answers(db_store):
    rng = random.Random(7)
    for n in range(60):
        ago = rng.choice([US, H - US, H, H + US, D, W - US, W, 3 * H, 0 * H])
        db_store.record(event(ago, ref=f"e{n}", kind=rng.choice(["application", "drawdown"]),
                              amount=str(Decimal(rng.randrange(100, 90000)) / 100),
                              id_number=rng.choice(["id-1", "id-2", "id-9"]), phone=rng.choice(["ph-1", "ph-2"]),
                              device=rng.choice(["dev-1", "dev-2"])))
    for _ in range(40):
        requests = _requests(rng)
        one_by_one = [db_store.aggregate(now=NOW, **r) for r in requests]
        assert db_store.aggregate_many(requests, now=NOW) == one_by_one, requests


def test_the_statement_is_built_once_per_shape(db_store):
    request = {"function": "count", "kind": "application", "by": "phone", "value": "ph-1", "within": H,
               "field": None, "include": None}
    db_store.record(event(H / 2, ref="x", phone="ph-1"))
    assert db_store.aggregate_many([request], now=NOW) == [1]
    assert db_store.aggregate_many([{**request, "value": "ph-2"}], now=NOW) == [0]
    assert len(db_store._batches) == 1
    assert db_store.aggregate_many([], now=NOW) == []
