"""Binning of one variable: quantile pre-bins (numbers) or categories sorted by event rate, merged
optimally under a trend (``optimal.py``), plus bins of their own for missing and special values.

The result is the artifact form of a feature (see ``docs/scoring.md``): a list of bins with their
development counts, events and WoE. Choices that matter at scoring time are named here:

* a range bin covers ``lower <= x < upper``; pre-bin edges are quantiles rounded to
  ``EDGE_SIGNIFICANT_DIGITS`` so points tables and SQL read cleanly;
* a missing (or special) bin that the development sample never filled gets the WoE of the riskiest bin of
  the variable: an unknown is not a reason to be generous;
* a category never seen in development scores like the riskiest category bin (``unseen="worst"``, the
  default) or like the missing bin (``unseen="missing"``); the artifact names the bin (``unseen_bin``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from microlend.scoring.optimal import TRENDS, choose_trend
from microlend.scoring.woe import woe_iv

EDGE_SIGNIFICANT_DIGITS = 6
UNSEEN_CHOICES = ("worst", "missing")


@dataclass(frozen=True)
class BinningParams:
    """Constraints of the optimal binning; the defaults suit application scorecards."""

    max_prebins: int = 20
    min_bin_share: float = 0.05
    min_bin_events: int = 5
    min_bin_nonevents: int = 5
    max_bins: int | None = None
    trend: str = "auto"
    turn_gain: float = 0.10
    min_rate_diff: float = 0.0
    min_category_share: float = 0.01
    unseen: str = "worst"
    special_codes: dict[str, tuple] = field(default_factory=dict)

    def check(self) -> None:
        if self.trend not in TRENDS + ("auto",):
            raise ValueError(f"trend must be one of auto, {', '.join(TRENDS)}")
        if self.unseen not in UNSEEN_CHOICES:
            raise ValueError(f"unseen must be one of {', '.join(UNSEEN_CHOICES)}")
        if not 0 <= self.min_bin_share < 0.5:
            raise ValueError("min_bin_share must be in [0, 0.5)")
        if self.max_prebins < 2:
            raise ValueError("max_prebins must be at least 2")
        if self.max_bins is not None and self.max_bins < 1:
            raise ValueError("max_bins must be at least 1")
        if not 0 <= self.min_category_share < 0.5:
            raise ValueError("min_category_share must be in [0, 0.5)")
        if not (self.min_rate_diff >= 0 and np.isfinite(self.min_rate_diff)):
            raise ValueError("min_rate_diff must be a finite number >= 0")
        for name, values in self.special_codes.items():
            if not all(isinstance(v, (int, float, np.number)) and np.isfinite(v) for v in values):
                raise ValueError(f"special codes of {name!r} must be finite numbers")


def _fmt(value: float) -> str:
    return format(value, "g")


def _round_edge(value: float) -> float:
    return float(format(value, f".{EDGE_SIGNIFICANT_DIGITS}g"))


def _range_label(lower: float | None, upper: float | None) -> str:
    if lower is None and upper is None:
        return "all values"
    if lower is None:
        return f"< {_fmt(upper)}"
    if upper is None:
        return f">= {_fmt(lower)}"
    return f"[{_fmt(lower)}, {_fmt(upper)})"


def _limits(params: BinningParams, rows: int, y: np.ndarray) -> dict:
    events = float(y.sum())
    return {"min_count": params.min_bin_share * rows, "min_events": params.min_bin_events,
            "min_nonevents": params.min_bin_nonevents, "max_bins": params.max_bins,
            "min_rate_diff": params.min_rate_diff, "turn_gain": params.turn_gain,
            "total_nonevents": rows - events, "total_events": events}


def _finish(name: str, kind: str, bins: list[dict], trend: str | None, params: BinningParams,
            total_nonevents: float, total_events: float) -> dict:
    """Attach WoE to every bin, fill empty missing/special bins by the unseen rule, sum the IV.

    A missing or special bin too small to stand alone (under the minimum share, events or non-events
    of a bin) is scored like the value bin whose event rate is nearest its own (``scored_like``): a
    dozen rows must not swing a score by a hundred points."""
    nonevents = np.array([b["count"] - b["events"] for b in bins], dtype=np.float64)
    events = np.array([b["events"] for b in bins], dtype=np.float64)
    woe, iv = woe_iv(nonevents, events, total_nonevents, total_events)
    seen = (nonevents + events) > 0
    value_bins = [i for i, b in enumerate(bins) if b["kind"] in ("range", "categories") and seen[i]]
    rows = total_nonevents + total_events
    for i, b in enumerate(bins):
        small = (b["count"] < params.min_bin_share * rows or events[i] < params.min_bin_events
                 or nonevents[i] < params.min_bin_nonevents)
        if b["kind"] in ("missing", "special") and seen[i] and small and value_bins:
            rate = events[i] / (events[i] + nonevents[i])
            like = min(value_bins, key=lambda j: abs(events[j] / (events[j] + nonevents[j]) - rate))
            woe[i] = woe[like]
            iv[i] = (nonevents[i] / total_nonevents - events[i] / total_events) * woe[i] if total_events else 0.0
            b["scored_like"] = bins[like]["label"]
    fallback = float(woe[seen].min()) if seen.any() else 0.0
    for b, w, filled in zip(bins, woe, seen):
        b["woe"] = float(w) if filled else fallback
    feature = {"name": name, "type": kind, "iv": float(iv.sum()), "trend": trend, "bins": bins}
    if kind == "categorical":
        feature["unseen"] = params.unseen
        category_bins = [i for i, b in enumerate(bins) if b["kind"] == "categories"]
        if params.unseen == "missing" or not category_bins:
            feature["unseen_bin"] = len(bins) - 1
        else:
            feature["unseen_bin"] = min(category_bins, key=lambda i: bins[i]["woe"])
    return feature


#: Categories (sorted by event rate) are pooled into at most this many lots before the optimal merge,
#: whose cost grows with the cube of their number.
MAX_CATEGORY_GROUPS = 64

#: Pre-bin quantiles are taken from at most this many values (an even stride through the data): the
#: pre-bins only propose cut points, and exact counts are taken over every row afterwards.
QUANTILE_SAMPLE = 200_000


def bin_numeric(name: str, x: np.ndarray, y: np.ndarray, params: BinningParams) -> tuple[dict, np.ndarray]:
    """Bin a numeric variable (``x`` float64 with NaN for missing; ``y`` 1 = event).

    Returns the feature and each row's bin position (int16), so the caller need not bin the rows again.
    """
    rows = len(x)
    total_events = float(y.sum())
    total_nonevents = rows - total_events
    missing = np.isnan(x)
    specials = tuple(params.special_codes.get(name, ()))
    special = np.isin(x, np.asarray(specials, dtype=np.float64)) if specials else None
    plain = ~missing if special is None else ~(missing | special)
    all_plain = bool(plain.all())
    xv = x if all_plain else x[plain]
    yv = y if all_plain else y[plain]

    edges = np.empty(0)
    if len(xv):
        sample = xv if len(xv) <= QUANTILE_SAMPLE else xv[:: -(-len(xv) // QUANTILE_SAMPLE)]
        quantiles = np.linspace(0.0, 1.0, params.max_prebins + 1)[1:-1]
        edges = np.unique([_round_edge(v) for v in np.quantile(sample, quantiles)])
    prebin = np.searchsorted(edges, xv, side="right")
    counts = np.bincount(prebin, minlength=len(edges) + 1).astype(np.float64)
    events = np.bincount(prebin, weights=yv, minlength=len(edges) + 1)
    filled = counts > 0
    rank = np.cumsum(filled) - 1  # each pre-bin's place among the non-empty ones
    nonempty = np.flatnonzero(filled)
    if len(nonempty):  # drop empty pre-bins by removing their lower edges
        edges = np.array([edges[p - 1] for p in nonempty[1:]])
        counts, events = counts[nonempty], events[nonempty]
    else:
        edges, counts, events = np.empty(0), np.zeros(1), np.zeros(1)

    merge = choose_trend(counts - events, events, trend=params.trend, **_limits(params, rows, y))
    starts = (0,) + merge.cuts
    ends = merge.cuts + (len(counts),)
    bins = []
    for start, end in zip(starts, ends):
        lower = float(edges[start - 1]) if start > 0 else None
        upper = float(edges[end - 1]) if end < len(counts) else None
        bins.append({"kind": "range", "lower": lower, "upper": upper, "label": _range_label(lower, upper),
                     "count": int(counts[start:end].sum()), "events": int(round(events[start:end].sum()))})
    prebin_to_bin = np.searchsorted(np.array(merge.cuts, dtype=np.int64), np.maximum(rank, 0),
                                    side="right").astype(np.int16)
    if all_plain:
        position = prebin_to_bin[prebin]
    else:
        position = np.empty(rows, dtype=np.int16)
        position[plain] = prebin_to_bin[prebin]
    if specials:
        position[special] = len(bins)
        bins.append({"kind": "special", "values": [float(v) for v in specials],
                     "label": "Special: " + ", ".join(_fmt(float(v)) for v in specials),
                     "count": int(special.sum()), "events": int(round(float(y[special].sum())))})
    if not all_plain:
        position[missing] = len(bins)
    bins.append({"kind": "missing", "label": "Missing", "count": int(missing.sum()),
                 "events": int(round(float(y[missing].sum())))})
    trend = merge.trend if merge.cuts else None
    return _finish(name, "numeric", bins, trend, params, total_nonevents, total_events), position


def category_text(value) -> str:
    """The text a category is known by. A whole number is written without a decimal point, so 36 and
    36.0 are one category (a column with a gap turns into floats, and JSON may send either)."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def category_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 = missing) and the text of each category (see ``category_text``)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, labels = values.cat.codes.to_numpy(), [category_text(c) for c in values.cat.categories]
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        labels = [category_text(u) for u in uniques]
    if len(set(labels)) < len(labels):  # e.g. 36 and "36": one category, one code
        first = {}
        remap = np.array([first.setdefault(label, k) for k, label in enumerate(labels)] + [-1], dtype=np.int64)
        codes = remap[codes]
    return codes, labels


def bin_categorical(name: str, values: pd.Series, y: np.ndarray, params: BinningParams,
                    coded: tuple[np.ndarray, list[str]] | None = None) -> tuple[dict, np.ndarray]:
    """Bin a categorical variable: rare categories pooled, the rest ordered by event rate and merged.

    ``coded`` passes ``category_codes(values)`` when the caller has it. Returns the feature and each
    row's bin position (int16)."""
    rows = len(values)
    total_events = float(y.sum())
    total_nonevents = rows - total_events
    codes, labels = coded if coded is not None else category_codes(values)
    missing = codes < 0
    present = ~missing
    counts = np.bincount(codes[present], minlength=len(labels)).astype(np.float64)
    events = np.bincount(codes[present], weights=y[present], minlength=len(labels))

    groups: list[list[str]] = []  # pre-bins: one category each, rare ones pooled
    group_counts, group_events = [], []
    rare = [k for k in range(len(labels)) if 0 < counts[k] < params.min_category_share * rows]
    rare_set = set(rare)
    for k in range(len(labels)):
        if counts[k] > 0 and k not in rare_set:
            groups.append([labels[k]])
            group_counts.append(counts[k])
            group_events.append(events[k])
    if rare:
        groups.append([labels[k] for k in rare])
        group_counts.append(counts[rare].sum())
        group_events.append(events[rare].sum())
    group_counts = np.array(group_counts, dtype=np.float64)
    group_events = np.array(group_events, dtype=np.float64)
    order = np.argsort(group_events / np.maximum(group_counts, 1), kind="stable")
    groups = [groups[k] for k in order]
    group_counts, group_events = group_counts[order], group_events[order]
    if len(groups) > MAX_CATEGORY_GROUPS:  # keep the exact merge cheap: neighbours by rate, equal-sized lots
        lot = np.minimum((np.cumsum(group_counts) - group_counts / 2) / group_counts.sum() * MAX_CATEGORY_GROUPS,
                         MAX_CATEGORY_GROUPS - 1).astype(int)
        groups = [[label for k in np.flatnonzero(lot == g) for label in groups[k]] for g in np.unique(lot)]
        group_counts = np.array([group_counts[lot == g].sum() for g in np.unique(lot)])
        group_events = np.array([group_events[lot == g].sum() for g in np.unique(lot)])

    # Sorted by event rate, an ascending trend is the natural one: the merge only pools neighbours.
    merge = choose_trend(group_counts - group_events, group_events, trend="ascending",
                         **_limits(params, rows, y)) if len(groups) else None
    bins = []
    if merge is not None:
        for start, end in zip((0,) + merge.cuts, merge.cuts + (len(groups),)):
            members = sorted(label for g in groups[start:end] for label in g)
            bins.append({"kind": "categories", "values": members, "label": ", ".join(members),
                         "count": int(group_counts[start:end].sum()),
                         "events": int(round(group_events[start:end].sum()))})
    bins.append({"kind": "missing", "label": "Missing", "count": int(missing.sum()),
                 "events": int(round(float(y[missing].sum())))})
    feature = _finish(name, "categorical", bins, "by event rate" if len(bins) > 2 else None, params,
                      total_nonevents, total_events)
    code_of = {}
    for k, label in enumerate(labels):
        code_of.setdefault(label, k)
    code_to_bin = np.full(len(labels) + 1, feature["unseen_bin"], dtype=np.int16)
    for position, b in enumerate(bins):
        for value in b.get("values", ()):
            code_to_bin[code_of[value]] = position
    code_to_bin[-1] = len(bins) - 1  # code -1: missing
    return feature, code_to_bin[codes]
