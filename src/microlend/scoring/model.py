"""A scorecard ready to score: built from its JSON artifact alone, so what the registry stores is exactly
what scores. Two paths share the same bins and points: arrays for batches (``score_frame``) and plain
Python for one applicant with reasons (``score_one``, tens of microseconds).

Scoring choices (documented in ``docs/scoring.md``): a feature absent from an applicant, ``None`` or NaN
is missing; in a batch, text that is not a number in a numeric feature counts as missing; a category
never seen in development scores like the bin the artifact names for it (``unseen``).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from microlend.errors import ValidationError
from microlend.scoring.binning import category_text
from microlend.scoring.scaling import Scaling, band_of, bands_of

SCORECARD_FORMAT = "microlend.scorecard"


@dataclass(frozen=True)
class Reason:
    """One reason code: a variable that cost the applicant points against its best bin."""

    feature: str
    label: str
    points: int
    points_lost: int

    def to_dict(self) -> dict:
        return {"feature": self.feature, "label": self.label, "points": self.points, "points_lost": self.points_lost}


@dataclass(frozen=True)
class Decision:
    score: int
    pd: float
    band: str
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict:
        return {"score": self.score, "pd": self.pd, "band": self.band,
                "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True)
class ScoredBatch:
    score: np.ndarray
    pd: np.ndarray
    band: np.ndarray


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT


class _Feature:
    """Bins and points of one variable, laid out for fast lookups."""

    def __init__(self, spec: dict):
        self.name = spec["name"]
        bins = spec["bins"]
        self.labels = [b["label"] for b in bins]
        self.points_list = [int(b["points"]) for b in bins]
        self.points = np.array(self.points_list, dtype=np.int64)
        self.max_points = max(self.points_list)
        self.missing_pos = next(i for i, b in enumerate(bins) if b["kind"] == "missing")


class _NumericFeature(_Feature):
    def __init__(self, spec: dict):
        super().__init__(spec)
        ranges = [b for b in spec["bins"] if b["kind"] == "range"]
        self.edge_list = [float(b["upper"]) for b in ranges[:-1]]
        self.edges = np.array(self.edge_list, dtype=np.float64)
        special = [(i, b) for i, b in enumerate(spec["bins"]) if b["kind"] == "special"]
        self.special_pos = special[0][0] if special else None
        self.special_values = frozenset(float(v) for v in special[0][1]["values"]) if special else frozenset()
        self.special_array = np.array(sorted(self.special_values), dtype=np.float64)

    def position_of(self, value) -> int:
        if _is_missing(value):
            return self.missing_pos
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"{self.name} must be a number", code="invalid_feature_value",
                                  field=self.name) from None
        if math.isnan(number):
            return self.missing_pos
        if number in self.special_values:
            return self.special_pos
        return bisect_right(self.edge_list, number)

    def positions(self, column: pd.Series) -> np.ndarray:
        if column.dtype.kind in "fiub":
            x = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            x = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        position = np.searchsorted(self.edges, x, side="right")
        position[np.isnan(x)] = self.missing_pos
        if self.special_pos is not None:
            position[np.isin(x, self.special_array)] = self.special_pos
        return position


class _CategoricalFeature(_Feature):
    def __init__(self, spec: dict):
        super().__init__(spec)
        self.mapping = {value: i for i, b in enumerate(spec["bins"]) if b["kind"] == "categories"
                        for value in b["values"]}
        self.unseen_pos = int(spec["unseen_bin"])

    def position_of(self, value) -> int:
        if _is_missing(value):
            return self.missing_pos
        return self.mapping.get(category_text(value), self.unseen_pos)

    def positions(self, column: pd.Series) -> np.ndarray:
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy()
            lookup = np.array([self.mapping.get(category_text(c), self.unseen_pos)
                               for c in column.cat.categories] +
                              [self.missing_pos], dtype=np.int64)
            return lookup[codes]  # code -1 (missing) takes the last entry
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        lookup = np.array([self.mapping.get(category_text(u), self.unseen_pos) for u in uniques] + [self.missing_pos],
                          dtype=np.int64)
        return lookup[codes]


class ScorecardModel:
    """Score applicants with a scorecard artifact (see ``docs/scoring.md`` for its format)."""

    def __init__(self, artifact: dict):
        if artifact.get("format") != SCORECARD_FORMAT:
            raise ValidationError("not a scorecard artifact", code="invalid_model_artifact", field="format")
        self.artifact = artifact
        self.scaling = Scaling.from_dict(artifact["scaling"])
        self.bands = artifact["bands"]
        self.base_points = int(artifact["base_points"])
        self._features = [_NumericFeature(f) if f["type"] == "numeric" else _CategoricalFeature(f)
                          for f in artifact["features"]]
        self.feature_names = [f.name for f in self._features]
        self._factor, self._offset = self.scaling.factor, self.scaling.offset

    @classmethod
    def from_artifact(cls, artifact: dict) -> ScorecardModel:
        return cls(artifact)

    def _column(self, frame: pd.DataFrame, name: str) -> pd.Series:
        if name not in frame.columns:
            raise ValidationError(f"the data has no column {name!r}, which the model needs",
                                  code="missing_feature", field=name)
        return frame[name]

    def bin_index(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each row's bin position within every feature's ``bins``."""
        return {f.name: f.positions(self._column(frame, f.name)) for f in self._features}

    def points_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Points per row and feature (rows x features, int64), the score's parts."""
        return np.column_stack([f.points[f.positions(self._column(frame, f.name))] for f in self._features]) \
            if self._features else np.zeros((len(frame), 0), dtype=np.int64)

    def score_frame(self, frame: pd.DataFrame) -> ScoredBatch:
        score = np.full(len(frame), self.base_points, dtype=np.int64)
        for f in self._features:
            score += f.points[f.positions(self._column(frame, f.name))]
        return ScoredBatch(score=score, pd=self.scaling.pd_from_score(score), band=bands_of(score, self.bands))

    def score_one(self, applicant: Mapping[str, object], reasons: int = 4) -> Decision:
        """Score one applicant; the reasons are the variables that cost most points against their best bin."""
        total = self.base_points
        lost = []
        for f in self._features:
            pos = f.position_of(applicant.get(f.name))
            points = f.points_list[pos]
            total += points
            if points < f.max_points:
                lost.append((f.max_points - points, f.name, f.labels[pos], points))
        lost.sort(key=lambda item: (-item[0], item[1]))
        pd_value = 1.0 / (1.0 + math.exp((total - self._offset) / self._factor))
        return Decision(score=total, pd=pd_value, band=band_of(total, self.bands),
                        reasons=tuple(Reason(name, label, points, missed)
                                      for missed, name, label, points in lost[:reasons]))

    def to_sql(self, **options) -> str:
        from microlend.scoring.export import scorecard_sql

        return scorecard_sql(self.artifact, **options)
