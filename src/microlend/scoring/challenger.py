"""The gradient-boosting challenger: a LightGBM model on the scorecard's data, to show how much accuracy the
explainable scorecard leaves on the table, with optional monotone constraints and per-decision reasons.

Defaults are chosen for credit data (thousands of rows, a few per cent to a few tens of per cent bads): small
trees (7 leaves), a low learning rate (0.03), at least 50 rows per leaf, row and feature subsampling, L2
regularisation, and early stopping: 20% of the rows (stratified) pick the number of rounds by AUC, then the
model is refitted on all rows with that many rounds. Without enough rows for a validation part (fewer than
10 of either class in it) all ``n_estimators`` rounds are used and the artifact notes it.

Input: see ``challenger_data`` (DataFrames with text, categoricals and gaps, or arrays). Categories are
learned at fit; a category never seen then is scored as missing. Training is deterministic (LightGBM's
``deterministic`` with column-wise histograms and a fixed ``random_state``): the same data and parameters give
the same model whatever ``n_jobs``, the LightGBM threads for fitting and predicting: 1 by default (fastest for
data of credit-file size and for one applicant at a time); raise it for millions of rows, None = LightGBM's
default (all cores).

``target={"column": ..., "bad": ...}`` (a parameter, a ``fit`` keyword, or the ``target_`` attribute later)
names the bad class and goes into the artifact; without it the bad class is the second in sorted order.
``decision_function`` is the log-odds of bad, ``predict_proba`` follows ``classes_``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from datetime import datetime, timezone

import lightgbm
import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from microlend.scoring import metrics
from microlend.scoring.challenger_data import (
    binary_target,
    columns_of,
    feature_kind,
    fingerprint,
    input_frame,
    learned_categories,
    plain,
)
from microlend.scoring.challenger_model import (
    CHALLENGER_FORMAT,
    CHALLENGER_FORMAT_VERSION,
    ChallengerDecision,
    ChallengerInputError,
    ChallengerModel,
    ChallengerReason,
    FeatureCodec,
)
from microlend.scoring.scaling import Scaling, explicit_bands, quantile_bands

__all__ = ["Challenger", "ChallengerDecision", "ChallengerInputError", "ChallengerModel", "ChallengerReason"]

#: Early stopping needs at least this many rows of each class in the validation part.
MIN_VALIDATION_CLASS_ROWS = 10


class Challenger(ClassifierMixin, BaseEstimator):
    """LightGBM credit model with scorecard-style scores, bands, reasons and a JSON artifact.

    Parameters mirror LightGBM's scikit-learn names (``min_child_samples`` = ``min_data_in_leaf`` ...).
    ``monotone_constraints``: ``{feature: +1 or -1}``, +1 = risk rises with the feature (numeric features only).
    ``bands``: cut-offs best first (``[650, 620, 590, 560]``) or band dicts; default: development quintiles.
    """

    def __init__(self, *, n_estimators=2000, learning_rate=0.03, num_leaves=7, max_depth=-1, min_child_samples=50,
                 subsample=0.8, colsample_bytree=0.6, reg_alpha=0.0, reg_lambda=5.0, cat_smooth=20.0,
                 min_data_per_group=50, max_bin=255, validation_fraction=0.2, early_stopping_rounds=100, refit=True,
                 monotone_constraints=None, target=None, bands=None, base_score=600.0, base_odds=50.0, pdo=20.0,
                 random_state=0, n_jobs=1):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.cat_smooth = cat_smooth
        self.min_data_per_group = min_data_per_group
        self.max_bin = max_bin
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.refit = refit
        self.monotone_constraints = monotone_constraints
        self.target = target
        self.bands = bands
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y, target=None):
        """Fit on ``X`` (DataFrame or array) and a two-class ``y``; ``target`` overrides the parameter."""
        frame = input_frame(self, X, reset=True)
        names = [str(c) for c in self.feature_names_in_] if hasattr(self, "feature_names_in_") \
            else [f"x{j}" for j in range(frame.shape[1])]
        spec = _target_spec(target if target is not None else self.target)
        classes, bad_index, y_bad = binary_target(y, len(frame), spec)
        self._check_params()
        columns = columns_of(frame)
        features = []
        for name, column in zip(names, columns):
            kind = feature_kind(name, column)
            features.append({"name": name, "type": kind} if kind == "numeric"
                            else {"name": name, "type": kind, "categories": learned_categories(column)})
        monotone = self._constraints(features)
        codec = FeatureCodec(features)
        matrix = codec.encode(columns)
        seed = self._seed()
        params = self._lightgbm_params(seed, monotone)
        cats = [j for j, f in enumerate(features) if f["type"] == "categorical"]
        booster, stopping, notes = self._train(matrix, y_bad, cats, params, seed)

        scaling = Scaling(float(self.base_score), float(self.base_odds), float(self.pdo))
        log_odds = booster.predict(matrix, raw_score=True, **_threads(self.n_jobs))
        score = np.rint(scaling.offset - scaling.factor * log_odds).astype(np.int64)
        gain = booster.feature_importance("gain")
        total_gain = float(gain.sum()) or 1.0
        for j, feature in enumerate(features):
            feature["monotone"] = monotone[j]
            feature["importance"] = round(float(gain[j]) / total_gain, 6)
        column = spec.get("column") if spec else None
        if column is None and getattr(y, "name", None) is not None:
            column = str(y.name)
        self.classes_ = classes
        self.bad_class_ = classes[bad_index]
        self.target_ = {"column": column, "bad": plain(self.bad_class_)}
        self.feature_names_ = names
        self.booster_ = booster
        self.best_iteration_ = int(booster.current_iteration())
        artifact = {
            "format": CHALLENGER_FORMAT, "format_version": CHALLENGER_FORMAT_VERSION, "kind": "challenger",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "target": dict(self.target_),
            "training": {"rows": int(len(frame)), "bads": int(y_bad.sum()),
                         "fingerprint": fingerprint(frame, names, y_bad), "columns": names},
            "scaling": scaling.to_dict(),
            "features": features,
            "monotone_constraints": {f["name"]: f["monotone"] for f in features if f["monotone"]},
            "parameters": {k: _jsonable(v) for k, v in self.get_params().items()},
            "lightgbm": {k: v for k, v in params.items() if k != "num_threads"},
            "best_iteration": self.best_iteration_,
            "early_stopping": stopping,
            "bands": self._bands(score),
            "development": _development(score, y_bad, stopping.get("validation_auc")),
            "booster": booster.model_to_string(),
            "notes": notes,
        }
        self.model_ = ChallengerModel(artifact, booster=booster, n_jobs=self.n_jobs)
        return self

    def _check_params(self):
        def need(ok: bool, name: str, what: str):
            if not ok:
                raise ChallengerInputError(f"{name} must be {what}, got {getattr(self, name)!r}",
                                           code="invalid_parameter", field=name)

        need(_int(self.n_estimators) and self.n_estimators >= 1, "n_estimators", "an integer >= 1")
        need(_num(self.learning_rate) and self.learning_rate > 0, "learning_rate", "positive")
        need(_int(self.num_leaves) and self.num_leaves >= 2, "num_leaves", "an integer >= 2")
        need(_int(self.min_child_samples) and self.min_child_samples >= 1, "min_child_samples", "an integer >= 1")
        need(_num(self.subsample) and 0 < self.subsample <= 1, "subsample", "in (0, 1]")
        need(_num(self.colsample_bytree) and 0 < self.colsample_bytree <= 1, "colsample_bytree", "in (0, 1]")
        need(self.validation_fraction is None or (_num(self.validation_fraction) and 0 <= self.validation_fraction < 1),
             "validation_fraction", "None or in [0, 1)")
        need(_int(self.early_stopping_rounds) and self.early_stopping_rounds >= 1, "early_stopping_rounds",
             "an integer >= 1")
        need(_num(self.pdo) and self.pdo > 0, "pdo", "positive")
        need(_num(self.base_odds) and self.base_odds > 0, "base_odds", "positive")
        need(_num(self.base_score) and np.isfinite(self.base_score), "base_score", "a finite number")

    def _constraints(self, features: list[dict]) -> list[int]:
        given = self.monotone_constraints or {}
        if not isinstance(given, Mapping):
            raise ChallengerInputError("monotone_constraints must map feature names to +1 or -1",
                                       code="invalid_monotone_constraint", field="monotone_constraints")
        kinds = {f["name"]: f["type"] for f in features}
        for name, direction in given.items():
            if name not in kinds:
                raise ChallengerInputError(f"monotone constraint on {name!r}, which is not a feature",
                                           code="invalid_monotone_constraint", field=str(name))
            if kinds[name] != "numeric":
                raise ChallengerInputError(f"monotone constraint on {name!r}, which is categorical (constraints "
                                           "need a numeric feature)", code="invalid_monotone_constraint", field=name)
            if isinstance(direction, bool) or direction not in (-1, 0, 1):
                raise ChallengerInputError(f"monotone constraint on {name!r} must be +1, -1 or 0, got {direction!r}",
                                           code="invalid_monotone_constraint", field=name)
        return [int(given.get(f["name"], 0)) for f in features]

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _lightgbm_params(self, seed: int, monotone: list[int]) -> dict:
        params = {
            "objective": "binary", "learning_rate": float(self.learning_rate), "num_leaves": int(self.num_leaves),
            "max_depth": int(self.max_depth), "min_data_in_leaf": int(self.min_child_samples),
            "min_sum_hessian_in_leaf": 1e-3, "bagging_fraction": float(self.subsample),
            "bagging_freq": 1 if self.subsample < 1 else 0, "feature_fraction": float(self.colsample_bytree),
            "lambda_l1": float(self.reg_alpha), "lambda_l2": float(self.reg_lambda),
            "cat_smooth": float(self.cat_smooth), "min_data_per_group": int(self.min_data_per_group),
            "max_bin": int(self.max_bin), "seed": seed, "deterministic": True, "force_col_wise": True,
            "verbosity": -1, **_threads(self.n_jobs),
        }
        if any(monotone):
            params.update(monotone_constraints=monotone, monotone_constraints_method="intermediate")
        return params

    def _train(self, matrix: np.ndarray, y_bad: np.ndarray, cats: list[int], params: dict, seed: int):
        data = {"categorical_feature": cats, "feature_name": [f"f{j}" for j in range(matrix.shape[1])],
                "params": {"max_bin": params["max_bin"], "verbosity": -1}}
        n, bads = len(y_bad), int(y_bad.sum())
        fraction = self.validation_fraction or 0.0
        if fraction and min(bads, n - bads) * fraction >= MIN_VALIDATION_CLASS_ROWS:
            fit_rows, valid_rows = train_test_split(np.arange(n), test_size=fraction, stratify=y_bad,
                                                    random_state=seed)
            train = lightgbm.Dataset(matrix[fit_rows], y_bad[fit_rows], **data)
            valid = lightgbm.Dataset(matrix[valid_rows], y_bad[valid_rows], reference=train)
            stop = lightgbm.early_stopping(int(self.early_stopping_rounds), first_metric_only=True, verbose=False)
            booster = lightgbm.train({**params, "metric": "auc"}, train, num_boost_round=int(self.n_estimators),
                                     valid_sets=[valid], callbacks=[stop])
            rounds = int(booster.best_iteration or booster.current_iteration())
            stopping = {"used": True, "validation_rows": int(len(valid_rows)), "rounds": rounds,
                        "validation_auc": float(booster.best_score["valid_0"]["auc"]), "refit": bool(self.refit)}
            if self.refit:
                booster = lightgbm.train(params, lightgbm.Dataset(matrix, y_bad, **data), num_boost_round=rounds)
            else:
                booster = lightgbm.Booster(model_str=booster.model_to_string(num_iteration=rounds))
            return booster, stopping, []
        booster = lightgbm.train(params, lightgbm.Dataset(matrix, y_bad, **data), num_boost_round=int(self.n_estimators))
        note = "no early stopping: " + ("validation_fraction is off" if not fraction else
                                        f"too few rows of one class for a validation part ({min(bads, n - bads)})")
        return booster, {"used": False, "rounds": int(booster.current_iteration()), "validation_auc": None}, [note]

    def _bands(self, score: np.ndarray) -> list[dict]:
        bands = self.bands
        try:
            if bands is None:
                return quantile_bands(score)
            if all(isinstance(b, Mapping) for b in bands):
                cuts = [b["min_score"] for b in bands]
                names = tuple(str(b["band"]) for b in bands)
                if cuts[-1] is not None or any(c is None for c in cuts[:-1]):
                    raise ValueError("only the last band has min_score null")
                return explicit_bands(cuts[:-1], names)
            return explicit_bands(list(bands))
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise ChallengerInputError(f"bad bands: {exc}", code="invalid_bands", field="bands") from None

    # ------------------------------------------------------------------ predicting

    def _columns(self, X):
        check_is_fitted(self)
        return columns_of(input_frame(self, X, reset=False))

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of the bad class (``bad_class_``)."""
        columns = self._columns(X)
        return self.model_.raw_columns(columns)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities in the order of ``classes_``."""
        log_odds = self.decision_function(X)
        bad = int(np.flatnonzero(self.classes_ == self.bad_class_)[0])
        proba = np.empty((len(log_odds), 2))
        proba[:, bad], proba[:, 1 - bad] = expit(log_odds), expit(-log_odds)
        return proba

    def predict(self, X) -> np.ndarray:
        log_odds = self.decision_function(X)
        bad = int(np.flatnonzero(self.classes_ == self.bad_class_)[0])
        return self.classes_[np.where(log_odds > 0, bad, 1 - bad)]

    def reasons(self, X, n: int = 4) -> list[tuple[ChallengerReason, ...]]:
        """For each row, up to ``n`` features that raised its log-odds of bad the most, largest first."""
        columns = self._columns(X)
        return self.model_.reasons_columns(columns, n)

    def to_artifact(self) -> dict:
        """The JSON-able artifact (format ``microlend.challenger``), with the current ``target_``."""
        check_is_fitted(self)
        artifact = copy.deepcopy(self.model_.artifact)
        artifact["target"] = {k: plain(v) for k, v in dict(self.target_).items()} if self.target_ else None
        return artifact


def _target_spec(target) -> dict | None:
    if target is None:
        return None
    if not isinstance(target, Mapping) or not set(target) <= {"column", "bad"} or \
            not (target.get("column") is None or isinstance(target.get("column"), str)):
        raise ChallengerInputError('target must look like {"column": "Status", "bad": "bad"}', code="invalid_target",
                                   field="target")
    return dict(target)


def _development(score: np.ndarray, y_bad: np.ndarray, validation_auc) -> dict:
    """Development score deciles (whole-point edges, bin i = edges[i-1] <= s < edges[i]) and in-sample metrics."""
    edges = np.unique(np.ceil(np.quantile(score, np.linspace(0.1, 0.9, 9))))
    counts = np.bincount(np.searchsorted(edges, score, side="right"), minlength=len(edges) + 1)
    risk = -score
    auc = metrics.auc(y_bad, risk)
    return {"score_edges": [float(e) for e in edges], "score_counts": [int(c) for c in counts],
            "metrics": {"auc": auc, "gini": 2 * auc - 1, "ks": metrics.ks(y_bad, risk).value},
            "validation_auc": validation_auc}


def _threads(n_jobs) -> dict:
    n = 0 if n_jobs is None else int(n_jobs)
    if n == 0:
        return {}
    return {"num_threads": n if n > 0 else max((os.cpu_count() or 1) + 1 + n, 1)}


def _int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _num(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _jsonable(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)
