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

    categorical = False

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
            if isinstance(value, str) and "_" in value:
                raise ValueError  # Python reads 1_000, a batch (pandas) does not: refuse it
            number = float(value)
        except (TypeError, ValueError, OverflowError):
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
    categorical = True

    def __init__(self, spec: dict):
        super().__init__(spec)
        self.mapping = {value: i for i, b in enumerate(spec["bins"]) if b["kind"] == "categories"
                        for value in b["values"]}
        self.unseen_pos = int(spec["unseen_bin"])

    def position_of(self, value) -> int:
        if _is_missing(value):
            return self.missing_pos
        return self.mapping.get(category_text(value), self.unseen_pos)

    def is_unseen(self, value) -> bool:
        return not _is_missing(value) and category_text(value) not in self.mapping

    def positions(self, column: pd.Series) -> np.ndarray:
        try:
            return self._positions(column)
        except TypeError:  # lists, dicts: values no category can be
            raise ValidationError(f"{self.name} holds values that are not categories", code="invalid_feature_value",
                                  field=self.name) from None

    def _positions(self, column: pd.Series) -> np.ndarray:
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


def _refuse(message: str, field: str) -> None:
    raise ValidationError(message, code="invalid_model_artifact", field=field)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_scorecard(artifact: dict) -> None:
    """Refuse an artifact that would load but could not score every applicant (hand-edited or damaged):
    every problem is found here, at registration, not as a 500 on some applicant later."""
    if not _is_int(artifact.get("base_points")) or abs(artifact["base_points"]) > 10**6:
        _refuse("base_points must be a whole number of points", "base_points")
    bands = artifact.get("bands")
    if not isinstance(bands, list) or not bands or not all(isinstance(b, dict) for b in bands):
        _refuse("bands must be a list of {band, min_score}", "bands")
    cuts = [b.get("min_score") for b in bands]
    if not all(isinstance(b.get("band"), str) for b in bands) or cuts[-1] is not None \
            or not all(_is_int(c) for c in cuts[:-1]) or any(b >= a for a, b in zip(cuts[:-1], cuts[1:-1])):
        _refuse("bands need a name each and whole min_score cut-offs falling strictly, the last one null", "bands")
    features = artifact.get("features")
    if not isinstance(features, list):
        _refuse("features must be a list", "features")
    names = [f.get("name") if isinstance(f, dict) else None for f in features]
    if not all(isinstance(n, str) for n in names) or len(set(names)) < len(names):
        _refuse("every feature needs a name, and each name once", "features")
    for f in features:
        where = f"features.{f['name']}"
        bins = f.get("bins")
        if f.get("type") not in ("numeric", "categorical") or not isinstance(bins, list) or not bins:
            _refuse("a feature needs a type (numeric or categorical) and bins", where)
        if not all(isinstance(b, dict) and _is_int(b.get("points")) and isinstance(b.get("label", ""), str)
                   for b in bins):
            _refuse("every bin needs whole points", where)
        kinds = [b.get("kind") for b in bins]
        if kinds.count("missing") != 1:
            _refuse("a feature needs exactly one missing bin", where)
        if f["type"] == "numeric":
            ranges = [b for b in bins if b["kind"] == "range"]
            uppers = [b.get("upper") for b in ranges]
            if not ranges or set(kinds) - {"range", "special", "missing"} or kinds.count("special") > 1 \
                    or uppers[-1] is not None or not all(isinstance(u, (int, float)) and not isinstance(u, bool)
                                                         and math.isfinite(u) for u in uppers[:-1]) \
                    or any(b <= a for a, b in zip(uppers[:-1], uppers[1:-1])):
                _refuse("numeric bins must be ranges with rising upper edges (the last open), at most one special "
                        "bin and one missing bin", where)
            for b in bins:
                if b["kind"] == "special" and not (isinstance(b.get("values"), list) and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        for v in b["values"])):
                    _refuse("special values must be a list of finite numbers", where)
        else:
            if set(kinds) - {"categories", "missing"}:
                _refuse("categorical bins are categories and one missing bin", where)
            for b in bins:
                if b["kind"] == "categories" and not (isinstance(b.get("values"), list)
                                                      and all(isinstance(v, str) for v in b["values"])):
                    _refuse("category values must be a list of text", where)
            unseen = f.get("unseen_bin")
            if not _is_int(unseen) or not 0 <= unseen < len(bins):
                _refuse("unseen_bin must name one of the feature's bins", where)


class ScorecardModel:
    """Score applicants with a scorecard artifact (see ``docs/scoring.md`` for its format)."""

    def __init__(self, artifact: dict):
        if artifact.get("format") != SCORECARD_FORMAT:
            raise ValidationError("not a scorecard artifact", code="invalid_model_artifact", field="format")
        check_scorecard(artifact)
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
        return self.score_positions(self.bin_index(frame), len(frame))

    def score_positions(self, positions: dict[str, np.ndarray], rows: int) -> ScoredBatch:
        """Scores from bin positions already found (``bin_index``), so a caller that needs both bins once."""
        score = np.full(rows, self.base_points, dtype=np.int64)
        for f in self._features:
            score += f.points[positions[f.name]]
        return ScoredBatch(score=score, pd=self.scaling.pd_from_score(score), band=bands_of(score, self.bands))

    def score_one(self, applicant: Mapping[str, object], reasons: int = 4) -> Decision:
        """Score one applicant; the reasons are the variables that cost most points against their best bin."""
        total = self.base_points
        lost = []
        for f in self._features:
            value = applicant.get(f.name)
            pos = f.position_of(value)
            points = f.points_list[pos]
            total += points
            if points < f.max_points:
                label = f.labels[pos]
                if f.categorical and f.is_unseen(value):
                    label = f"{category_text(value)} (unseen, scored like {label})"
                lost.append((f.max_points - points, f.name, label, points))
        lost.sort(key=lambda item: (-item[0], item[1]))
        exponent = min(max((total - self._offset) / self._factor, -700.0), 700.0)  # no overflow at the extremes
        pd_value = 1.0 / (1.0 + math.exp(exponent))
        return Decision(score=total, pd=pd_value, band=band_of(total, self.bands),
                        reasons=tuple(Reason(name, label, points, missed)
                                      for missed, name, label, points in lost[:reasons]))

    def to_sql(self, **options) -> str:
        from microlend.scoring.export import scorecard_sql

        return scorecard_sql(self.artifact, **options)
