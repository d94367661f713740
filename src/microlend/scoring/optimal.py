"""Optimal merging of ordered pre-bins under a shape constraint, by dynamic programming.

Given pre-bins in order (quantile ranges of a number, or categories sorted by event rate), choose which
neighbours to merge so that the information value is as large as possible while

* every bin holds at least ``min_count`` rows, ``min_events`` events and ``min_nonevents`` non-events;
* the event rate follows the trend: ``ascending``, ``descending``, ``peak`` (up then down) or ``valley``
  (down then up), strictly, by at least ``min_rate_diff`` between neighbours;
* there are at most ``max_bins`` bins (when set).

The search is exact: IV is a sum over bins, so the best partition ending with bin [j, i) extends the best
compatible partition of [0, j). With n pre-bins that is O(n^3) comparisons, vectorised over the
previous cut, a few milliseconds for the usual 20 pre-bins (what optbinning asks a MIP solver to do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microlend.scoring.woe import ZERO_COUNT_SMOOTHING

TRENDS = ("ascending", "descending", "peak", "valley")
_NEG = -np.inf


@dataclass(frozen=True)
class Merge:
    """The chosen partition: ``cuts`` are pre-bin indices where a new bin starts (0 excluded)."""

    cuts: tuple[int, ...]
    iv: float
    trend: str


def _segment_tables(nonevents: np.ndarray, events: np.ndarray, total_ne: float | None, total_e: float | None):
    """Counts, event rate and IV of every contiguous segment [j, i) of the pre-bins. IV shares are of
    the totals given (the whole sample, missing and special rows included), as in the final WoE."""
    cum_ne = np.concatenate([[0.0], np.cumsum(nonevents, dtype=np.float64)])
    cum_e = np.concatenate([[0.0], np.cumsum(events, dtype=np.float64)])
    seg_ne = cum_ne[None, :] - cum_ne[:, None]  # [j, i] = nonevents in pre-bins j..i-1
    seg_e = cum_e[None, :] - cum_e[:, None]
    total_ne = cum_ne[-1] if not total_ne else total_ne
    total_e = cum_e[-1] if not total_e else total_e
    with np.errstate(divide="ignore", invalid="ignore"):
        empty = (seg_ne == 0) | (seg_e == 0)
        adj_ne = np.where(empty, seg_ne + ZERO_COUNT_SMOOTHING, seg_ne)
        adj_e = np.where(empty, seg_e + ZERO_COUNT_SMOOTHING, seg_e)
        good = adj_ne / total_ne
        bad = adj_e / total_e
        iv = (good - bad) * np.log(good / bad)
        rate = seg_e / (seg_e + seg_ne)
    return seg_ne, seg_e, np.nan_to_num(iv, nan=0.0), rate


def merge_prebins(nonevents, events, *, trend: str = "ascending", min_count: float = 0, min_events: float = 1,
                  min_nonevents: float = 1, max_bins: int | None = None, min_rate_diff: float = 0.0,
                  total_nonevents: float | None = None, total_events: float | None = None) -> Merge:
    """The IV-maximising partition of the pre-bins for one trend (see the module docstring); the totals
    default to the pre-bins' own."""
    if trend not in TRENDS:
        raise ValueError(f"unknown trend {trend!r}")
    nonevents = np.asarray(nonevents, dtype=np.float64)
    events = np.asarray(events, dtype=np.float64)
    n = len(nonevents)
    if n == 0:
        return Merge((), 0.0, trend)
    seg_ne, seg_e, iv, rate = _segment_tables(nonevents, events, total_nonevents, total_events)
    feasible = ((seg_ne + seg_e) >= min_count) & (seg_e >= min_events) & (seg_ne >= min_nonevents)
    if trend in ("descending", "valley"):
        rate = -rate  # a descending trend is an ascending one on the negated rate
    turns = trend in ("peak", "valley")
    layers = 2 if turns else 1
    counted = max_bins is not None
    slots = max(1, min(max_bins, n)) if counted else 1

    # best[layer, m, j, i]: best IV of [0, i) whose last bin is [j, i), rising (layer 0) or past the turn
    # (layer 1); m counts the bins before the last one when max_bins is set, and is always 0 otherwise.
    best = np.full((layers, slots, n + 1, n + 1), _NEG)
    back = np.full((layers, slots, n + 1, n + 1, 2), -1, dtype=np.int64)  # (previous layer, previous start)
    for i in range(1, n + 1):
        if feasible[0, i]:
            best[0, 0, 0, i] = iv[0, i]
    for i in range(2, n + 1):
        for j in range(1, i):
            if not feasible[j, i]:
                continue
            r_last = rate[j, i]
            prev_rates = rate[:j, j]
            rising = prev_rates + min_rate_diff < r_last  # previous bin lower: still ascending
            falling = prev_rates - min_rate_diff > r_last
            for m in range(1, slots) if counted else (0,):
                src = m - 1 if counted else 0
                up_prev = best[0, src, :j, j]
                cand = np.where(rising, up_prev, _NEG)
                k = int(np.argmax(cand))
                if cand[k] > _NEG:
                    best[0, m, j, i] = cand[k] + iv[j, i]
                    back[0, m, j, i] = (0, k)
                if turns:
                    from_up = np.where(falling, up_prev, _NEG)
                    from_down = np.where(falling, best[1, src, :j, j], _NEG)
                    down_prev = np.maximum(from_up, from_down)
                    k2 = int(np.argmax(down_prev))
                    if down_prev[k2] > _NEG:
                        best[1, m, j, i] = down_prev[k2] + iv[j, i]
                        back[1, m, j, i] = (0 if from_up[k2] >= from_down[k2] else 1, k2)

    final = best[:, :, :, n]
    if not np.isfinite(final).any():
        return Merge((), float(iv[0, n]), trend)  # nothing satisfies the constraints: one bin
    layer, m, j = (int(v) for v in np.unravel_index(int(np.argmax(final)), final.shape))
    total = float(final[layer, m, j])
    cuts = []
    i = n
    while j > 0:
        cuts.append(j)
        prev_layer, k = back[layer, m, j, i]
        layer, i, j = int(prev_layer), j, int(k)
        m = m - 1 if counted else 0
    return Merge(tuple(sorted(cuts)), total, trend)


def choose_trend(nonevents, events, *, trend: str = "auto", turn_gain: float = 0.10, **limits) -> Merge:
    """Merge under ``trend``; ``auto`` takes the better monotonic trend, and a peak or valley only when it
    adds more than ``turn_gain`` (relative) IV over it, since a turn is easier to overfit and to explain."""
    if trend != "auto":
        return merge_prebins(nonevents, events, trend=trend, **limits)
    up = merge_prebins(nonevents, events, trend="ascending", **limits)
    down = merge_prebins(nonevents, events, trend="descending", **limits)
    mono = up if up.iv >= down.iv else down
    if len(nonevents) < 4:
        return mono
    turned = max((merge_prebins(nonevents, events, trend=t, **limits) for t in ("peak", "valley")),
                 key=lambda merge: merge.iv)
    return turned if turned.iv > mono.iv * (1.0 + turn_gain) else mono
