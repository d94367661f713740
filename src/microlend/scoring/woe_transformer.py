"""The WoE transformer: optimal binning of every column, then each value replaced by its bin's WoE.

A scikit-learn transformer, usable alone (``WoETransformer().fit(X, y).transform(X)``) or as the first
stage of the scorecard. Fitted state: ``features_`` (the artifact form of every column's bins, with WoE
and IV) and ``iv_`` (IV by column).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from microlend.scoring.binning import BinningParams, bin_categorical, bin_numeric, category_codes
from microlend.scoring.frames import binary_target, feature_kinds, numeric_values, to_frame
from microlend.scoring.model import _CategoricalFeature, _NumericFeature

#: Columns are binned on this many threads when the sample has at least ``PARALLEL_ROWS`` rows.
BINNING_THREADS = min(4, os.cpu_count() or 1)
PARALLEL_ROWS = 100_000


class WoETransformer(TransformerMixin, BaseEstimator):
    """Bin each column optimally (see ``binning.py``) and encode it by weight of evidence."""

    def __init__(self, *, max_prebins: int = 20, min_bin_share: float = 0.05, min_bin_events: int = 5,
                 min_bin_nonevents: int = 5, max_bins: int | None = None, trend: str = "auto",
                 turn_gain: float = 0.10, min_rate_diff: float = 0.0, min_category_share: float = 0.01,
                 unseen: str = "worst",
                 categorical_features: list[str] | None = None, special_codes: dict | None = None,
                 bad_label=None):
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

    def _params(self) -> BinningParams:
        params = BinningParams(max_prebins=self.max_prebins, min_bin_share=self.min_bin_share,
                               min_bin_events=self.min_bin_events, min_bin_nonevents=self.min_bin_nonevents,
                               max_bins=self.max_bins, trend=self.trend, turn_gain=self.turn_gain,
                               min_rate_diff=self.min_rate_diff,
                               min_category_share=self.min_category_share, unseen=self.unseen,
                               special_codes={k: tuple(v) for k, v in (self.special_codes or {}).items()})
        params.check()
        return params

    def fit(self, X, y):
        frame = to_frame(self, X, reset=True)
        self.classes_, y01 = binary_target(y, self.bad_label)
        if len(y01) != len(frame):
            raise ValueError(f"X has {len(frame)} rows but y has {len(y01)}")
        self._fit_frame(frame, y01)
        del self._train_positions, self._train_values  # only a scorecard's fit needs them, and they are big
        return self

    def _fit_frame(self, frame: pd.DataFrame, y01: np.ndarray) -> None:
        params = self._params()
        kinds = feature_kinds(frame, self.categorical_features)
        for name in params.special_codes:
            if name not in kinds:
                raise ValueError(f"special codes name no column of the data: {name!r}")
            if kinds.get(name) == "categorical":
                raise ValueError(f"special codes apply to numeric features; {name!r} is categorical "
                                 "(give the special values their own category instead)")
        #: Bin positions of the training rows, kept during a scorecard's fit so it need not bin twice.
        self._train_positions = {}
        #: The training data as numbers (numeric columns) or (codes, labels) pairs, for its fingerprint.
        self._train_values = {}

        def bin_column(name):
            if kinds[name] == "numeric":
                values = numeric_values(frame[name])
                return (values,) + bin_numeric(name, values, y01, params)
            coded = category_codes(frame[name])
            return (coded,) + bin_categorical(name, frame[name], y01, params, coded)

        # numpy lets go of the GIL in the heavy steps (quantiles, searches), so columns bin in parallel
        threads = BINNING_THREADS if len(frame) >= PARALLEL_ROWS else 1
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(bin_column, frame.columns))
        self.features_ = []
        for name, (values, feature, position) in zip(frame.columns, results):
            self.features_.append(feature)
            self._train_positions[name] = position
            self._train_values[name] = values
        self.iv_ = {f["name"]: f["iv"] for f in self.features_}
        self._lookups = [_NumericFeature(_with_points(f)) if f["type"] == "numeric"
                         else _CategoricalFeature(_with_points(f)) for f in self.features_]

    def transform(self, X):
        check_is_fitted(self, "features_")
        frame = to_frame(self, X, reset=False)
        return self._woe_matrix(frame)

    def _woe_matrix(self, frame: pd.DataFrame, names: list[str] | None = None,
                    positions: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """WoE of each row and feature (all features, or ``names`` in that order); ``positions`` lets the
        training rows reuse the bins found while fitting."""
        lookups = {f["name"]: (f, lookup) for f, lookup in zip(self.features_, self._lookups)}
        chosen = [lookups[name] for name in (names if names is not None else list(lookups))]
        rows = len(next(iter(positions.values()))) if positions else len(frame)
        out = np.empty((rows, len(chosen)), dtype=np.float64)
        for k, (feature, lookup) in enumerate(chosen):
            woe = np.array([b["woe"] for b in feature["bins"]], dtype=np.float64)
            name = feature["name"]
            out[:, k] = woe[positions[name] if positions else lookup.positions(frame[name])]
        return out

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "features_")
        return np.array([f["name"] for f in self.features_], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.target_tags.required = True
        return tags


def _with_points(feature: dict) -> dict:
    """The lookup classes expect points; the transformer only needs positions, so any will do."""
    return {**feature, "bins": [{**b, "points": 0} for b in feature["bins"]]}
