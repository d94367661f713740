"""The gradient-boosting challenger: scikit-learn conventions, the JSON artifact round trip, monotone
constraints, reasons, categorical/missing/unseen handling and refused input."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.utils.estimator_checks import parametrize_with_checks

from microlend.errors import ValidationError
from microlend.scoring.challenger import Challenger
from microlend.scoring.challenger_model import ChallengerModel

TARGET = {"column": "Status", "bad": "bad"}


def fast(**params) -> Challenger:
    """A quick challenger for tests: fewer, larger steps and one thread."""
    base = {"n_estimators": 300, "learning_rate": 0.1, "min_child_samples": 20, "early_stopping_rounds": 30,
            "n_jobs": 1, "target": TARGET}
    return Challenger(**{**base, **params})


def credit_frame(n: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Risk rises with debt_ratio, falls with income, is higher for renters; gaps in income and home."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.0, 0.5, n)
    debt_ratio = rng.uniform(0.0, 1.0, n)
    age = rng.integers(18, 70, n).astype(float)
    home = rng.choice(["owner", "rent", "parents"], n)
    logit = -1.0 + 6.0 * (debt_ratio - 0.5) - 1.0 * (np.log(income) - 8.0) + np.where(home == "rent", 0.8, 0.0)
    status = np.where(rng.uniform(size=n) < expit(logit), "bad", "good")
    frame = pd.DataFrame({"income": income, "debt_ratio": debt_ratio, "age": age, "home": home.astype(object)})
    frame.loc[rng.uniform(size=n) < 0.1, "income"] = np.nan
    frame.loc[rng.uniform(size=n) < 0.05, "home"] = None
    return frame, pd.Series(status, name="Status")


@pytest.fixture(scope="module")
def data():
    return credit_frame()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return fast().fit(X, y)


# ---------------------------------------------------------------------------------------------- scikit-learn


@parametrize_with_checks([Challenger(n_estimators=20, n_jobs=1)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_classes_probabilities_and_log_odds_of_bad(fitted, data):
    X, _ = data
    assert list(fitted.classes_) == ["bad", "good"] and fitted.bad_class_ == "bad"
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(expit(fitted.decision_function(X)), proba[:, 0])
    assert set(fitted.predict(X)) <= {"bad", "good"}
    assert list(fitted.feature_names_in_) == ["income", "debt_ratio", "age", "home"]
    assert fitted.n_features_in_ == 4 and fitted.best_iteration_ >= 1


def test_default_bad_class_is_the_second_class(data):
    X, y = data
    model = fast(target=None).fit(X, (y == "bad").astype(int))
    assert model.bad_class_ == 1 and model.target_ == {"column": "Status", "bad": 1}
    np.testing.assert_allclose(expit(model.decision_function(X)), model.predict_proba(X)[:, 1])


def test_training_is_deterministic_whatever_the_threads(data):
    X, y = data
    one = fast(n_estimators=40, validation_fraction=None).fit(X, y)
    again = fast(n_estimators=40, validation_fraction=None).fit(X, y)
    two = fast(n_estimators=40, validation_fraction=None, n_jobs=2).fit(X, y)
    assert one.booster_.model_to_string() == again.booster_.model_to_string()
    np.testing.assert_array_equal(one.decision_function(X), two.decision_function(X))


# ---------------------------------------------------------------------------------------------- artifact


def test_artifact_json_round_trip_gives_identical_predictions(fitted, data):
    X, _ = data
    artifact = json.loads(json.dumps(fitted.to_artifact(), allow_nan=False))
    model = ChallengerModel.from_artifact(artifact)
    batch = model.score_frame(X)
    np.testing.assert_array_equal(batch.pd, fitted.predict_proba(X)[:, 0])
    np.testing.assert_array_equal(batch.score, fitted.model_.score_frame(X).score)
    assert batch.score.dtype == np.int64 and set(batch.band) <= set("ABCDE")
    for i in (0, 7, 42):
        decision = model.score_one(X.iloc[i].to_dict())
        assert (decision.score, decision.pd, decision.band) == (batch.score[i], batch.pd[i], batch.band[i])
        assert json.loads(json.dumps(decision.to_dict()))["score"] == decision.score
    assert model.feature_names == ["income", "debt_ratio", "age", "home"] and model.bands == artifact["bands"]


def test_artifact_contents(fitted, data):
    X, y = data
    a = fitted.to_artifact()
    assert (a["format"], a["format_version"], a["kind"]) == ("microlend.challenger", 1, "challenger")
    assert datetime.fromisoformat(a["created_at"]).utcoffset().total_seconds() == 0
    assert a["target"] == TARGET
    assert a["training"]["rows"] == len(X) and a["training"]["bads"] == int((y == "bad").sum())
    assert a["training"]["fingerprint"].startswith("sha256:") and a["training"]["columns"] == list(X.columns)
    home = next(f for f in a["features"] if f["name"] == "home")
    assert home["type"] == "categorical" and home["categories"] == ["owner", "parents", "rent"]
    assert [f["type"] for f in a["features"]] == ["numeric", "numeric", "numeric", "categorical"]
    assert a["scaling"]["base_score"] == 600 and a["scaling"]["pdo"] == 20 and a["scaling"]["base_odds"] == 50
    assert [b["band"] for b in a["bands"]] == list("ABCDE") and a["bands"][-1]["min_score"] is None
    dev = a["development"]
    assert len(dev["score_counts"]) == len(dev["score_edges"]) + 1 and sum(dev["score_counts"]) == len(X)
    assert 0.5 < dev["metrics"]["auc"] <= 1 and dev["metrics"]["gini"] == pytest.approx(2 * dev["metrics"]["auc"] - 1)
    assert a["best_iteration"] == fitted.best_iteration_ and a["booster"].startswith("tree")
    score = fitted.model_.score_frame(X).score
    share_a = np.mean(score >= a["bands"][0]["min_score"])
    assert 0.15 < share_a < 0.25  # about the top fifth (whole-point cut-offs and ties)


def test_fingerprint_follows_the_data_and_target_can_be_set_later(data):
    X, y = data
    first = fast(n_estimators=5, validation_fraction=None, target=None).fit(X, y)
    changed = X.copy()
    changed.loc[0, "age"] += 1
    second = fast(n_estimators=5, validation_fraction=None, target=None).fit(changed, y)
    again = fast(n_estimators=5, validation_fraction=None, target=None).fit(X, y)
    fp = [m.to_artifact()["training"]["fingerprint"] for m in (first, second, again)]
    assert fp[0] != fp[1] and fp[0] == fp[2]
    first.target_ = {"column": "status_code", "bad": "good"}
    assert first.to_artifact()["target"] == {"column": "status_code", "bad": "good"}


def test_bands_can_be_given(data):
    X, y = data
    model = fast(n_estimators=5, validation_fraction=None, bands=[560, 530, 500, 470]).fit(X, y)
    assert model.to_artifact()["bands"] == [{"band": "A", "min_score": 560}, {"band": "B", "min_score": 530},
                                            {"band": "C", "min_score": 500}, {"band": "D", "min_score": 470},
                                            {"band": "E", "min_score": None}]
    batch = model.model_.score_frame(X)
    assert (batch.band[batch.score >= 560] == "A").all() and (batch.band[batch.score < 470] == "E").all()
    with pytest.raises(ValidationError) as err:
        fast(n_estimators=5, bands=[500, 560]).fit(X, y)
    assert err.value.code == "invalid_bands"


# ---------------------------------------------------------------------------------------------- constraints, reasons


def test_monotone_constraints_hold(data):
    X, y = data
    noisy = X.assign(debt_ratio=X["debt_ratio"] + np.random.default_rng(1).normal(0, 0.3, len(X)))
    model = fast(monotone_constraints={"debt_ratio": 1, "income": -1}).fit(noisy, y)
    assert model.to_artifact()["monotone_constraints"] == {"debt_ratio": 1, "income": -1}
    for i in range(10):
        base = X.iloc[[i]]
        grid = pd.concat([base] * 60, ignore_index=True).assign(debt_ratio=np.linspace(-0.5, 1.5, 60))
        assert (np.diff(model.decision_function(grid)) >= 0).all()
        grid = pd.concat([base] * 60, ignore_index=True).assign(income=np.geomspace(300, 30000, 60))
        assert (np.diff(model.decision_function(grid)) <= 0).all()


def test_reasons_name_the_feature_that_drives_risk(fitted):
    applicant = {"income": 3000.0, "debt_ratio": 0.97, "age": 40.0, "home": "owner"}
    decision = fitted.model_.score_one(applicant, reasons=3)
    assert decision.reasons[0].feature == "debt_ratio" and decision.reasons[0].label == "0.97"
    assert all(r.contribution > 0 for r in decision.reasons) and len(decision.reasons) <= 3
    contributions = [r.contribution for r in decision.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert decision.reasons[0].points_lost == pytest.approx(decision.reasons[0].contribution * 20 / np.log(2), abs=0.01)
    batch = fitted.reasons(pd.DataFrame([applicant]), n=3)
    assert batch[0] == decision.reasons
    assert fitted.model_.score_one(applicant, reasons=0).reasons == ()


# ---------------------------------------------------------------------------------------------- input handling


def test_categoricals_missing_and_unseen_categories(fitted, data):
    X, _ = data
    rows = X.iloc[:5].copy()
    as_category = rows.astype({"home": "category"})
    as_string = rows.astype({"home": "string"})
    expected = fitted.decision_function(rows)
    np.testing.assert_array_equal(fitted.decision_function(as_category), expected)
    np.testing.assert_array_equal(fitted.decision_function(as_string), expected)
    unseen = rows.assign(home="castle")
    missing = rows.assign(home=None)
    np.testing.assert_array_equal(fitted.decision_function(unseen), fitted.decision_function(missing))
    gaps = rows.assign(income=np.nan, age=None)
    assert np.isfinite(fitted.decision_function(gaps)).all()
    model = fitted.model_
    one = model.score_one({"income": None, "debt_ratio": 0.5, "age": 30, "home": "castle"}, reasons=4)
    other = model.score_one({"debt_ratio": 0.5, "age": 30})  # absent features are missing
    assert (one.score, one.pd) == (other.score, other.pd)
    labels = {r.feature: r.label for r in model.explain(pd.DataFrame([{"income": np.nan, "debt_ratio": 0.5,
                                                                       "age": 30, "home": "castle"}]), n=4)[0]}
    assert labels.get("home", "castle (unseen, scored as missing)") == "castle (unseen, scored as missing)"
    assert labels.get("income", "Missing") == "Missing"
    assert model.codec.label(3, "castle") == "castle (unseen, scored as missing)"


def test_numpy_arrays_work_by_position(data):
    X, y = data
    array = X[["income", "debt_ratio", "age"]].to_numpy()
    model = fast(n_estimators=20, validation_fraction=None).fit(array, y.to_numpy())
    assert model.feature_names_ == ["x0", "x1", "x2"] and not hasattr(model, "feature_names_in_")
    rebuilt = ChallengerModel.from_artifact(json.loads(json.dumps(model.to_artifact())))
    np.testing.assert_array_equal(rebuilt.score_frame(array).pd, model.predict_proba(array)[:, 0])
    np.testing.assert_array_equal(rebuilt.score_frame(pd.DataFrame(array, columns=["x0", "x1", "x2"])).pd,
                                  model.predict_proba(array)[:, 0])


def code_of(call) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        call()
    return err.value


@pytest.mark.parametrize(("constraints", "field"), [({"nope": 1}, "nope"), ({"home": 1}, "home"),
                                                     ({"income": 2}, "income")])
def test_bad_monotone_constraints_are_refused(data, constraints, field):
    X, y = data
    err = code_of(lambda: fast(monotone_constraints=constraints).fit(X, y))
    assert (err.code, err.field) == ("invalid_monotone_constraint", field)


def test_bad_targets_and_columns_are_refused(fitted, data):
    X, y = data
    err = code_of(lambda: fast().fit(X, pd.Series(["good"] * len(X))))
    assert err.code == "one_class_target" and isinstance(err, ValueError)
    assert code_of(lambda: fast().fit(X, np.arange(len(X)) % 3)).code == "multiclass_target"
    assert code_of(lambda: fast(target={"column": "Status", "bad": "default"}).fit(X, y)).field == "target"
    assert code_of(lambda: fast().fit(X, None)).code == "missing_target"
    dated = X.assign(opened=pd.Timestamp("2024-01-01"))
    assert code_of(lambda: fast().fit(dated, y)).code == "unsupported_feature_type"
    assert code_of(lambda: fitted.model_.score_frame(X.drop(columns=["age"]))).code == "missing_feature"
    assert code_of(lambda: fitted.model_.score_one({"income": "lots"})).code == "invalid_feature_value"
    assert code_of(lambda: ChallengerModel.from_artifact({"format": "microlend.scorecard"})).code == \
        "invalid_model_artifact"
    assert code_of(lambda: fast(learning_rate=0).fit(X, y)).code == "invalid_parameter"
