"""From log-odds to points and back, and from points to risk bands.

score = offset + factor * ln(odds good:bad), factor = pdo / ln 2, offset = base_score - factor * ln(base_odds):
at ``base_odds`` the score is ``base_score`` and every ``pdo`` points double the odds. Points are whole
numbers rounded half-to-even (``POINTS_ROUNDING``), so the score is an exact integer in Python and SQL alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

POINTS_ROUNDING = "ROUND_HALF_EVEN to whole points"
BAND_NAMES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Scaling:
    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self):
        if not (self.pdo > 0 and self.base_odds > 0 and math.isfinite(self.base_score)):
            raise ValueError("pdo and base_odds must be positive and base_score finite")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def to_dict(self) -> dict:
        return {"base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo,
                "factor": self.factor, "offset": self.offset, "rounding": POINTS_ROUNDING}

    @classmethod
    def from_dict(cls, data: dict) -> Scaling:
        return cls(float(data["base_score"]), float(data["base_odds"]), float(data["pdo"]))

    def pd_from_score(self, score):
        """Probability of default for a score (works on numbers and numpy arrays)."""
        return 1.0 / (1.0 + np.exp((np.asarray(score, dtype=np.float64) - self.offset) / self.factor))

    def score_from_pd(self, pd):
        pd = np.clip(np.asarray(pd, dtype=np.float64), 1e-12, 1 - 1e-12)
        return self.offset + self.factor * np.log((1.0 - pd) / pd)


def whole_points(value: float) -> int:
    """Round raw points to a whole number, half to even (the one rounding of a scorecard)."""
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def quantile_bands(scores: np.ndarray, names=BAND_NAMES) -> list[dict]:
    """Default bands: equal shares of the development sample, best scores first (A = top fifth).

    Cut-offs are whole scores; repeated cut-offs (a lumpy score) are dropped with their band names.
    """
    scores = np.asarray(scores)
    shares = np.linspace(1.0, 0.0, len(names) + 1)[1:-1]  # 0.8, 0.6, ... for five bands
    cuts = [int(math.ceil(np.quantile(scores, s))) for s in shares] if len(scores) else []
    bands, previous = [], None
    for cut in cuts:
        if previous is not None and cut >= previous:
            continue
        bands.append({"band": names[len(bands)], "min_score": cut})
        previous = cut
    bands.append({"band": names[len(bands)], "min_score": None})
    return bands


def explicit_bands(min_scores, names=BAND_NAMES) -> list[dict]:
    """Bands from cut-offs given best first (``[650, 620, 590, 560]`` gives A..E)."""
    cuts = [int(v) for v in min_scores]
    if len(cuts) >= len(names):
        raise ValueError(f"at most {len(names) - 1} cut-offs")
    if any(b >= a for a, b in zip(cuts, cuts[1:])):
        raise ValueError("band cut-offs must fall strictly, best band first")
    return [{"band": n, "min_score": c} for n, c in zip(names, cuts)] + [{"band": names[len(cuts)], "min_score": None}]


def band_of(score: float, bands: list[dict]) -> str:
    for band in bands:
        if band["min_score"] is None or score >= band["min_score"]:
            return band["band"]
    return bands[-1]["band"]


def bands_of(scores: np.ndarray, bands: list[dict]) -> np.ndarray:
    """Vectorised ``band_of``."""
    cuts = np.array([b["min_score"] for b in bands[:-1]], dtype=np.float64)
    names = np.array([b["band"] for b in bands], dtype=object)
    # the cut-offs fall, so a score's band is the number of cut-offs above it
    position = np.searchsorted(-cuts, -np.asarray(scores, dtype=np.float64), side="left")
    return names[position]
