"""A gradient-boosting challenger ready to score, rebuilt from its JSON artifact alone.

The artifact carries LightGBM's own model text (``booster``, no pickle) and how each feature is fed to it
(``features``: numeric, or categorical with the categories learned in development). Scoring choices:
a feature absent from an applicant, ``None`` or NaN is missing and LightGBM routes it the way it learned;
a category never seen in development is scored as missing (its reasons say "unseen"); in a batch, text
that is not a number in a numeric feature counts as missing, for one applicant it is refused.

The score uses the scorecard's scaling (``score = offset - factor * log-odds of bad``, whole points rounded
half to even) and bands, so the two kinds of model read alike; ``pd`` is the model's own probability.
Reasons are the features whose contributions (LightGBM's ``pred_contrib``, in log-odds) pushed the
applicant's risk up the most.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightgbm
import numpy as np
import pandas as pd
from scipy.special import expit

from microlend.errors import ValidationError
from microlend.scoring.booster_text import check_booster_text
from microlend.scoring.model import ScoredBatch
from microlend.scoring.scaling import Scaling, band_of, bands_of

CHALLENGER_FORMAT = "microlend.challenger"
CHALLENGER_FORMAT_VERSION = 1
#: Keys ``ChallengerModel.from_artifact`` needs.
_REQUIRED = ("format", "format_version", "features", "booster", "scaling", "bands")


class ChallengerInputError(ValidationError, ValueError):
    """A ``ValidationError`` that is also a ``ValueError``, as scikit-learn expects of bad input."""


@dataclass(frozen=True)
class ChallengerReason:
    """One feature that raised the applicant's risk: its value and how much it added (log-odds of bad
    ``contribution``; ``points_lost`` = the same in score points)."""

    feature: str
    label: str
    contribution: float
    points_lost: float

    def to_dict(self) -> dict:
        return {"feature": self.feature, "value": self.label, "contribution": self.contribution,
                "points_lost": self.points_lost}


@dataclass(frozen=True)
class ChallengerDecision:
    score: int
    pd: float
    band: str
    reasons: tuple[ChallengerReason, ...]

    def to_dict(self) -> dict:
        return {"score": self.score, "pd": self.pd, "band": self.band,
                "reasons": [r.to_dict() for r in self.reasons]}


def is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return isinstance(value, (float, np.floating)) and math.isnan(value)
    except TypeError:  # pragma: no cover - exotic floats
        return False


def value_label(value) -> str:
    """How a raw value reads in a reason: whole numbers without decimals, others to 6 significant digits."""
    if is_missing(value):
        return "Missing"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.6g}"
    return str(value)


class FeatureCodec:
    """Turns columns (or one applicant) into the float matrix the booster was trained on: numbers as
    float64, categories as their code in the learned list, NaN for missing and unseen."""

    def __init__(self, features: Sequence[Mapping]):
        self.names = [str(f["name"]) for f in features]
        self.kinds = [f["type"] for f in features]
        for name, kind in zip(self.names, self.kinds):
            if kind not in ("numeric", "categorical"):
                raise ValidationError(f"feature {name!r} has unknown type {kind!r}", code="invalid_model_artifact",
                                      field=name)
        self.categories = {j: [str(c) for c in f.get("categories") or []] for j, f in enumerate(features)
                           if f["type"] == "categorical"}
        self._index = {j: pd.Index(cats, dtype=object) for j, cats in self.categories.items()}
        self._lookup = {j: {c: float(i) for i, c in enumerate(cats)} for j, cats in self.categories.items()}

    def _codes(self, j: int, column: pd.Series) -> np.ndarray:
        index = self._index[j]
        if isinstance(column.dtype, pd.CategoricalDtype):
            cats = column.cat.categories
            table = index.get_indexer(pd.Index([str(c) for c in cats], dtype=object))
            codes = column.cat.codes.to_numpy()
        else:
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            table = index.get_indexer(pd.Index([str(u) for u in uniques], dtype=object))
        table = np.append(table, -1).astype(np.float64)  # code -1 (missing) takes the last entry
        table[table < 0] = np.nan
        return table[codes]

    @staticmethod
    def _numbers(column: pd.Series) -> np.ndarray:
        if column.dtype.kind in "fiub" and not isinstance(column.dtype, pd.CategoricalDtype):
            return column.to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.to_numeric(column.astype(object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    def encode(self, columns: Sequence[pd.Series]) -> np.ndarray:
        n = len(columns[0]) if columns else 0
        out = np.empty((n, len(self.names)), dtype=np.float64)
        for j, column in enumerate(columns):
            out[:, j] = self._codes(j, column) if j in self._index else self._numbers(column)
        return out

    def encode_one(self, applicant: Mapping[str, object]) -> np.ndarray:
        row = np.empty((1, len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            value = applicant.get(name)
            if is_missing(value):
                row[0, j] = np.nan
            elif j in self._lookup:
                row[0, j] = self._lookup[j].get(str(value), np.nan)
            else:
                try:
                    if isinstance(value, str) and "_" in value:
                        raise ValueError
                    row[0, j] = float(value)
                except (TypeError, ValueError, OverflowError):
                    raise ValidationError(f"{name} must be a number", code="invalid_feature_value",
                                          field=name) from None
        return row

    def label(self, j: int, raw) -> str:
        """The reason label of feature ``j`` for the applicant's raw value."""
        if j in self._lookup and not is_missing(raw) and str(raw) not in self._lookup[j]:
            return f"{raw} (unseen, scored as missing)"
        return value_label(raw)


class ChallengerModel:
    """Score applicants with a challenger artifact (format ``microlend.challenger``)."""

    def __init__(self, artifact: dict, booster: lightgbm.Booster | None = None, n_jobs: int | None = 1):
        if not isinstance(artifact, dict) or artifact.get("format") != CHALLENGER_FORMAT:
            raise ValidationError("not a challenger artifact", code="invalid_model_artifact", field="format")
        for key in _REQUIRED:
            if key not in artifact:
                raise ValidationError(f"the challenger artifact has no {key!r}", code="invalid_model_artifact",
                                      field=key)
        if artifact["format_version"] != CHALLENGER_FORMAT_VERSION:
            raise ValidationError(f"unsupported format_version {artifact['format_version']!r}",
                                  code="invalid_model_artifact", field="format_version")
        self.artifact = artifact
        self.scaling = Scaling.from_dict(artifact["scaling"])
        self.bands = artifact["bands"]
        self.codec = FeatureCodec(artifact["features"])
        self.feature_names = list(self.codec.names)
        if booster is None:
            check_booster_text(artifact["booster"])
            try:
                booster = lightgbm.Booster(model_str=artifact["booster"])
            except lightgbm.basic.LightGBMError as exc:
                raise ValidationError(f"the booster text does not load: {exc}", code="invalid_model_artifact",
                                      field="booster") from None
        if booster.num_feature() != len(self.feature_names):
            raise ValidationError("the booster and the feature list disagree", code="invalid_model_artifact",
                                  field="features")
        self.booster = booster
        self._threads = {} if not n_jobs else {"num_threads": int(n_jobs)}
        self._factor, self._offset = self.scaling.factor, self.scaling.offset

    @classmethod
    def from_artifact(cls, artifact: dict, n_jobs: int | None = 1) -> ChallengerModel:
        """``n_jobs``: LightGBM threads per prediction (1 suits one applicant at a time; None = all cores)."""
        return cls(artifact, n_jobs=n_jobs)

    # ------------------------------------------------------------------ batches

    def columns(self, frame) -> list[pd.Series]:
        """The model's features of ``frame`` by name (a DataFrame) or by position (a 2-D array)."""
        if isinstance(frame, pd.DataFrame):
            missing = [name for name in self.feature_names if name not in frame.columns]
            if missing:
                raise ValidationError(f"the data has no column {missing[0]!r}, which the model needs",
                                      code="missing_feature", field=missing[0])
            return [frame[name] for name in self.feature_names]
        array = np.asarray(frame)
        if array.ndim != 2 or array.shape[1] != len(self.feature_names):
            raise ValidationError(f"expected a DataFrame or an array with {len(self.feature_names)} columns",
                                  code="invalid_input", field="frame")
        return [pd.Series(array[:, j]) for j in range(array.shape[1])]

    def raw_columns(self, columns: Sequence[pd.Series]) -> np.ndarray:
        """Log-odds of bad for encoded columns (positional, in the model's feature order)."""
        return self.booster.predict(self.codec.encode(columns), raw_score=True, **self._threads)

    def log_odds(self, frame) -> np.ndarray:
        return self.raw_columns(self.columns(frame))

    def scored(self, log_odds: np.ndarray) -> ScoredBatch:
        score = np.rint(self._offset - self._factor * log_odds).astype(np.int64)
        return ScoredBatch(score=score, pd=expit(log_odds), band=bands_of(score, self.bands))

    def score_frame(self, frame) -> ScoredBatch:
        """Score, probability of default and band of every row."""
        return self.scored(self.log_odds(frame))

    def reasons_columns(self, columns: Sequence[pd.Series], n: int = 4) -> list[tuple[ChallengerReason, ...]]:
        contrib = self.booster.predict(self.codec.encode(columns), pred_contrib=True, **self._threads)
        return [self._reasons(contrib[i, :-1], lambda j, i=i: columns[j].iloc[i], n) for i in range(len(contrib))]

    def explain(self, frame, n: int = 4) -> list[tuple[ChallengerReason, ...]]:
        """For each row, the ``n`` features that raised its log-odds of bad the most (positive ones only)."""
        return self.reasons_columns(self.columns(frame), n)

    def _reasons(self, contrib: np.ndarray, raw_of, n: int) -> tuple[ChallengerReason, ...]:
        if n <= 0:
            return ()
        order = np.argsort(-contrib, kind="stable")[:n]
        return tuple(ChallengerReason(self.feature_names[j], self.codec.label(j, raw_of(j)), float(contrib[j]),
                                      round(float(contrib[j]) * self._factor, 2))
                     for j in order if contrib[j] > 0)

    # ------------------------------------------------------------------ one applicant

    def score_one(self, applicant: Mapping[str, object], reasons: int = 4) -> ChallengerDecision:
        """Score one applicant (a mapping of feature name to value) with up to ``reasons`` reasons."""
        row = self.codec.encode_one(applicant)
        log_odds = float(self.booster.predict(row, raw_score=True, **self._threads)[0])
        found: tuple[ChallengerReason, ...] = ()
        if reasons > 0:
            contrib = self.booster.predict(row, pred_contrib=True, **self._threads)[0, :-1]
            found = self._reasons(contrib, lambda j: applicant.get(self.feature_names[j]), reasons)
        score = int(np.rint(self._offset - self._factor * log_odds))
        return ChallengerDecision(score=score, pd=float(expit(log_odds)), band=band_of(score, self.bands),
                                  reasons=found)
