"""Which binned variables enter the scorecard, and the logistic regression that weighs them.

Each step records why a variable left, so the artifact can show the risk officer the whole story:
``iv_below_threshold`` (too little information), ``no_information`` (one bin), ``correlated`` (a stronger
variable says the same), ``not_chosen_by_stepwise``, and ``wrong_sign`` (a coefficient that would give
more points for a riskier bin, which a scorecard must never do).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.linear_model import LogisticRegression


def fit_logistic(woe: np.ndarray, y: np.ndarray, C: float, start: LogisticRegression | None = None,
                 weight: np.ndarray | None = None) -> LogisticRegression:
    """Newton-Cholesky suits scorecards: few columns, many rows, a handful of exact Newton steps.
    ``start`` (a fit on a sample, same columns) gives the first guess, which saves most of the steps;
    ``weight`` counts the rows each line stands for (see ``compress.py``)."""
    model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=100, tol=1e-7, warm_start=start is not None)
    if start is not None:
        model.coef_ = start.coef_.copy()
        model.intercept_ = start.intercept_.copy()
    return model.fit(np.ascontiguousarray(woe), y, sample_weight=weight)


#: Correlations of an uncompressed sample larger than this are estimated on an even stride of it.
CORRELATION_ROWS = 200_000


def drop_correlated(woe: np.ndarray, names: list[str], max_corr: float, weight: np.ndarray | None = None
                    ) -> tuple[list[int], dict[int, tuple]]:
    """Keep columns in the given order (strongest IV first) unless one already kept correlates above
    ``max_corr``; returns kept column indices and, for each dropped one, (partner, correlation)."""
    if woe.shape[1] < 2:
        return list(range(woe.shape[1])), {}
    step = max(1, int(math.ceil(len(woe) / CORRELATION_ROWS)))
    sample = woe if step == 1 else np.ascontiguousarray(woe[::step])
    sample_weight = None if weight is None else weight[::step]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.cov(sample, rowvar=False, aweights=sample_weight)
        scale = np.sqrt(np.diag(cov))
        corr = np.nan_to_num(cov / np.outer(scale, scale), nan=0.0)
    kept, dropped = [], {}
    for k in range(woe.shape[1]):
        partner = next((j for j in kept if abs(corr[k, j]) > max_corr), None)
        if partner is None:
            kept.append(k)
        else:
            dropped[k] = (names[partner], float(corr[k, partner]))
    return kept, dropped


def _aic(woe: np.ndarray, y: np.ndarray, columns: list[int], C: float, weight: np.ndarray | None) -> float:
    w = np.ones(len(y)) if weight is None else weight
    if columns:
        p = fit_logistic(woe[:, columns], y, C, weight=weight).predict_proba(woe[:, columns])[:, 1]
    else:
        p = np.full(len(y), np.average(y, weights=w))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    loglik = float(np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))))
    return 2 * (len(columns) + 1) - 2 * loglik


def stepwise(woe: np.ndarray, y: np.ndarray, C: float, max_features: int | None = None,
             weight: np.ndarray | None = None) -> list[int]:
    """Forward selection by AIC with a backward check after each addition (toad's "both" direction)."""
    chosen: list[int] = []
    remaining = list(range(woe.shape[1]))
    best_aic = _aic(woe, y, [], C, weight)
    while remaining and (max_features is None or len(chosen) < max_features):
        aic, k = min((_aic(woe, y, chosen + [k], C, weight), k) for k in remaining)
        if aic >= best_aic:
            break
        chosen.append(k)
        remaining.remove(k)
        best_aic = aic
        for j in list(chosen[:-1]):  # does any earlier choice no longer pay its way?
            rest = [c for c in chosen if c != j]
            aic = _aic(woe, y, rest, C, weight)
            if aic < best_aic:
                chosen.remove(j)
                remaining.append(j)
                best_aic = aic
    return chosen


#: Wrong signs are first screened on at most this many rows (an even stride), then confirmed on all.
SIGN_SCREEN_ROWS = 100_000


def fit_with_right_signs(woe: np.ndarray, y: np.ndarray, columns: list[int], C: float,
                         weight: np.ndarray | None = None):
    """Fit, then drop the column with the most positive coefficient and refit until every coefficient is
    negative (WoE rises with safety, so its weight on the log-odds of bad must be negative).

    On large samples the dropping runs first on a stride sample, so the full data is usually fitted once.
    """
    columns = list(columns)
    dropped = []
    start = None
    if len(y) > 2 * SIGN_SCREEN_ROWS:
        step = -(-len(y) // SIGN_SCREEN_ROWS)
        start, kept, screened = fit_with_right_signs(woe[::step], y[::step], columns, C,
                                                     None if weight is None else weight[::step])
        if kept:
            columns, dropped = kept, screened
    while columns:
        model = fit_logistic(woe[:, columns], y, C, start, weight)
        coef = model.coef_[0]
        worst = int(np.argmax(coef))
        if coef[worst] <= 0:
            return model, columns, dropped
        dropped.append(columns.pop(worst))
        start = model  # the refit starts from this fit, less the dropped column
        start.coef_ = np.delete(model.coef_, worst, axis=1)
    return None, [], dropped
