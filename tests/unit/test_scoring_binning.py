"""Optimal binning against hand-computed cases, its constraints as properties, and the dynamic programme
of ``optimal.merge_prebins`` against a brute-force enumeration of every contiguous partition."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microlend.scoring import WoETransformer
from microlend.scoring.binning import BinningParams, bin_categorical, bin_numeric
from microlend.scoring.optimal import TRENDS, choose_trend, merge_prebins
from microlend.scoring.woe import woe_iv

LOOSE = {"min_bin_share": 0.0, "min_bin_events": 1, "min_bin_nonevents": 1}


def _woe(nonevents: float, events: float, total_nonevents: float, total_events: float) -> float:
    """WoE by the book: ln(nonevent share / event share), 0.5 added to both counts only when one is 0."""
    if nonevents == 0 or events == 0:
        nonevents, events = nonevents + 0.5, events + 0.5
    return math.log((nonevents / total_nonevents) / (events / total_events))


def _iv(bins: list[tuple[float, float]], total_nonevents: float, total_events: float) -> float:
    total = 0.0
    for nonevents, events in bins:
        if nonevents + events == 0:
            continue
        adj_ne, adj_e = (nonevents + 0.5, events + 0.5) if nonevents == 0 or events == 0 else (nonevents, events)
        good, bad = adj_ne / total_nonevents, adj_e / total_events
        total += (good - bad) * math.log(good / bad)
    return total


# --- A small numeric case worked by hand ---------------------------------------------------------------
# x = 1..20 and four missing rows. With max_prebins=4 the quantiles of 1..20 at 1/4, 1/2, 3/4 are
# 5.75, 10.5 and 15.25 (linear interpolation), so the pre-bins are {1..5}, {6..10}, {11..15}, {16..20},
# five rows each. Events per pre-bin: 4, 2, 3, 1 (rates 0.8, 0.4, 0.6, 0.2); missing: 1 event of 4 rows.
# A descending trend must pool {6..10} with {11..15} (0.4 < 0.6 breaks it): bins 0.8 / 0.5 / 0.2. No
# ascending partition but the single bin exists, and a peak/valley adds nothing, so "auto" is descending.
HAND_X = np.array(list(range(1, 21)) + [np.nan] * 4, dtype=np.float64)
HAND_Y = np.zeros(24, dtype=np.int8)
HAND_Y[[0, 1, 2, 3, 5, 6, 10, 11, 12, 15, 20]] = 1  # 4 in 1..5, 2 in 6..10, 3 in 11..15, 1 in 16..20, 1 missing


def test_numeric_binning_by_hand_with_missing_rows():
    feature, position = bin_numeric("x", HAND_X, HAND_Y, BinningParams(max_prebins=4, **LOOSE))
    bins = feature["bins"]
    assert [b["kind"] for b in bins] == ["range", "range", "range", "missing"]
    assert [(b["lower"], b["upper"]) for b in bins[:3]] == [(None, 5.75), (5.75, 15.25), (15.25, None)]
    assert [b["label"] for b in bins] == ["< 5.75", "[5.75, 15.25)", ">= 15.25", "Missing"]
    assert [(b["count"], b["events"]) for b in bins] == [(5, 4), (10, 5), (5, 1), (4, 1)]
    assert feature["trend"] == "descending"
    # totals include the missing rows: 11 events, 13 non-events
    expected_woe = [math.log((1 / 13) / (4 / 11)), math.log((5 / 13) / (5 / 11)),
                    math.log((4 / 13) / (1 / 11)), math.log((3 / 13) / (1 / 11))]
    assert [b["woe"] for b in bins] == pytest.approx(expected_woe, abs=1e-12)
    assert expected_woe[0] == pytest.approx(math.log(11 / 52))
    expected_iv = sum((ne / 13 - e / 11) * w for (ne, e), w in zip([(1, 4), (5, 5), (4, 1), (3, 1)], expected_woe))
    assert feature["iv"] == pytest.approx(expected_iv, abs=1e-12)
    assert feature["iv"] == pytest.approx(0.8516464319859743, abs=1e-12)
    assert position.tolist() == [0] * 5 + [1] * 10 + [2] * 5 + [3] * 4


def test_numeric_binning_by_hand_under_min_bin_share():
    # 25% of 24 rows = 6: no five-row bin may stand alone, so the only split left is {1..10} | {11..20}
    # (rates 0.6 and 0.4, descending). The missing bin (4 rows) is under the share too: too small to
    # stand alone, it is scored like the value bin with the nearest event rate (1/4 -> the 0.4 bin).
    feature, _ = bin_numeric("x", HAND_X, HAND_Y, BinningParams(max_prebins=4, min_bin_share=0.25,
                                                                min_bin_events=1, min_bin_nonevents=1))
    bins = feature["bins"]
    assert [(b["label"], b["count"], b["events"]) for b in bins] == [
        ("< 10.5", 10, 6), (">= 10.5", 10, 4), ("Missing", 4, 1)]
    upper = math.log((6 / 13) / (4 / 11))
    assert [b["woe"] for b in bins] == pytest.approx([math.log((4 / 13) / (6 / 11)), upper, upper], abs=1e-12)
    assert bins[2]["scored_like"] == ">= 10.5"
    iv = _iv([(4, 6), (6, 4)], 13, 11) + (3 / 13 - 1 / 11) * upper
    assert feature["iv"] == pytest.approx(iv, abs=1e-12)
    # held to no share, the same missing bin keeps its own WoE
    loose, _ = bin_numeric("x", HAND_X, HAND_Y, BinningParams(max_prebins=4, min_bin_share=0.0,
                                                              min_bin_events=1, min_bin_nonevents=1))
    assert loose["bins"][-1]["woe"] == pytest.approx(math.log((3 / 13) / (1 / 11)), abs=1e-12)
    assert "scored_like" not in loose["bins"][-1]


def test_numeric_binning_by_hand_max_bins_and_ascending_trend():
    # max_bins=2 under descending: best two-bin split is by IV among {1..5|6..20}, {1..10|11..20},
    # {1..15|16..20} (all descending): computed by hand below.
    feature, _ = bin_numeric("x", HAND_X, HAND_Y, BinningParams(max_prebins=4, max_bins=2, trend="descending",
                                                                **LOOSE))
    totals = (13, 11)
    splits = {5.75: [(1, 4), (9, 6)], 10.5: [(4, 6), (6, 4)], 15.25: [(7, 9), (4, 1)]}
    ivs = {edge: _iv(parts + [(3, 1)], *totals) for edge, parts in splits.items()}
    best = max(ivs, key=ivs.get)
    assert best == 5.75
    ranges = [b for b in feature["bins"] if b["kind"] == "range"]
    assert [(b["lower"], b["upper"]) for b in ranges] == [(None, best), (best, None)]
    assert feature["iv"] == pytest.approx(ivs[best], abs=1e-12)
    # an ascending trend is impossible here (every split has a falling rate): one bin, no IV from ranges
    up, _ = bin_numeric("x", HAND_X, HAND_Y, BinningParams(max_prebins=4, trend="ascending", **LOOSE))
    assert [(b["kind"], b["count"], b["events"]) for b in up["bins"]] == [("range", 20, 10), ("missing", 4, 1)]
    assert up["trend"] is None
    assert up["bins"][0]["woe"] == pytest.approx(math.log((10 / 13) / (10 / 11)), abs=1e-12)


def test_zero_count_smoothing_only_for_the_bin_with_a_zero():
    # Two pre-bins {1..5} (no events) and {6..10} (all events bar one): 0.5 goes to both counts of the
    # first bin only.
    x = np.arange(1, 11, dtype=np.float64)
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 0], dtype=np.int8)
    feature, _ = bin_numeric("x", x, y, BinningParams(max_prebins=2, min_bin_share=0.0, min_bin_events=0,
                                                     min_bin_nonevents=0))
    ranges = feature["bins"][:2]
    assert [(b["upper"], b["count"], b["events"]) for b in ranges] == [(5.5, 5, 0), (None, 5, 4)]
    assert ranges[0]["woe"] == pytest.approx(math.log((5.5 / 6) / (0.5 / 4)), abs=1e-12)
    assert ranges[1]["woe"] == pytest.approx(math.log((1 / 6) / (4 / 4)), abs=1e-12)
    woe, iv = woe_iv(np.array([5.0, 1.0]), np.array([0.0, 4.0]))
    assert woe.tolist() == pytest.approx([_woe(5, 0, 6, 4), _woe(1, 4, 6, 4)], abs=1e-12)
    assert iv.sum() == pytest.approx(_iv([(5, 0), (1, 4)], 6, 4), abs=1e-12)


def test_empty_missing_bin_gets_the_riskiest_bins_woe():
    x = HAND_X[:20]
    y = HAND_Y[:20]
    feature, _ = bin_numeric("x", x, y, BinningParams(max_prebins=4, **LOOSE))
    bins = feature["bins"]
    assert [(b["kind"], b["count"], b["events"]) for b in bins] == [
        ("range", 5, 4), ("range", 10, 5), ("range", 5, 1), ("missing", 0, 0)]
    riskiest = math.log((1 / 10) / (4 / 10))
    assert min(b["woe"] for b in bins[:3]) == pytest.approx(riskiest, abs=1e-12)
    assert bins[3]["woe"] == bins[0]["woe"]
    assert bins[3]["woe"] != 0.0
    # the empty bin adds nothing to the IV
    assert feature["iv"] == pytest.approx(_iv([(1, 4), (5, 5), (4, 1)], 10, 10), abs=1e-12)


def test_special_codes_get_their_own_bin():
    # -1 and 999 are codes, not amounts: they stay out of the quantiles and the ranges
    x = np.array(list(range(1, 21)) + [-1.0, -1.0, 999.0] + [np.nan] * 4, dtype=np.float64)
    y = np.concatenate([HAND_Y[:20], [1, 1, 0], HAND_Y[20:]]).astype(np.int8)
    params = BinningParams(max_prebins=4, special_codes={"x": (-1, 999)}, **LOOSE)
    feature, position = bin_numeric("x", x, y, params)
    bins = feature["bins"]
    assert [b["kind"] for b in bins] == ["range", "range", "range", "special", "missing"]
    assert [(b["lower"], b["upper"]) for b in bins[:3]] == [(None, 5.75), (5.75, 15.25), (15.25, None)]
    assert bins[3]["values"] == [-1.0, 999.0]
    assert bins[3]["label"] == "Special: -1, 999"
    assert [(b["count"], b["events"]) for b in bins] == [(5, 4), (10, 5), (5, 1), (3, 2), (4, 1)]
    total_events, total_nonevents = 13, 14
    assert bins[3]["woe"] == pytest.approx(math.log((1 / total_nonevents) / (2 / total_events)), abs=1e-12)
    assert bins[4]["woe"] == pytest.approx(math.log((3 / total_nonevents) / (1 / total_events)), abs=1e-12)
    assert position[20:23].tolist() == [3, 3, 3]
    assert position[23:].tolist() == [4, 4, 4, 4]
    # a special code never seen in development still has a bin, scored as the riskiest one
    unseen, _ = bin_numeric("x", HAND_X, HAND_Y, BinningParams(max_prebins=4, special_codes={"x": (-7,)}, **LOOSE))
    special = unseen["bins"][3]
    assert (special["kind"], special["count"], special["events"]) == ("special", 0, 0)
    assert special["woe"] == min(b["woe"] for b in unseen["bins"] if b["count"])


def test_transformer_scores_missing_special_and_edges_by_the_bins():
    frame = pd.DataFrame({"x": np.array(list(range(1, 21)) + [-1.0, -1.0, 999.0] + [np.nan] * 4)})
    y = np.concatenate([HAND_Y[:20], [1, 1, 0], HAND_Y[20:]])
    woe = WoETransformer(max_prebins=4, special_codes={"x": [-1, 999]}, **LOOSE).fit(frame, y)
    bins = woe.features_[0]["bins"]
    new = pd.DataFrame({"x": [5.75, math.nextafter(5.75, 0), 15.25, math.nextafter(15.25, 0), -1.0, 999.0,
                              np.nan, 1e9, -1e9]})
    expected = [bins[i]["woe"] for i in (1, 0, 2, 1, 3, 3, 4, 2, 0)]
    assert woe.transform(new)[:, 0].tolist() == pytest.approx(expected, abs=0)
    assert woe.iv_ == {"x": woe.features_[0]["iv"]}


# --- Categorical variables ------------------------------------------------------------------------------
# A: 40 rows, 4 events (0.10); B: 40 rows, 12 events (0.30); C: 30 rows, 15 events (0.50);
# D: 1 row, 1 event and E: 2 rows, 2 events are rare (under 5% of 121 rows) and are pooled (3 of 3 events);
# missing: 8 rows, 4 events. The pool has no non-event, so it must join C (next by event rate):
# bins A | B | C, D, E | Missing. Totals: 38 events, 83 non-events.
def _categorical_sample():
    values = ["A"] * 40 + ["B"] * 40 + ["C"] * 30 + ["D"] + ["E"] * 2 + [None] * 8
    y = np.array([1] * 4 + [0] * 36 + [1] * 12 + [0] * 28 + [1] * 15 + [0] * 15 + [1] + [1, 1] + [1] * 4 + [0] * 4,
                 dtype=np.int8)
    order = np.random.default_rng(3).permutation(len(values))  # the order of rows must not matter
    return pd.Series([values[i] for i in order], dtype=object), y[order]


CAT_PARAMS = {"min_category_share": 0.05, **LOOSE}


def test_categorical_binning_by_hand():
    values, y = _categorical_sample()
    feature, position = bin_categorical("home", values, y, BinningParams(**CAT_PARAMS))
    bins = feature["bins"]
    assert [(b["kind"], b.get("values"), b["count"], b["events"]) for b in bins] == [
        ("categories", ["A"], 40, 4), ("categories", ["B"], 40, 12), ("categories", ["C", "D", "E"], 33, 18),
        ("missing", None, 8, 4)]
    assert [b["label"] for b in bins] == ["A", "B", "C, D, E", "Missing"]
    expected = [math.log((36 / 83) / (4 / 38)), math.log((28 / 83) / (12 / 38)), math.log((15 / 83) / (18 / 38)),
                math.log((4 / 83) / (4 / 38))]
    assert [b["woe"] for b in bins] == pytest.approx(expected, abs=1e-12)
    assert feature["iv"] == pytest.approx(_iv([(36, 4), (28, 12), (15, 18), (4, 4)], 83, 38), abs=1e-12)
    rates = [b["events"] / b["count"] for b in bins[:3]]
    assert rates == sorted(rates) and len(set(rates)) == 3  # ordered by event rate, safest first
    assert feature["unseen"] == "worst"
    assert feature["unseen_bin"] == 2  # the riskiest category bin (not the missing bin)
    bin_of = {"A": 0, "B": 1, "C": 2, "D": 2, "E": 2, None: 3}
    assert position.tolist() == [bin_of[v] for v in values]


def test_rare_categories_are_pooled_into_one_bin():
    # rare ones with distinct rates that could stand alone stay pooled together
    values = pd.Series(["A"] * 50 + ["B"] * 50 + ["r1"] * 2 + ["r2"] * 2 + ["r3"] * 2)
    y = np.array([1] * 10 + [0] * 40 + [1] * 35 + [0] * 15 + [1, 1] + [0, 0] + [1, 0])
    feature, _ = bin_categorical("c", values, y, BinningParams(min_category_share=0.05, min_bin_share=0.0,
                                                              min_bin_events=0, min_bin_nonevents=0))
    cats = [b["values"] for b in feature["bins"] if b["kind"] == "categories"]
    assert ["r1", "r2", "r3"] in cats
    assert cats == [["A"], ["r1", "r2", "r3"], ["B"]]  # rates 0.2, 0.5 (3 of 6), 0.7


@pytest.mark.parametrize("unseen, unseen_bin", [("worst", 2), ("missing", 3)])
def test_unseen_category_scores_as_the_documented_bin(unseen, unseen_bin):
    values, y = _categorical_sample()
    frame = pd.DataFrame({"home": values})
    woe = WoETransformer(unseen=unseen, **CAT_PARAMS).fit(frame, y)
    feature = woe.features_[0]
    assert (feature["unseen"], feature["unseen_bin"]) == (unseen, unseen_bin)
    bins = feature["bins"]
    new = pd.DataFrame({"home": ["Z", "A", None, "E", "c", ""]})
    assert woe.transform(new)[:, 0].tolist() == [bins[i]["woe"] for i in (unseen_bin, 0, 3, 2, unseen_bin, unseen_bin)]
    # the scorecard's model scores and indexes an unseen category in that same bin
    from microlend.scoring import Scorecard

    card = Scorecard(unseen=unseen, min_iv=0.0, **CAT_PARAMS).fit(frame, y)
    model = card.model_
    assert model.feature_names == ["home"]
    assert model.bin_index(new)["home"].tolist() == [unseen_bin, 0, 3, 2, unseen_bin, unseen_bin]
    points = [b["points"] for b in model.artifact["features"][0]["bins"]]
    assert model.score_one({"home": "Z"}).score == model.base_points + points[unseen_bin]
    assert model.score_one({}).score == model.base_points + points[3]  # absent = missing


def test_categorical_dtype_and_empty_missing_bin():
    values, y = _categorical_sample()
    keep = values.notna().to_numpy()
    # a pandas categorical with an unused category: the unused one is scored as unseen, missing bin empty
    cat = pd.Series(pd.Categorical(values[keep], categories=["A", "B", "C", "D", "E", "never"]))
    feature, position = bin_categorical("home", cat, y[keep], BinningParams(**CAT_PARAMS))
    bins = feature["bins"]
    assert [(b.get("values"), b["count"], b["events"]) for b in bins] == [
        (["A"], 40, 4), (["B"], 40, 12), (["C", "D", "E"], 33, 18), (None, 0, 0)]
    assert bins[3]["woe"] == min(b["woe"] for b in bins[:3]) == bins[2]["woe"]
    assert bins[2]["woe"] == pytest.approx(math.log((15 / 79) / (18 / 34)), abs=1e-12)
    assert sorted(set(position.tolist())) == [0, 1, 2]


# --- Constraints as properties ---------------------------------------------------------------------------
def _rates(feature):
    return [b["events"] / b["count"] for b in feature["bins"] if b["kind"] == "range"]


def _follows(rates, trend):
    steps = np.sign(np.diff(rates))
    if trend == "ascending":
        return bool((steps > 0).all())
    if trend == "descending":
        return bool((steps < 0).all())
    if (steps == 0).any():
        return False
    first, second = (1, -1) if trend == "peak" else (-1, 1)
    k = 0
    while k < len(steps) and steps[k] == first:
        k += 1
    return bool((steps[k:] == second).all())


@st.composite
def numeric_samples(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rows = draw(st.integers(60, 1500))
    shape = draw(st.sampled_from(["up", "down", "hump", "dip", "noise"]))
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=rows) * draw(st.sampled_from([1.0, 10.0, 1000.0])), draw(st.integers(0, 3)))
    z = (x - x.mean()) / (x.std() + 1e-9)
    logit = {"up": 1.5 * z, "down": -1.5 * z, "hump": 1.5 - 1.5 * z**2, "dip": 1.5 * z**2 - 1.5,
             "noise": 0 * z}[shape] - 0.5
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    x[rng.random(rows) < draw(st.sampled_from([0.0, 0.05, 0.3]))] = np.nan
    params = BinningParams(max_prebins=draw(st.integers(2, 20)), min_bin_share=draw(st.sampled_from([0.0, 0.02, 0.1])),
                           min_bin_events=draw(st.integers(0, 8)), min_bin_nonevents=draw(st.integers(0, 8)),
                           max_bins=draw(st.sampled_from([None, 2, 3, 5])),
                           trend=draw(st.sampled_from(("auto",) + TRENDS)))
    return x, y, params


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_samples())
def test_numeric_binning_keeps_its_constraints(sample):
    x, y, params = sample
    rows = len(x)
    feature, position = bin_numeric("x", x, y, params)
    bins = feature["bins"]
    ranges = [b for b in bins if b["kind"] == "range"]
    assert sum(b["count"] for b in bins) == rows
    assert sum(b["events"] for b in bins) == int(y.sum())
    assert bins[-1]["kind"] == "missing" and bins[-1]["count"] == int(np.isnan(x).sum())
    # bins are contiguous and ordered; every row sits in the bin its value belongs to
    assert ranges[0]["lower"] is None and ranges[-1]["upper"] is None
    for left, right in zip(ranges, ranges[1:]):
        assert left["upper"] == right["lower"] and left["upper"] > (left["lower"] or -math.inf)
    for i, b in enumerate(bins):
        members = position == i
        assert int(members.sum()) == b["count"] and int(y[members].sum()) == b["events"]
        if b["kind"] == "range":
            values = x[members]
            assert (values >= (b["lower"] if b["lower"] is not None else -np.inf)).all()
            assert (values < (b["upper"] if b["upper"] is not None else np.inf)).all()
    if params.max_bins is not None:
        assert len(ranges) <= params.max_bins
    if len(ranges) > 1:
        for b in ranges:
            assert b["count"] >= params.min_bin_share * rows
            assert b["events"] >= params.min_bin_events
            assert b["count"] - b["events"] >= params.min_bin_nonevents
        assert feature["trend"] in TRENDS
        if params.trend != "auto":
            assert feature["trend"] == params.trend
        assert _follows(_rates(feature), feature["trend"]), (feature["trend"], _rates(feature))
    else:
        assert feature["trend"] is None
    # IV is the sum over bins of (nonevent share - event share) * WoE, with the empty bins left out; a
    # missing/special bin too small to stand alone carries the WoE of the bin it is scored like
    events, nonevents = float(y.sum()), float(rows - y.sum())
    if events and nonevents:
        own = [(b["count"] - b["events"], b["events"]) for b in bins if "scored_like" not in b]
        borrowed = sum(((b["count"] - b["events"]) / nonevents - b["events"] / events) * b["woe"]
                       for b in bins if "scored_like" in b)
        assert feature["iv"] == pytest.approx(_iv(own, nonevents, events) + borrowed, rel=1e-9, abs=1e-12)
        for b in bins:
            if b["count"] and "scored_like" not in b:
                assert b["woe"] == pytest.approx(_woe(b["count"] - b["events"], b["events"], nonevents, events),
                                                 abs=1e-12)
            elif b["count"]:  # scored like a value bin: its WoE, and the nearest event rate of them all
                like = next(v for v in bins if v["label"] == b["scored_like"] and v["kind"] in ("range", "categories"))
                assert b["woe"] == like["woe"]
                assert b["kind"] in ("missing", "special")


@pytest.mark.parametrize("trend", TRENDS)
def test_explicit_trend_shapes_on_a_hump(trend):
    # event rate rises then falls in x: each trend is met exactly as asked
    rng = np.random.default_rng(11)
    x = rng.uniform(-3, 3, 6000)
    y = (rng.random(6000) < 1 / (1 + np.exp(-(1.0 - x**2)))).astype(np.int8)
    feature, _ = bin_numeric("x", x, y, BinningParams(trend=trend))
    rates = _rates(feature)
    assert len(rates) >= 2
    assert feature["trend"] == trend
    assert _follows(rates, trend)
    steps = np.sign(np.diff(rates))
    assert int((steps[1:] != steps[:-1]).sum()) <= 1  # one turn at most
    if trend == "peak":
        assert (steps > 0).any() and (steps < 0).any()  # the hump is found
    auto, _ = bin_numeric("x", x, y, BinningParams())
    assert auto["trend"] == "peak"


# --- The dynamic programme against brute force -----------------------------------------------------------
def _shape_ok(rates, trend, min_rate_diff):
    if trend in ("descending", "valley"):
        rates = [-r for r in rates]
    ups = [a + min_rate_diff < b for a, b in zip(rates, rates[1:])]
    downs = [a - min_rate_diff > b for a, b in zip(rates, rates[1:])]
    if trend in ("ascending", "descending"):
        return all(ups)
    k = 0
    while k < len(ups) and ups[k]:
        k += 1
    return all(downs[k:])


def _brute_force(nonevents, events, trend, min_count, min_events, min_nonevents, max_bins, min_rate_diff):
    """Best IV over every contiguous partition that meets the constraints (None when none does)."""
    n = len(nonevents)
    total_ne, total_e = float(sum(nonevents)), float(sum(events))
    best = None
    for r in range(n):
        if max_bins is not None and r + 1 > max_bins:
            break
        for cuts in itertools.combinations(range(1, n), r):
            bounds = list(zip((0,) + cuts, cuts + (n,)))
            segments = [(float(sum(nonevents[a:b])), float(sum(events[a:b]))) for a, b in bounds]
            if any(ne + e < min_count or e < min_events or ne < min_nonevents for ne, e in segments):
                continue
            if not _shape_ok([e / (ne + e) for ne, e in segments], trend, min_rate_diff):
                continue
            iv = _iv(segments, total_ne, total_e)
            if best is None or iv > best[0]:
                best = (iv, cuts)
    return best


@st.composite
def prebins(draw):
    n = draw(st.integers(1, 8))
    counts = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    events = [draw(st.integers(0, c)) for c in counts]
    nonevents = [c - e for c, e in zip(counts, events)]
    limits = {"min_count": draw(st.sampled_from([0, 5, 20, 45])), "min_events": draw(st.integers(0, 4)),
              "min_nonevents": draw(st.integers(0, 4)), "max_bins": draw(st.sampled_from([None, 1, 2, 3, 5])),
              "min_rate_diff": draw(st.sampled_from([0.0, 0.0, 0.05]))}
    return nonevents, events, limits


@settings(max_examples=300, deadline=None)
@given(prebins())
def test_merge_prebins_equals_brute_force(case):
    nonevents, events, limits = case
    if sum(events) == 0 or sum(nonevents) == 0:
        return  # WoE is undefined without both classes
    for trend in TRENDS:
        merge = merge_prebins(nonevents, events, trend=trend, **limits)
        expected = _brute_force(nonevents, events, trend, **limits)
        assert merge.trend == trend
        if expected is None:
            assert merge.cuts == ()  # nothing meets the constraints: one bin
            continue
        assert merge.iv == pytest.approx(expected[0], abs=1e-9)
        # the partition returned is itself feasible and worth what it claims
        bounds = list(zip((0,) + merge.cuts, merge.cuts + (len(events),)))
        segments = [(float(sum(nonevents[a:b])), float(sum(events[a:b]))) for a, b in bounds]
        assert _iv(segments, sum(nonevents), sum(events)) == pytest.approx(merge.iv, abs=1e-9)
        assert all(ne + e >= limits["min_count"] and e >= limits["min_events"] and ne >= limits["min_nonevents"]
                   for ne, e in segments)
        assert _shape_ok([e / (ne + e) for ne, e in segments], trend, limits["min_rate_diff"])
        if limits["max_bins"] is not None:
            assert len(segments) <= limits["max_bins"]


def test_auto_trend_prefers_a_monotonic_one_unless_a_turn_pays():
    nonevents = [10, 10, 10, 10]
    events = [2, 6, 6, 2]  # a clear peak
    mono = max((merge_prebins(nonevents, events, trend=t) for t in ("ascending", "descending")), key=lambda m: m.iv)
    peak = merge_prebins(nonevents, events, trend="peak")
    assert peak.iv > mono.iv * 1.1
    assert choose_trend(nonevents, events, trend="auto").trend == "peak"
    assert choose_trend(nonevents, events, trend="auto", turn_gain=100.0).trend == mono.trend
