"""The model registry on SQLite and PostgreSQL: artifacts read back exactly as stored, versions
per name, one champion (also against direct SQL and concurrent promotions), the audit trail,
retirement rules and refused artifacts.

The scorecard here is written by hand after the artifact spec: base score 600 at odds 50,
20 points to double the odds (factor 20 / ln 2, offset 600 - factor x ln 50), intercept -1.2
(base points 522), and bin points -factor x coefficient x WoE rounded to whole points.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import threading

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.services import models
from microlend.store.tables import model_events, model_versions

FACTOR = 20 / math.log(2)
OFFSET = 600 - FACTOR * math.log(50)


def scorecard(fingerprint: str = "sha256:" + "ab" * 32, auc: float = 0.71) -> dict:
    """A small valid scorecard artifact: score 522 + income points + home points (496 to 544)."""
    def rng(lower, upper, label, count, events, woe, points):
        return {"kind": "range", "lower": lower, "upper": upper, "label": label, "count": count, "events": events,
                "woe": woe, "points": points}

    def cats(values, label, count, events, woe, points):
        return {"kind": "categories", "values": values, "label": label, "count": count, "events": events,
                "woe": woe, "points": points}

    return {
        "format": "microlend.scorecard", "format_version": 1, "kind": "scorecard",
        "created_at": "2026-11-27T07:00:00+00:00",
        "target": {"column": "target", "bad": 1},
        "training": {"rows": 1000, "bads": 200, "fingerprint": fingerprint, "columns": ["income", "home", "target"]},
        "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20, "factor": FACTOR, "offset": OFFSET,
                    "rounding": "ROUND_HALF_EVEN to whole points"},
        "intercept": -1.2, "base_points": 522,
        "features": [
            {"name": "income", "type": "numeric", "coefficient": -0.9, "iv": 0.3, "trend": "ascending",
             "bins": [rng(None, 100.0, "< 100", 400, 120, -0.7, -18),
                      rng(100.0, None, ">= 100", 500, 50, 0.5, 13),
                      {"kind": "special", "values": [-1], "label": "Special", "count": 50, "events": 15,
                       "woe": -0.2, "points": -5},
                      {"kind": "missing", "label": "Missing", "count": 50, "events": 15, "woe": -0.3,
                       "points": -8}]},
            {"name": "home", "type": "categorical", "unseen": "worst", "unseen_bin": 1, "coefficient": -0.8, "iv": 0.12,
             "bins": [cats(["own"], "own", 450, 60, 0.4, 9),
                      cats(["rent", "other"], "rent, other", 520, 130, -0.35, -8),
                      {"kind": "missing", "label": "Missing", "count": 30, "events": 10, "woe": -0.1,
                       "points": -2}]},
        ],
        "bands": [{"band": "A", "min_score": 560}, {"band": "B", "min_score": 540}, {"band": "C", "min_score": 520},
                  {"band": "D", "min_score": 500}, {"band": "E", "min_score": None}],
        "development": {"score_edges": [500, 505, 510, 515, 520, 525, 530, 535, 540],
                        "score_counts": [100, 100, 100, 100, 100, 100, 100, 100, 100, 100],
                        "metrics": {"auc": auc, "gini": round(2 * auc - 1, 6), "ks": 0.33}},
        "selection": [{"name": "debt", "iv": 0.004, "selected": False, "reason": "iv_below_threshold"}],
        "notes": ["column 'rownames' dropped: looks like an identifier", "收入 in CNY", 0.1 + 0.2],
    }


def challenger_artifact() -> dict:
    return {"format": "microlend.challenger", "format_version": 1, "kind": "challenger",
            "training": {"rows": 1000, "bads": 200, "fingerprint": "sha256:" + "cd" * 32},
            "development": {"metrics": {"auc": 0.74}}, "bands": [{"band": "A", "min_score": None}],
            "booster": "tree\nversion=v4\n"}


@pytest.fixture
def reg(platform):
    """register / promote / retire bound to the test platform."""
    models.clear_cache()

    class Registry:
        def register(self, artifact=None, name="default", actor="test"):
            return models.register(uow=platform.uow(), artifact=artifact or scorecard(), name=name, actor=actor,
                                   clock=platform.clock)

        def promote(self, version, name="default", note=None, actor="admin:test"):
            return models.promote(uow=platform.uow(), name=name, version=version, actor=actor,
                                  clock=platform.clock, note=note)

        def retire(self, version, name="default", note=None):
            return models.retire(uow=platform.uow(), name=name, version=version, actor="admin:test",
                                 clock=platform.clock, note=note)

        def get(self, version, name="default"):
            return models.get(platform.reader(), name, version)

        def champion(self):
            return models.champion(platform.reader())

    yield Registry()
    models.clear_cache()


def _roles(platform) -> dict[tuple[str, int], str]:
    with platform.engine.connect() as conn:
        rows = conn.execute(select(model_versions.c.name, model_versions.c.version, model_versions.c.role))
        return {(r.name, r.version): r.role for r in rows}


def _at_once(*calls) -> list[str]:
    """Run the calls in threads released together; the codes (or reprs) of what they raised."""
    errors, barrier = [], threading.Barrier(len(calls))

    def work(call):
        barrier.wait()
        try:
            call()
        except ConflictError as exc:
            errors.append(exc.code)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_round_trip_reads_back_exactly_what_was_stored(platform, reg, clock):
    artifact = scorecard()
    original = copy.deepcopy(artifact)
    record = reg.register(artifact, actor="risk officer")
    assert (record.name, record.version, record.kind, record.role, record.format) == (
        "default", 1, "scorecard", "challenger", "microlend.scorecard")
    assert record.fingerprint == "sha256:" + "ab" * 32
    assert record.metrics == {"auc": 0.71, "gini": 0.42, "ks": 0.33}
    assert record.created_at == clock.now() and record.created_at.tzinfo is not None
    assert record.created_by == "risk officer" and record.promoted_at is None and record.promoted_by is None
    assert artifact == original  # registering does not touch the caller's dict

    got = reg.get(1)
    assert got.artifact == original
    assert list(got.artifact) == list(original)  # key for key, in the order given
    for key in original:
        assert got.artifact[key] == original[key], key
    assert json.dumps(got.artifact, ensure_ascii=False) == json.dumps(original, ensure_ascii=False)
    assert got.artifact["notes"][1:] == ["收入 in CNY", 0.1 + 0.2]  # text as is, floats exact
    assert got.created_at == clock.now() and got.created_at.tzinfo is not None

    with platform.engine.connect() as conn:
        row = conn.execute(select(model_versions)).mappings().one()
    assert row["artifact"] == json.dumps(original, ensure_ascii=False)  # readable JSON, not pickle
    assert json.loads(row["artifact"]) == original
    assert row["digest"] == hashlib.sha256(row["artifact"].encode()).hexdigest() == record.digest
    assert json.loads(row["metrics"]) == original["development"]["metrics"]
    assert [(e.event, e.actor, e.note) for e in got.events] == [("registered", "risk officer", None)]
    assert got.events[0].at == clock.now()


def test_versions_count_up_per_name(platform, reg):
    assert [reg.register().version for _ in range(3)] == [1, 2, 3]
    assert reg.register(name="risk.v2-b").version == 1
    assert reg.register(name="risk.v2-b").version == 2
    listed = models.list_models(platform.reader())
    assert [(r.name, r.version) for r in listed] == [
        ("default", 1), ("default", 2), ("default", 3), ("risk.v2-b", 1), ("risk.v2-b", 2)]
    assert all(r.artifact is None for r in listed)  # the list carries no artifacts
    assert [r.version for r in models.list_models(platform.reader(), name="risk.v2-b")] == [1, 2]
    assert models.latest(platform.reader(), "default").version == 3


def test_concurrent_registrations_get_distinct_versions(platform, reg):
    assert _at_once(*[reg.register] * 4) == []
    assert sorted(v for _, v in _roles(platform)) == [1, 2, 3, 4]


def test_promote_demotes_the_old_champion_and_writes_the_trail(platform, reg, clock):
    reg.register()
    reg.register(scorecard(auc=0.75))
    assert reg.champion() is None
    first = reg.promote(1, note="first model")
    assert (first.role, first.promoted_by, first.promoted_at) == ("champion", "admin:test", clock.now())
    assert reg.champion().version == 1

    clock.advance()
    second = reg.promote(2, note="better AUC")
    assert second.role == "champion" and second.promoted_at == clock.now()
    assert _roles(platform) == {("default", 1): "challenger", ("default", 2): "champion"}
    assert reg.champion().id == second.id

    assert [(e.event, e.note) for e in reg.get(1).events] == [
        ("registered", None), ("promoted", "first model"), ("demoted", "replaced by default v2: better AUC")]
    assert [(e.event, e.actor, e.note) for e in reg.get(2).events] == [
        ("registered", "test", None), ("promoted", "admin:test", "better AUC")]

    again = reg.promote(2)  # already the champion: nothing changes, nothing is written
    assert again.role == "champion" and again.promoted_at == second.promoted_at
    assert len(reg.get(2).events) == 2

    back = reg.promote(1)  # a demoted model can come back
    assert back.role == "champion"
    assert _roles(platform) == {("default", 1): "champion", ("default", 2): "challenger"}
    with platform.engine.connect() as conn:
        assert conn.execute(select(model_events.c.event).order_by(model_events.c.id)).scalars().all() == [
            "registered", "registered", "promoted", "demoted", "promoted", "demoted", "promoted"]


def test_one_champion_across_names(platform, reg):
    reg.register()
    reg.register(name="other")
    reg.promote(1)
    reg.promote(1, name="other")
    assert _roles(platform) == {("default", 1): "challenger", ("other", 1): "champion"}


def test_a_challenger_kind_model_can_be_the_champion(platform, reg, monkeypatch):
    # The hand-written challenger is no real LightGBM model: check the registry rules without loading it.
    monkeypatch.setattr(models, "_loader", lambda: None)
    record = reg.register(challenger_artifact(), name="gbm")
    assert (record.kind, record.format, record.metrics) == ("challenger", "microlend.challenger", {"auc": 0.74})
    assert reg.promote(1, name="gbm").role == "champion"
    assert reg.get(1, name="gbm").artifact == challenger_artifact()


def test_the_database_refuses_a_second_champion(platform, reg, clock):
    reg.register()
    reg.register()
    reg.promote(1)
    row = {"name": "rogue", "version": 1, "kind": "scorecard", "role": "champion", "format": "microlend.scorecard",
           "artifact": "{}", "digest": "0" * 64, "created_at": clock.now(), "created_by": "sql"}
    with platform.engine.connect() as conn:
        with pytest.raises(IntegrityError):
            conn.execute(insert(model_versions).values(**row))
        conn.rollback()
        with pytest.raises(IntegrityError):
            conn.execute(update(model_versions).where(model_versions.c.version == 2).values(role="champion"))
        conn.rollback()
        with pytest.raises(IntegrityError):  # an unknown role is refused too
            conn.execute(update(model_versions).where(model_versions.c.version == 2).values(role="boss"))
        conn.rollback()
    assert _roles(platform) == {("default", 1): "champion", ("default", 2): "challenger"}


@pytest.mark.parametrize("advisory_lock", [True, False], ids=["locked", "index_only"])
def test_concurrent_promotions_leave_exactly_one_champion(platform, reg, monkeypatch, advisory_lock):
    """Four promotions at once, five times over. With the registry lock (PostgreSQL) they run one
    after the other and all succeed; without it, the unique index is the backstop and a loser gets
    409 ``champion_conflict``, never a 500. Either way: exactly one champion."""
    if not advisory_lock:
        monkeypatch.setattr(models, "_lock_registry", lambda uow: None)
    for _ in range(4):
        reg.register()
    for round_ in range(5):
        note = f"round {round_}"
        errors = _at_once(*[functools.partial(reg.promote, v, note=note) for v in (1, 2, 3, 4)])
        if advisory_lock:
            assert errors == []
        assert set(errors) <= {"champion_conflict"}, errors
        champions = [k for k, role in _roles(platform).items() if role == "champion"]
        assert len(champions) == 1, champions
        # every promotion that went through demoted the champion it replaced
        with platform.engine.connect() as conn:
            events = conn.execute(select(model_events.c.event)).scalars().all()
        assert events.count("promoted") - events.count("demoted") == 1


def test_retire_rules(platform, reg):
    reg.register()
    reg.register()
    reg.promote(1)
    with pytest.raises(ConflictError) as exc:
        reg.retire(1)
    assert (exc.value.code, exc.value.field) == ("champion_cannot_be_retired", "version")

    retired = reg.retire(2, note="worse on new data")
    assert retired.role == "retired"
    assert [(e.event, e.note) for e in reg.get(2).events][-1] == ("retired", "worse on new data")
    assert reg.retire(2).role == "retired"  # again: nothing changes
    assert len(reg.get(2).events) == 2

    with pytest.raises(ConflictError) as exc:
        reg.promote(2)
    assert exc.value.code == "model_retired"
    assert _roles(platform) == {("default", 1): "champion", ("default", 2): "retired"}
    assert reg.register().version == 3  # retired versions keep their numbers


def _without(path: str) -> dict:
    artifact = scorecard()
    *parents, last = path.split(".")
    target = artifact
    for key in parents:
        target = target[key]
    del target[last]
    return artifact


def _with(**changes) -> dict:
    return {**scorecard(), **changes}


@pytest.mark.parametrize("artifact, field", [
    ([1, 2], "artifact"),
    ("scorecard", "artifact"),
    (_with(format="pickle"), "artifact.format"),
    (_without("format"), "artifact.format"),
    (_with(format_version=2), "artifact.format_version"),
    (_with(format_version=True), "artifact.format_version"),
    (_with(kind="challenger"), "artifact.kind"),
    (_without("features"), "artifact.features"),
    (_with(features=[]), "artifact.features"),
    (_with(features=[{"name": "x"}]), "artifact.features[0]"),
    (_without("bands"), "artifact.bands"),
    (_without("training"), "artifact.training"),
    (_without("training.fingerprint"), "artifact.training.fingerprint"),
    (_without("development"), "artifact.development"),
    (_without("development.metrics"), "artifact.development.metrics"),
    (_with(intercept=float("nan")), "artifact"),
    (_with(intercept=float("inf")), "artifact"),
    ({"format": "microlend.challenger", "format_version": 1, "training": {"fingerprint": "x"}}, "artifact.development"),
])
def test_bad_artifacts_are_refused(platform, reg, artifact, field):
    with pytest.raises(ValidationError) as exc:
        reg.register(artifact)
    assert (exc.value.code, exc.value.field) == ("invalid_model_artifact", field), exc.value.message
    assert _roles(platform) == {}


def test_bad_names_versions_and_unknown_models(platform, reg):
    for name in ("", "champion", "1abc", "has space", "x" * 65, "a/b"):
        with pytest.raises(ValidationError) as exc:
            reg.register(name=name)
        assert exc.value.code == "invalid_model_name", name
    with pytest.raises(ValidationError) as exc:
        reg.register(actor=" ")
    assert exc.value.code == "missing_field"
    reg.register()
    for call in (lambda: reg.get(2), lambda: reg.promote(2), lambda: reg.retire(2), lambda: reg.get(1, "nope")):
        with pytest.raises(NotFoundError) as exc:
            call()
        assert (exc.value.code, exc.value.field) == ("model_not_found", "version")
    with pytest.raises(NotFoundError) as exc:
        models.latest(platform.reader(), "nope")
    assert (exc.value.code, exc.value.field) == ("model_not_found", "name")
    with pytest.raises(ValidationError) as exc:
        reg.get(0)
    assert exc.value.code == "invalid_model_version"
    with pytest.raises(ValidationError) as exc:
        reg.promote(1, note="x" * 1001)
    assert exc.value.code == "invalid_note"


def test_no_champion(platform, reg):
    reg.register()
    assert reg.champion() is None
    for call in (lambda: models.champion_model(platform.reader()),
                 lambda: models.score(uow=platform.reader(), applicant={"income": 1})):
        with pytest.raises(ConflictError) as exc:
            call()
        assert exc.value.code == "no_champion"


def test_an_artifact_changed_outside_the_registry_is_not_scored(platform, reg):
    reg.register()
    reg.promote(1)
    with platform.engine.begin() as conn:
        conn.execute(update(model_versions).values(artifact=json.dumps(scorecard(auc=0.99))))
    models.clear_cache()
    with pytest.raises(ConflictError) as exc:
        models.champion_model(platform.reader())
    assert exc.value.code == "model_artifact_altered"


# --- with the scoring engine (microlend.scoring.artifact) ----------------------------------------------

def test_the_champion_is_loaded_once_and_scores(platform, reg):
    pytest.importorskip("microlend.scoring.artifact")
    reg.register()
    reg.register(scorecard(auc=0.8))
    reg.promote(1)
    models.clear_cache()
    first = models.champion_model(platform.reader())
    assert models.champion_model(platform.reader()) is first  # cached: not re-parsed per call
    good = models.score(uow=platform.reader(), applicant={"income": 150, "home": "own"})
    assert (good.model.version, good.score, good.band) == (1, 544, "B")  # 522 + 13 + 9
    assert good.pd == pytest.approx(1 / (1 + math.exp((544 - OFFSET) / FACTOR)), abs=0.01)
    bad = models.score(uow=platform.reader(), applicant={"income": 50, "home": "rent"}, reasons=2)
    assert (bad.score, bad.band) == (496, "E")  # 522 - 18 - 8
    assert [r["feature"] for r in bad.reasons] == ["income", "home"]  # income costs 31 points, home 17
    assert bad.reasons[0] == {"feature": "income", "label": "< 100", "points": -18, "points_lost": 31,
                              "contribution": None}

    reg.promote(2)
    assert models.champion_model(platform.reader()) is not first
    assert models.score(uow=platform.reader(), applicant={"income": 150, "home": "own"}).model.version == 2
