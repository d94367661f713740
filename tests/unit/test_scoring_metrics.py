"""Evaluation metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from scipy.stats import chi2
from sklearn.metrics import roc_auc_score, roc_curve

from microlend.errors import ValidationError
from microlend.scoring import metrics
from microlend.scoring.metrics import (
    KS,
    PSI_FLOOR,
    auc,
    band_table,
    calibration_table,
    evaluate,
    gini,
    ks,
    ks_curve,
    psi,
    roc_points,
    stability_band,
)

# A tiny sample worked by hand: two bads, three goods, one tie between a bad and a good.
Y = [1, 1, 0, 0, 0]
RISK = [0.9, 0.4, 0.4, 0.2, 0.1]
SCORE = [500, 520, 520, 560, 600]  # the same ranking as RISK, higher = safer


def test_auc_and_gini_by_hand():
    # bad 0.9 beats all three goods (3); bad 0.4 ties one good (1/2) and beats two (2): 5.5 of 6 pairs
    assert auc(Y, RISK) == pytest.approx(5.5 / 6)
    assert gini(Y, RISK) == pytest.approx(2 * 5.5 / 6 - 1)
    assert auc(Y, [-s for s in SCORE]) == pytest.approx(5.5 / 6)
    assert auc([0, 0, 1], [1, 2, 3]) == 1.0
    assert auc([1, 0, 0], [1, 2, 3]) == 0.0
    assert auc([1, 0], [5, 5]) == 0.5


def test_ks_by_hand():
    # risk >= 0.9: bads 1/2, goods 0 -> 0.5; >= 0.4: bads 1, goods 1/3 -> 2/3 (the max); >= 0.2: 1/3; >= 0.1: 0
    result = ks(Y, RISK)
    assert isinstance(result, KS)
    assert result.value == pytest.approx(2 / 3)
    assert result.threshold == 0.4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_sklearn_on_random_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 5000
    y = (rng.random(n) < 0.2).astype(int)
    float_risk = np.round(rng.normal(size=n) + y * 0.7, 1)  # heavy ties
    int_risk = rng.integers(-30, 30, n) + y * 5  # the integer (counting) path
    assert auc(y, float_risk) == pytest.approx(roc_auc_score(y, float_risk), abs=1e-12)
    assert auc(y, int_risk) == pytest.approx(roc_auc_score(y, int_risk), abs=1e-12)
    assert auc(y.astype(bool), float_risk) == pytest.approx(roc_auc_score(y, float_risk), abs=1e-12)
    # the integer path and the float path agree
    assert auc(y, int_risk) == pytest.approx(auc(y, int_risk.astype(float)), abs=1e-12)


def test_roc_points_equal_sklearn_curve_and_are_downsampled():
    rng = np.random.default_rng(7)
    y = (rng.random(300) < 0.3).astype(int)
    risk = np.round(rng.normal(size=300) + y, 1)
    fpr, tpr, _ = roc_curve(y, risk, drop_intermediate=False)
    pts = roc_points(y, risk, max_points=10_000)
    np.testing.assert_allclose(pts["fpr"], fpr)
    np.testing.assert_allclose(pts["tpr"], tpr)
    assert pts["threshold"][0] is None  # the (0, 0) point flags nobody
    small = roc_points(y, risk, max_points=20)
    assert len(small["fpr"]) <= 22
    assert (small["fpr"][0], small["tpr"][0]) == (0.0, 0.0)
    assert (small["fpr"][-1], small["tpr"][-1]) == (1.0, 1.0)
    assert all(np.diff(small["fpr"]) >= 0) and all(np.diff(small["tpr"]) >= 0)


def test_ks_curve_keeps_the_ks_point():
    rng = np.random.default_rng(3)
    y = (rng.random(20_000) < 0.25).astype(int)
    risk = rng.normal(size=20_000) + y
    curve = ks_curve(y, risk, max_points=50)
    gaps = np.abs(np.array(curve["bads"]) - np.array(curve["goods"]))
    stat = ks(y, risk)
    assert gaps.max() == pytest.approx(stat.value)
    assert curve["threshold"][int(gaps.argmax())] == stat.threshold
    assert curve["population"][-1] == pytest.approx(1.0)
    assert len(curve["bads"]) <= 52


def test_band_table_by_hand():
    band = ["A", "A", "A", "B", "B", "B", "C", "C", "C", "C"]
    y = [0, 0, 0, 1, 0, 0, 1, 1, 0, 1]  # bads: A 0, B 1, C 3; overall 4 of 10
    rows = band_table(y, band, ["A", "B", "C", "D"])
    assert [r["band"] for r in rows] == ["A", "B", "C", "D"]
    a, b, c, d = rows
    assert (a["count"], a["share"], a["bads"], a["bad_rate"], a["lift"]) == (3, 0.3, 0, 0.0, 0.0)
    assert (a["cum_share"], a["cum_bad_capture"]) == (1.0, 1.0)
    assert (b["count"], b["bads"]) == (3, 1)
    assert b["bad_rate"] == pytest.approx(1 / 3)
    assert b["lift"] == pytest.approx((1 / 3) / 0.4)
    assert b["cum_share"] == pytest.approx(0.7) and b["cum_bad_capture"] == 1.0
    assert (c["count"], c["bads"], c["bad_rate"]) == (4, 3, 0.75)
    assert c["lift"] == pytest.approx(1.875)
    assert c["cum_share"] == pytest.approx(0.4) and c["cum_bad_capture"] == pytest.approx(0.75)
    # an empty band: no rate rather than a made-up zero
    assert (d["count"], d["bad_rate"], d["lift"], d["cum_share"]) == (0, None, None, 0.0)


def test_band_table_refuses_unknown_band():
    with pytest.raises(ValidationError) as err:
        band_table([0, 1], ["A", "Z"], ["A", "B"])
    assert err.value.code == "unknown_band"


def test_calibration_table_by_hand():
    pd_ = [0.1] * 4 + [0.5] * 4
    y = [0, 0, 0, 1, 1, 1, 0, 1]
    cal = calibration_table(y, pd_, n_bins=2)
    low, high = cal["rows"]
    assert (low["count"], low["bads"], low["mean_pd"], low["observed_bad_rate"]) == (4, 1, pytest.approx(0.1), 0.25)
    assert low["expected_bads"] == pytest.approx(0.4)
    assert (high["count"], high["bads"], high["mean_pd"], high["observed_bad_rate"]) == (4, 3, 0.5, 0.75)
    # Brier: (3 * 0.01 + 0.81 + 4 * 0.25) / 8
    assert cal["brier"] == pytest.approx(1.84 / 8)
    # HL: (1 - 0.4)^2 / (0.4 * 0.9) + (3 - 2)^2 / (2 * 0.5) = 1 + 1; df = 2 bins - 2 = 0 -> no p-value
    assert cal["hosmer_lemeshow"]["chi2"] == pytest.approx(2.0)
    assert cal["hosmer_lemeshow"]["df"] == 0 and cal["hosmer_lemeshow"]["p_value"] is None
    assert cal["mean_pd"] == pytest.approx(0.3) and cal["observed_bad_rate"] == 0.5


def test_calibration_p_value_and_ties():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.01, 0.5, 4000)
    y = (rng.random(4000) < p).astype(int)
    cal = calibration_table(y, p, n_bins=10)
    assert len(cal["rows"]) == 10 and sum(r["count"] for r in cal["rows"]) == 4000
    hl = cal["hosmer_lemeshow"]
    assert hl["df"] == 8 and hl["p_value"] == pytest.approx(chi2.sf(hl["chi2"], 8))
    assert calibration_table(y, np.full(4000, 0.2))["rows"][0]["count"] == 4000  # all tied: one bin


def test_psi_by_hand():
    # shares [0.5, 0.5] -> [0.25, 0.75]: (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert expected == pytest.approx(0.27465, abs=1e-5)
    assert psi([50, 50], [25, 75]) == pytest.approx(expected)
    assert psi([25, 75], [50, 50]) == pytest.approx(expected)  # symmetric
    assert psi([10, 20, 30], [100, 200, 300]) == 0.0
    assert stability_band(psi([50, 50], [25, 75])) == "major shift"


def test_psi_floor_for_empty_bins():
    assert PSI_FLOOR == 1e-4
    # expected shares [1, 0] -> floored [1, 1e-4]; actual [0.5, 0.5]
    by_hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert psi([100, 0], [50, 50]) == pytest.approx(by_hand)
    assert math.isfinite(psi([0, 100], [100, 0]))


def test_psi_refuses_bad_input():
    with pytest.raises(ValidationError) as err:
        psi([1, 2], [1, 2, 3])
    assert err.value.code == "length_mismatch"
    with pytest.raises(ValidationError) as err:
        psi([0, 0], [1, 2])
    assert err.value.code == "empty"


@pytest.mark.parametrize("value,band", [(0.0, "stable"), (0.0999, "stable"), (0.10, "minor shift"),
                                        (0.2499, "minor shift"), (0.25, "major shift"), (3.0, "major shift")])
def test_stability_band(value, band):
    assert stability_band(value) == band


@pytest.mark.parametrize("y,risk,code", [
    ([1, 1, 1], [1, 2, 3], "single_class"),
    ([0, 2, 1], [1, 2, 3], "invalid_target"),
    (["bad", "good"], [1, 2], "invalid_target"),
    ([0, 1], [1, 2, 3], "length_mismatch"),
    ([0, 1], [1.0, float("nan")], "invalid_values"),
])
def test_metrics_refuse_bad_input(y, risk, code):
    with pytest.raises(ValidationError) as err:
        auc(y, risk)
    assert err.value.code == code


def test_evaluate_by_hand():
    bands = ["C", "B", "B", "A", "A"]
    order = [{"band": "A", "min_score": 550}, {"band": "B", "min_score": 510}, {"band": "C", "min_score": None}]
    ev = evaluate(Y, SCORE, pd=[0.6, 0.3, 0.3, 0.1, 0.05], band=bands, band_order=order)
    assert (ev.n, ev.bads, ev.bad_rate) == (5, 2, 0.4)
    assert ev.auc == pytest.approx(5.5 / 6) and ev.gini == pytest.approx(2 * 5.5 / 6 - 1)
    # scores <= 520 hold both bads and one of three goods
    assert ev.ks == pytest.approx(2 / 3) and ev.ks_score == 520
    assert [r["band"] for r in ev.band_table] == ["A", "B", "C"]
    assert [r["bads"] for r in ev.band_table] == [0, 1, 1]
    hist = ev.score_histogram
    assert sum(hist["goods"]) == 3 and sum(hist["bads"]) == 2 and len(hist["edges"]) == len(hist["goods"]) + 1
    assert ev.ks_curve["score"] == sorted(ev.ks_curve["score"])
    assert ev.roc["score"][0] is None and ev.roc["tpr"][-1] == 1.0
    data = json.loads(json.dumps(ev.to_dict(), allow_nan=False))
    assert data["auc"] == pytest.approx(5.5 / 6) and data["calibration"]["rows"]
    assert evaluate(Y, SCORE).band_table is None and evaluate(Y, SCORE).calibration is None


def test_evaluate_a_million_rows_quickly():
    rng = np.random.default_rng(11)
    n = 1_000_000
    score = rng.integers(400, 750, n)
    pd_ = 1 / (1 + np.exp((score - 487.1) / 28.85))
    y = (rng.random(n) < pd_).astype(np.int8)
    band = np.select([score >= 650, score >= 600, score >= 550, score >= 500], ["A", "B", "C", "D"], "E")
    start = time.perf_counter()
    ev = evaluate(y, score, pd_, band, ["A", "B", "C", "D", "E"])
    elapsed = time.perf_counter() - start
    assert ev.auc == pytest.approx(roc_auc_score(y, -score), abs=1e-12)
    assert sum(r["count"] for r in ev.band_table) == n
    assert len(ev.roc["fpr"]) <= 202
    assert elapsed < 3.0, f"evaluate took {elapsed:.2f}s for 1M rows"


def test_module_thresholds_are_the_usual_ones():
    assert (metrics.PSI_MINOR, metrics.PSI_MAJOR) == (0.10, 0.25)
