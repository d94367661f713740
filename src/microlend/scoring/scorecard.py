"""The scorecard estimator: optimal binning, WoE, variable selection, logistic regression and points.

``Scorecard().fit(X, y)`` learns everything and leaves ``artifact_`` (readable JSON, see
``docs/scoring.md``) and ``model_`` (the ``ScorecardModel`` built from that artifact, which is what
scores). scikit-learn conventions: ``predict_proba`` gives the probability of the second class (the bad
one), ``decision_function`` its log-odds; ``points`` gives the score and ``explain`` the reasons.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from microlend.scoring.compress import group_rows
from microlend.scoring.frames import binary_target, to_frame
from microlend.scoring.model import SCORECARD_FORMAT, ScorecardModel
from microlend.scoring.scaling import Scaling, explicit_bands, quantile_bands, whole_points
from microlend.scoring.selection import drop_correlated, fit_with_right_signs, stepwise
from microlend.scoring.woe_transformer import WoETransformer

FORMAT_VERSION = 1
BINNING_PARAMS = ("max_prebins", "min_bin_share", "min_bin_events", "min_bin_nonevents", "max_bins", "trend",
                  "turn_gain", "min_rate_diff", "min_category_share", "unseen", "categorical_features",
                  "special_codes")


class Scorecard(ClassifierMixin, BaseEstimator):
    """An explainable application scorecard (binning -> WoE -> logistic regression -> points)."""

    def __init__(self, *, max_prebins: int = 20, min_bin_share: float = 0.05, min_bin_events: int = 5,
                 min_bin_nonevents: int = 5, max_bins: int | None = None, trend: str = "auto",
                 turn_gain: float = 0.10, min_rate_diff: float = 0.0, min_category_share: float = 0.01,
                 unseen: str = "worst",
                 categorical_features: list[str] | None = None, special_codes: dict | None = None,
                 bad_label=None,
                 min_iv: float = 0.02, max_corr: float = 0.7, use_stepwise: bool = False,
                 max_features: int | None = None, C: float = 1.0, base_score: float = 600,
                 base_odds: float = 50, pdo: float = 20, bands: list[int] | None = None):
        self.max_prebins = max_prebins
        self.min_bin_share = min_bin_share
        self.min_bin_events = min_bin_events
        self.min_bin_nonevents = min_bin_nonevents
        self.max_bins = max_bins
        self.trend = trend
        self.turn_gain = turn_gain
        self.min_rate_diff = min_rate_diff
        self.min_category_share = min_category_share
        self.unseen = unseen
        self.categorical_features = categorical_features
        self.special_codes = special_codes
        self.bad_label = bad_label
        self.min_iv = min_iv
        self.max_corr = max_corr
        self.use_stepwise = use_stepwise
        self.max_features = max_features
        self.C = C
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.bands = bands

    # --- fitting -------------------------------------------------------------------------------------
    def fit(self, X, y):
        frame = to_frame(self, X, reset=True)
        self.classes_, y01 = binary_target(y, self.bad_label)
        if len(y01) != len(frame):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y01)}")
        if not (0 <= self.min_iv < np.inf and 0 < self.max_corr <= 1 and self.C > 0):
            raise ValueError("min_iv must be >= 0, max_corr in (0, 1] and C > 0")
        scaling = Scaling(float(self.base_score), float(self.base_odds), float(self.pdo))
        self.binning_ = WoETransformer(**{k: getattr(self, k) for k in BINNING_PARAMS})
        self.binning_._fit_frame(frame, y01)
        features = self.binning_.features_
        selection = {f["name"]: {"name": f["name"], "iv": f["iv"], "selected": False} for f in features}

        ranked = sorted(features, key=lambda f: -f["iv"])
        candidates = []
        for f in ranked:
            if len(f["bins"]) < 2 or f["iv"] <= 0:
                selection[f["name"]]["reason"] = "no_information"
            elif f["iv"] < self.min_iv and candidates:
                selection[f["name"]]["reason"] = "iv_below_threshold"
            elif f["iv"] < self.min_iv and f is not ranked[0]:
                selection[f["name"]]["reason"] = "iv_below_threshold"
            else:
                candidates.append(f["name"])
        positions = self.binning_._train_positions
        sizes = {f["name"]: len(f["bins"]) for f in features}
        groups = group_rows([positions[n] for n in candidates], [sizes[n] for n in candidates], y01)
        if groups is None:
            woe, y_fit, weight = self.binning_._woe_matrix(frame, candidates, positions), y01, None
        else:  # same fit on distinct (bins, label) pairs, weighted by their row counts
            woe = self.binning_._woe_matrix(frame, candidates, {n: positions[n][groups.rows] for n in candidates})
            y_fit, weight = groups.y, groups.weight

        kept, correlated = drop_correlated(woe, candidates, self.max_corr, weight)
        for k, (partner, corr) in correlated.items():
            selection[candidates[k]].update(reason="correlated", correlated_with=partner, correlation=corr)
        if self.use_stepwise and kept:
            chosen = stepwise(woe[:, kept], y_fit, self.C, self.max_features, weight)
            for pos, k in enumerate(kept):
                if pos not in chosen:
                    selection[candidates[k]]["reason"] = "not_chosen_by_stepwise"
            kept = [kept[pos] for pos in sorted(chosen)]
        elif self.max_features is not None:
            for k in kept[self.max_features:]:
                selection[candidates[k]]["reason"] = "beyond_max_features"
            kept = kept[: self.max_features]
        model, kept, wrong = fit_with_right_signs(woe, y_fit, kept, self.C, weight)
        for k in wrong:
            selection[candidates[k]]["reason"] = "wrong_sign"

        if model is None:
            rate = float(np.clip(y01.mean(), 1e-9, 1 - 1e-9))
            intercept, coefs = float(np.log(rate / (1 - rate))), []
        else:
            intercept, coefs = float(model.intercept_[0]), [float(c) for c in model.coef_[0]]
        by_name = {f["name"]: f for f in features}
        chosen_features = []
        for k, beta in zip(kept, coefs):
            name = candidates[k]
            selection[name]["selected"] = True
            selection[name].pop("reason", None)
            spec = {**by_name[name], "coefficient": beta}
            spec["bins"] = [{**b, "points": whole_points(-scaling.factor * beta * b["woe"])} for b in spec["bins"]]
            chosen_features.append(spec)

        artifact = {
            "format": SCORECARD_FORMAT, "format_version": FORMAT_VERSION, "kind": "scorecard",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "target": {"column": getattr(y, "name", None), "bad": _plain(self.classes_[1])},
            "training": {"rows": int(len(frame)), "bads": int(y01.sum()), "fingerprint": fingerprint(self.binning_._train_values, y01),
                         "columns": list(frame.columns)},
            "scaling": scaling.to_dict(), "intercept": intercept,
            "base_points": whole_points(scaling.offset - scaling.factor * intercept),
            "features": chosen_features,
            "bands": [{"band": "A", "min_score": None}],
            "parameters": _jsonable(self.get_params()),
            "selection": [selection[f["name"]] for f in ranked],
            "notes": [],
        }
        score = np.full(len(frame), artifact["base_points"], dtype=np.int64)
        for spec in chosen_features:
            score += np.array([b["points"] for b in spec["bins"]], dtype=np.int64)[positions[spec["name"]]]
        del self.binning_._train_positions, self.binning_._train_values
        has_bands = self.bands is not None and len(self.bands) > 0
        artifact["bands"] = explicit_bands(list(self.bands)) if has_bands else quantile_bands(score)
        artifact["development"] = development_summary(score, y01)
        self.artifact_ = artifact
        self.model_ = ScorecardModel(artifact)
        return self

    # --- using it ------------------------------------------------------------------------------------
    def _scored(self, X):
        check_is_fitted(self, "model_")
        return self.model_.score_frame(to_frame(self, X, reset=False))

    def points(self, X) -> np.ndarray:
        """The score of each row (whole points; higher is safer)."""
        return self._scored(X).score

    def predict_proba(self, X) -> np.ndarray:
        pd_bad = self._scored(X).pd
        return np.column_stack([1.0 - pd_bad, pd_bad])

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of bad, from the score: (offset - score) / factor."""
        scaling = self.model_.scaling if hasattr(self, "model_") else None
        score = self._scored(X).score
        return (scaling.offset - score) / scaling.factor

    def predict(self, X) -> np.ndarray:
        pd_bad = self._scored(X).pd
        return self.classes_[(pd_bad >= 0.5).astype(int)]

    def explain(self, applicant: dict, reasons: int = 4):
        """Score one applicant (a mapping of feature to value) with reason codes."""
        check_is_fitted(self, "model_")
        return self.model_.score_one(applicant, reasons=reasons)

    def points_table(self) -> pd.DataFrame:
        """One row per feature and bin: the scorecard as a risk officer reads it."""
        check_is_fitted(self, "model_")
        rows = [{"feature": f["name"], "bin": b["label"], "count": b["count"], "events": b["events"],
                 "woe": b["woe"], "points": b["points"]} for f in self.artifact_["features"] for b in f["bins"]]
        return pd.DataFrame(rows, columns=["feature", "bin", "count", "events", "woe", "points"])

    def to_artifact(self, *, target: dict | None = None, notes: list[str] | None = None) -> dict:
        """The artifact, with the target's description and data notes filled in when given."""
        check_is_fitted(self, "artifact_")
        artifact = dict(self.artifact_)
        if target is not None:
            artifact["target"] = target
        if notes:
            artifact["notes"] = list(artifact.get("notes", [])) + list(notes)
        return artifact

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        return tags


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _jsonable(value):
    """Parameters as plain JSON values (numpy arrays and scalars, tuples and dicts included)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return _plain(value)


def fingerprint(columns: dict, y01: np.ndarray) -> str:
    """A hash of the training data and target, to tell later which data a model learnt from: per column
    its name, then its numbers (float64) or its category codes and the categories' text."""
    digest = hashlib.sha256()
    for name, values in columns.items():
        digest.update(b"\x1e" + str(name).encode())
        if isinstance(values, tuple):
            codes, labels = values
            digest.update(np.ascontiguousarray(codes, dtype=np.int64).tobytes())
            digest.update("\x1f".join(labels).encode())
        else:
            digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    digest.update(b"\x1d" + np.ascontiguousarray(y01, dtype=np.int8).tobytes())
    return "sha256:" + digest.hexdigest()


def development_summary(score: np.ndarray, y01: np.ndarray) -> dict:
    """Score deciles and their counts (the baseline for PSI) and AUC/Gini/KS on the development sample,
    computed exactly from counts per whole score."""
    inner = np.unique(np.quantile(score, np.linspace(0.1, 0.9, 9))) if len(score) else np.empty(0)
    edges = [float(e) for e in inner]
    counts = np.bincount(np.searchsorted(inner, score, side="right"), minlength=len(edges) + 1)
    low = int(score.min()) if len(score) else 0
    shifted = score - low
    bads = np.bincount(shifted, weights=y01, minlength=1)
    goods = np.bincount(shifted, weights=1 - y01, minlength=1)
    total_bad, total_good = bads.sum(), goods.sum()
    metrics = {"auc": None, "gini": None, "ks": None}
    if total_bad > 0 and total_good > 0:
        # AUC: chance a bad scores below a good (ties count half); scores run low = risky
        goods_above = total_good - np.cumsum(goods)
        auc = float((bads * (goods_above + 0.5 * goods)).sum() / (total_bad * total_good))
        ks = float(np.max(np.abs(np.cumsum(bads) / total_bad - np.cumsum(goods) / total_good)))
        metrics = {"auc": auc, "gini": 2 * auc - 1, "ks": ks}
    return {"score_edges": edges, "score_counts": [int(c) for c in counts], "metrics": metrics}
