"""Weight of evidence and information value, the currency of scorecard binning.

WoE of a bin = ln(nonevent share / event share): positive means safer than average (optbinning's sign).
A bin with no events or no non-events would give an infinite WoE, so 0.5 is added to both of its counts
(``ZERO_COUNT_SMOOTHING``) and only then; every other bin uses its counts as they are.
"""

from __future__ import annotations

import numpy as np

#: Added to both counts of a bin whose events or non-events are zero, so its WoE stays finite.
ZERO_COUNT_SMOOTHING = 0.5


def woe_iv(nonevents: np.ndarray, events: np.ndarray, total_nonevents: float | None = None,
           total_events: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """WoE and IV contribution of each bin, from per-bin counts.

    The totals default to the sums of the counts; pass them when the bins are part of a larger set
    (a missing bin scored against the whole population, for example).
    """
    nonevents = np.asarray(nonevents, dtype=np.float64)
    events = np.asarray(events, dtype=np.float64)
    total_nonevents = float(nonevents.sum()) if total_nonevents is None else float(total_nonevents)
    total_events = float(events.sum()) if total_events is None else float(total_events)
    if total_nonevents <= 0 or total_events <= 0:
        zeros = np.zeros_like(nonevents)
        return zeros, zeros.copy()
    empty = (nonevents == 0) | (events == 0)
    adj_nonevents = np.where(empty, nonevents + ZERO_COUNT_SMOOTHING, nonevents)
    adj_events = np.where(empty, events + ZERO_COUNT_SMOOTHING, events)
    good_share = adj_nonevents / total_nonevents
    bad_share = adj_events / total_events
    woe = np.log(good_share / bad_share)
    iv = (good_share - bad_share) * woe
    # A bin nobody falls in carries no information.
    nobody = (nonevents + events) == 0
    woe = np.where(nobody, 0.0, woe)
    iv = np.where(nobody, 0.0, iv)
    return woe, iv
