"""How well a credit model ranks and predicts: AUC, Gini, KS, band tables, calibration, PSI.

A risk officer judges a scorecard by a handful of numbers that every bank computes the same way,
so these follow the textbook definitions exactly (``auc`` equals scikit-learn's ``roc_auc_score``,
ties counted as half). Everything is vectorised numpy: one sort of the data, then work over the
distinct values, so a million rows take well under a second.

Conventions: ``y`` is 1 for a bad (event) and 0 for a good; ``risk`` is higher for a likelier bad
(a probability of default, or minus a score). Every result is JSON-ready (plain floats, ``None`` for
an undefined value such as the bad rate of an empty band).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import numpy as np
from scipy.special import chdtrc

from microlend.errors import ValidationError

#: Share given to an empty bin in PSI/CSI (``ln(0)`` is undefined): a share below it is raised to it.
#: 1e-4 is one row in ten thousand, small enough not to hide a real shift and large enough that one
#: empty bin cannot alone turn a stable population into a "major shift".
PSI_FLOOR = 1e-4
#: PSI/CSI below this is "stable".
PSI_MINOR = 0.10
#: PSI/CSI at or above this is a "major shift"; between the two a "minor shift".
PSI_MAJOR = 0.25
#: Bins of the goods/bads score histograms in an evaluation.
HISTOGRAM_BINS = 30


class KS(NamedTuple):
    """Kolmogorov-Smirnov statistic: the largest gap between the cumulative bad and good
    distributions, and the ``risk`` threshold where it is reached (rows with risk >= threshold)."""

    value: float
    threshold: float


# --------------------------------------------------------------------------- input checks


def _as_target(y: Any) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValidationError("the target must be one-dimensional", code="invalid_target", field="y")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValidationError("the target must be 0 (good) or 1 (bad)", code="invalid_target", field="y")
    ok = (arr == 0) | (arr == 1)
    if not ok.all():
        raise ValidationError("the target must be 0 (good) or 1 (bad)", code="invalid_target", field="y")
    return arr.astype(np.int8)


def _as_values(values: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValidationError(f"{name} must have one value per row of the target ({n})",
                              code="length_mismatch", field=name)
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValidationError(f"{name} must be numeric", code="invalid_values", field=name)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValidationError(f"{name} has missing or infinite values", code="invalid_values", field=name)
    return arr


def _both_classes(y: np.ndarray) -> tuple[int, int]:
    bads = int(y.sum())
    goods = int(y.shape[0] - bads)
    if bads == 0 or goods == 0:
        raise ValidationError("the target needs both goods and bads to measure ranking",
                              code="single_class", field="y")
    return bads, goods


# --------------------------------------------------------------------------- ranking core


@dataclass(frozen=True)
class _Ranked:
    """Bads and goods at each distinct risk value, riskiest first."""

    thresholds: np.ndarray  # distinct risk values, descending
    bads: np.ndarray  # bads at each threshold
    goods: np.ndarray
    n_bads: int
    n_goods: int

    @property
    def tpr(self) -> np.ndarray:
        """Share of bads with risk >= threshold (cumulative bad distribution)."""
        return np.cumsum(self.bads) / self.n_bads

    @property
    def fpr(self) -> np.ndarray:
        """Share of goods with risk >= threshold."""
        return np.cumsum(self.goods) / self.n_goods


def _rank(y: Any, risk: Any) -> _Ranked:
    target = _as_target(y)
    values = _as_values(risk, target.shape[0], "risk")
    n_bads, n_goods = _both_classes(target)
    if values.dtype.kind in "iu":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= 4 * values.shape[0] + 1_000_000:  # small integer range: counting beats sorting
            offset = values.astype(np.int64) - lo
            total = np.bincount(offset, minlength=hi - lo + 1)
            bads = np.bincount(offset, weights=target, minlength=hi - lo + 1).astype(np.int64)
            present = np.flatnonzero(total)[::-1]
            return _Ranked((present + lo).astype(np.float64), bads[present], total[present] - bads[present],
                           n_bads, n_goods)
    distinct, inverse = np.unique(values.astype(np.float64), return_inverse=True)
    total = np.bincount(inverse, minlength=distinct.shape[0])
    bads = np.bincount(inverse, weights=target, minlength=distinct.shape[0]).astype(np.int64)
    return _Ranked(distinct[::-1], bads[::-1], (total - bads)[::-1], n_bads, n_goods)


def _auc(r: _Ranked) -> float:
    # Mann-Whitney: each (bad, good) pair counts 1 when the bad is riskier, 1/2 when tied.
    goods_below = r.n_goods - np.cumsum(r.goods)  # goods strictly less risky than each threshold
    pairs = np.dot(r.bads.astype(np.float64), goods_below + 0.5 * r.goods)
    return float(pairs / (float(r.n_bads) * float(r.n_goods)))


def _ks(r: _Ranked) -> KS:
    gap = np.abs(r.tpr - r.fpr)
    i = int(np.argmax(gap))
    return KS(float(gap[i]), float(r.thresholds[i]))


def _downsample(progress: np.ndarray, max_points: int, keep: Sequence[int] = ()) -> np.ndarray:
    """Indices of at most about ``max_points`` points spread evenly along a nondecreasing ``progress``,
    always with the first and last point and those in ``keep``."""
    m = progress.shape[0]
    if m <= max_points:
        return np.arange(m)
    targets = np.linspace(progress[0], progress[-1], max(max_points - 2 - len(keep), 2))
    idx = np.searchsorted(progress, targets, side="left").clip(0, m - 1)
    return np.unique(np.concatenate([idx, [0, m - 1], np.asarray(keep, dtype=np.int64)]))


def _roc(r: _Ranked, max_points: int) -> dict[str, list[float]]:
    fpr = np.concatenate([[0.0], r.fpr])
    tpr = np.concatenate([[0.0], r.tpr])
    thr = np.concatenate([[math.inf], r.thresholds])
    idx = _downsample(fpr + tpr, max_points)
    thresholds = [t if math.isfinite(t) else None for t in _floats(thr[idx])]  # +inf: nothing flagged
    return {"fpr": _floats(fpr[idx]), "tpr": _floats(tpr[idx]), "threshold": thresholds}


def _ks_curve(r: _Ranked, max_points: int) -> dict[str, Any]:
    tpr, fpr = r.tpr, r.fpr
    share = (np.cumsum(r.bads) + np.cumsum(r.goods)) / (r.n_bads + r.n_goods)
    best = int(np.argmax(np.abs(tpr - fpr)))
    idx = _downsample(share, max_points, keep=[best])
    return {"threshold": _floats(r.thresholds[idx]), "population": _floats(share[idx]),
            "bads": _floats(tpr[idx]), "goods": _floats(fpr[idx])}


# --------------------------------------------------------------------------- public ranking metrics


def auc(y: Any, risk: Any) -> float:
    """Area under the ROC curve: the chance a random bad is riskier than a random good (ties 1/2)."""
    return _auc(_rank(y, risk))


def gini(y: Any, risk: Any) -> float:
    """Gini coefficient (accuracy ratio) = 2 * AUC - 1."""
    return 2.0 * auc(y, risk) - 1.0


def ks(y: Any, risk: Any) -> KS:
    """Largest |share of bads - share of goods| with risk >= t over all thresholds t, and that t."""
    return _ks(_rank(y, risk))


def roc_points(y: Any, risk: Any, max_points: int = 200) -> dict[str, list[float]]:
    """The ROC curve from (0, 0) to (1, 1), at most about ``max_points`` points spread along it.

    ``threshold[i]`` is the risk cut: rows with risk >= it are flagged (the first, flagging
    nothing, is ``None``)."""
    return _roc(_rank(y, risk), max_points)


def ks_curve(y: Any, risk: Any, max_points: int = 200) -> dict[str, Any]:
    """Cumulative bad and good distributions by risk threshold, riskiest first.

    At ``threshold[i]``: ``bads[i]`` / ``goods[i]`` are the shares of all bads / goods with
    risk >= it and ``population[i]`` the share of all rows; the KS point is always kept."""
    return _ks_curve(_rank(y, risk), max_points)


# --------------------------------------------------------------------------- tables


def band_table(y: Any, band: Any, order: Sequence[str]) -> list[dict[str, Any]]:
    """One row per band in ``order`` (best first): count, share, bads, bad rate and lift.

    ``cum_share`` and ``cum_bad_capture`` count this band and every worse one (later in ``order``):
    the share of applicants, and of all bads, that a cut-off just above this band would decline.
    ``lift`` is the band's bad rate over the overall bad rate. Empty bands get ``None`` rates."""
    target = _as_target(y)
    labels = np.asarray(band).astype(str)
    if labels.ndim != 1 or labels.shape[0] != target.shape[0]:
        raise ValidationError("band must have one value per row of the target", code="length_mismatch",
                              field="band")
    order = [str(b) for b in order]
    if len(set(order)) != len(order) or not order:
        raise ValidationError("band order must list each band once", code="invalid_band_order", field="order")
    codes = np.full(labels.shape[0], -1, dtype=np.int64)
    for i, name in enumerate(order):  # a loop over bands, not rows
        codes[labels == name] = i
    if (codes < 0).any():
        unknown = sorted(set(labels[codes < 0].tolist()))[:5]
        raise ValidationError(f"bands not in the band order: {unknown}", code="unknown_band", field="band")
    k = len(order)
    counts = np.bincount(codes, minlength=k)
    bads = np.bincount(codes, weights=target, minlength=k).astype(np.int64)
    n, n_bads = int(target.shape[0]), int(bads.sum())
    overall = n_bads / n if n else math.nan
    cum_counts = np.cumsum(counts[::-1])[::-1]
    cum_bads = np.cumsum(bads[::-1])[::-1]
    rows = []
    for i, name in enumerate(order):
        rate = bads[i] / counts[i] if counts[i] else math.nan
        rows.append({
            "band": name, "count": int(counts[i]), "share": _num(counts[i] / n if n else math.nan),
            "bads": int(bads[i]), "bad_rate": _num(rate),
            "cum_share": _num(cum_counts[i] / n if n else math.nan),
            "cum_bad_capture": _num(cum_bads[i] / n_bads if n_bads else math.nan),
            "lift": _num(rate / overall if overall else math.nan),
        })
    return rows


def calibration_table(y: Any, pd: Any, n_bins: int = 10) -> dict[str, Any]:
    """Predicted against observed bad rate by deciles of ``pd``, with a summary.

    Rows with equal pd always share a bin, so a coarse pd may give fewer than ``n_bins`` bins.
    Summary: the Brier score (mean squared error of pd), mean pd against the observed bad rate,
    and a Hosmer-Lemeshow chi-square over the bins (``df`` = bins - 2; a small ``p_value`` says the
    pds are off somewhere)."""
    target = _as_target(y)
    prob = _as_values(pd, target.shape[0], "pd").astype(np.float64)
    if ((prob < 0) | (prob > 1)).any():
        raise ValidationError("pd must lie between 0 and 1", code="invalid_values", field="pd")
    if target.shape[0] == 0:
        raise ValidationError("no rows to calibrate", code="empty", field="y")
    if n_bins < 1:
        raise ValidationError("n_bins must be at least 1", code="invalid_bins", field="n_bins")
    inner = np.unique(np.quantile(prob, np.linspace(0, 1, n_bins + 1)[1:-1])) if n_bins > 1 else np.empty(0)
    idx = np.searchsorted(inner, prob, side="right")  # bin i: inner[i-1] <= pd < inner[i]
    k = inner.shape[0] + 1
    counts = np.bincount(idx, minlength=k)
    bads = np.bincount(idx, weights=target, minlength=k)
    expected = np.bincount(idx, weights=prob, minlength=k)
    lo = np.full(k, np.inf)
    hi = np.full(k, -np.inf)
    np.minimum.at(lo, idx, prob)
    np.maximum.at(hi, idx, prob)
    rows, chi2, used = [], 0.0, 0
    for i in range(k):  # a loop over bins, not rows
        if counts[i] == 0:
            continue
        e, c = expected[i], counts[i]
        if 0 < e < c:
            chi2 += (bads[i] - e) ** 2 / (e * (1 - e / c))
        used += 1
        rows.append({"bin": used, "pd_min": _num(lo[i]), "pd_max": _num(hi[i]), "count": int(c),
                     "mean_pd": _num(e / c), "bads": int(bads[i]), "observed_bad_rate": _num(bads[i] / c),
                     "expected_bads": _num(e)})
    dof = used - 2
    return {
        "rows": rows,
        "brier": _num(float(np.mean((prob - target) ** 2))),
        "mean_pd": _num(float(prob.mean())),
        "observed_bad_rate": _num(float(target.mean())),
        "hosmer_lemeshow": {"chi2": _num(chi2), "df": dof, "p_value": _num(float(chdtrc(dof, chi2)) if dof > 0
                                                                            else math.nan)},
    }


# --------------------------------------------------------------------------- stability


def psi(expected_counts: Any, actual_counts: Any) -> float:
    """Population stability index: sum over bins of (a - e) * ln(a / e) on shares.

    Shares below ``PSI_FLOOR`` are raised to it, so an empty bin counts as a small share, not
    as infinity. The same formula on a feature's bins is the characteristic stability index."""
    e = np.asarray(expected_counts, dtype=np.float64)
    a = np.asarray(actual_counts, dtype=np.float64)
    if e.ndim != 1 or e.shape != a.shape or e.shape[0] == 0:
        raise ValidationError("expected and actual counts must be lists of the same length",
                              code="length_mismatch", field="actual_counts")
    if (e < 0).any() or (a < 0).any() or not (np.isfinite(e).all() and np.isfinite(a).all()):
        raise ValidationError("counts must be finite and not negative", code="invalid_counts")
    if e.sum() <= 0 or a.sum() <= 0:
        raise ValidationError("both samples need at least one row", code="empty", field="actual_counts")
    es = np.maximum(e / e.sum(), PSI_FLOOR)
    as_ = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(np.sum((as_ - es) * np.log(as_ / es)))


def psi_contributions(expected_counts: Any, actual_counts: Any) -> np.ndarray:
    """Each bin's term of ``psi`` (same floor), for showing where a shift comes from."""
    e = np.asarray(expected_counts, dtype=np.float64)
    a = np.asarray(actual_counts, dtype=np.float64)
    psi(e, a)  # the same checks
    es = np.maximum(e / e.sum(), PSI_FLOOR)
    as_ = np.maximum(a / a.sum(), PSI_FLOOR)
    return (as_ - es) * np.log(as_ / es)


def stability_band(value: float) -> str:
    """The usual reading of a PSI/CSI: "stable" (< 0.10), "minor shift" (< 0.25), else "major shift"."""
    if value < PSI_MINOR:
        return "stable"
    if value < PSI_MAJOR:
        return "minor shift"
    return "major shift"


# --------------------------------------------------------------------------- everything at once


@dataclass(frozen=True)
class Evaluation:
    """All the numbers of one model on one labelled sample (``to_dict`` is JSON-ready).

    Ranking metrics use the score (higher = safer). ``ks_score`` is the cut-off where KS is
    reached: rows scoring at or below it hold ``ks`` more of the bads than of the goods.
    ``ks_curve`` is by score, ascending: shares of bads / goods scoring at or below ``score[i]``;
    ``roc`` likewise declines rows scoring at or below ``score[i]`` (``None``: nobody)."""

    n: int
    bads: int
    bad_rate: float
    auc: float
    gini: float
    ks: float
    ks_score: float
    roc: dict[str, list[float]]
    ks_curve: dict[str, list[float]]
    score_histogram: dict[str, list[float]]
    band_table: list[dict[str, Any]] | None = None
    calibration: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "bads": self.bads, "bad_rate": _num(self.bad_rate), "auc": _num(self.auc),
            "gini": _num(self.gini), "ks": _num(self.ks), "ks_score": _num(self.ks_score),
            "band_table": self.band_table, "calibration": self.calibration, "roc": self.roc,
            "ks_curve": self.ks_curve, "score_histogram": self.score_histogram,
        }


def score_histogram(y: Any, score: Any, bins: int = HISTOGRAM_BINS) -> dict[str, list[float]]:
    """Counts of goods and of bads over shared score bins (``edges`` has one more entry than counts;
    bin i is edges[i] <= s < edges[i+1], the last bin closed). Integer scores get whole-point edges."""
    target = _as_target(y)
    s = _as_values(score, target.shape[0], "score")
    if s.shape[0] == 0:
        return {"edges": [], "goods": [], "bads": []}
    lo, hi = float(s.min()), float(s.max())
    if s.dtype.kind in "iu":
        step = max(1, math.ceil((hi - lo + 1) / bins))
        edges = lo + step * np.arange(math.ceil((hi - lo + 1) / step) + 1, dtype=np.float64)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    bad_counts, _ = np.histogram(s[target == 1], bins=edges)
    all_counts, _ = np.histogram(s, bins=edges)
    return {"edges": _floats(edges), "goods": _floats(all_counts - bad_counts), "bads": _floats(bad_counts)}


def evaluate(y: Any, score: Any, pd: Any = None, band: Any = None,
             band_order: Sequence[Any] | None = None, *, max_points: int = 200) -> Evaluation:
    """Evaluate a scored, labelled sample: ranking (from ``score``, higher = safer), calibration
    (from ``pd``, when given) and the band table (from ``band`` and ``band_order``, best first; the
    order may be the model's band dicts)."""
    target = _as_target(y)
    s = _as_values(score, target.shape[0], "score")
    r = _rank(target, -s.astype(np.int64) if s.dtype.kind in "iu" else -s.astype(np.float64))
    ks_stat = _ks(r)
    curve = _ks_curve(r, max_points)
    # risk = -score, and risk >= t means score <= -t: flip the thresholds back to scores.
    ks_by_score = {"score": [-t for t in curve["threshold"]], "population": curve["population"],
                   "bads": curve["bads"], "goods": curve["goods"]}
    roc = _roc(r, max_points)
    roc["threshold"] = [None if t is None else -t for t in roc["threshold"]]
    roc["score"] = roc.pop("threshold")
    a = _auc(r)
    table = None
    if band is not None:
        if band_order is None:
            raise ValidationError("band_order is needed with band", code="invalid_band_order", field="band_order")
        names = [b["band"] if isinstance(b, dict) else b for b in band_order]
        table = band_table(target, band, names)
    return Evaluation(
        n=int(target.shape[0]), bads=r.n_bads, bad_rate=r.n_bads / target.shape[0], auc=a, gini=2 * a - 1,
        ks=ks_stat.value, ks_score=-ks_stat.threshold, roc=roc, ks_curve=ks_by_score,
        score_histogram=score_histogram(target, s), band_table=table,
        calibration=calibration_table(target, pd) if pd is not None else None,
    )


# --------------------------------------------------------------------------- helpers


def _num(value: Any) -> float | None:
    """A plain float for JSON, ``None`` for NaN/inf."""
    v = float(value)
    return v if math.isfinite(v) else None


def _floats(arr: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(arr, dtype=np.float64).tolist()]
