"""A small hand-written scorecard artifact shared by the registry's API and CLI tests: 522 base
points, income < 100 costs 18 points and >= 100 earns 13, home "own" earns 9 and "rent"/"other" cost 8."""

from __future__ import annotations

import math

FACTOR = 20 / math.log(2)
OFFSET = 600 - FACTOR * math.log(50)


def scorecard(auc: float = 0.71, notes: list[str] | None = None) -> dict:
    def bin_(kind, label, count, events, woe, points, **where):
        return {"kind": kind, **where, "label": label, "count": count, "events": events, "woe": woe, "points": points}

    return {
        "format": "microlend.scorecard", "format_version": 1, "kind": "scorecard",
        "created_at": "2026-11-27T07:00:00+00:00", "target": {"column": "target", "bad": 1},
        "training": {"rows": 1000, "bads": 200, "fingerprint": "sha256:" + "ab" * 32,
                     "columns": ["income", "home", "target"]},
        "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20, "factor": FACTOR, "offset": OFFSET,
                    "rounding": "ROUND_HALF_EVEN to whole points"},
        "intercept": -1.2, "base_points": 522,
        "features": [
            {"name": "income", "type": "numeric", "coefficient": -0.9, "iv": 0.3, "trend": "ascending",
             "bins": [bin_("range", "< 100", 400, 120, -0.7, -18, lower=None, upper=100.0),
                      bin_("range", ">= 100", 500, 50, 0.5, 13, lower=100.0, upper=None),
                      bin_("special", "Special", 50, 15, -0.2, -5, values=[-1]),
                      bin_("missing", "Missing", 50, 15, -0.3, -8)]},
            {"name": "home", "type": "categorical", "unseen": "worst", "unseen_bin": 1, "coefficient": -0.8, "iv": 0.12,
             "bins": [bin_("categories", "own", 450, 60, 0.4, 9, values=["own"]),
                      bin_("categories", "rent, other", 520, 130, -0.35, -8, values=["rent", "other"]),
                      bin_("missing", "Missing", 30, 10, -0.1, -2)]},
        ],
        "bands": [{"band": "A", "min_score": 560}, {"band": "B", "min_score": 540}, {"band": "C", "min_score": 520},
                  {"band": "D", "min_score": 500}, {"band": "E", "min_score": None}],
        "development": {"score_edges": [500, 505, 510, 515, 520, 525, 530, 535, 540],
                        "score_counts": [100] * 10, "metrics": {"auc": auc, "gini": round(2 * auc - 1, 6), "ks": 0.33}},
        "selection": [], "notes": list(notes or []),
    }
