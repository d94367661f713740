"""Scoring speed: fitting the default scorecard on 1,000,000 rows, batch scoring, one applicant with reasons.

Targets (issue 4), on this 2-core machine: fit the default scorecard on ``lending_club`` resampled to
1,000,000 rows (numeric columns jittered by 2 %) in at most 5 s; score at least 1,000,000 rows a second
in a batch; score one applicant with reason codes in under 100 microseconds. The peers run on the same
data in the same run: optbinning's scorecard and LightGBM (defaults) at full size, toad at
``--toad-rows`` (default 100,000: at 1,000,000 rows it needs over ten minutes).

    python benchmarks/scoring.py [--rows 1000000] [--toad-rows 100000] [--no-peers] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

from rich.console import Console
from rich.table import Table

sys.path.insert(0, os.path.dirname(__file__))

from scoring_peers import (  # noqa: E402
    ToadScorecard,
    as_categoricals,
    fit_lightgbm,
    fit_optbinning,
    load,
    predict_lightgbm,
    predict_optbinning,
    resample,
)

from microlend.scoring import Scorecard  # noqa: E402

FIT_LIMIT_S = 5.0
BATCH_TARGET = 1_000_000
SINGLE_LIMIT_US = 100.0


def timed(fn, repeat: int = 1):
    """(best seconds, last result) over ``repeat`` runs."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def single_applicant_us(model, rows: list[dict]) -> float:
    """Median microseconds per applicant (score, band, PD and four reasons), over rounds of 1,000."""
    for row in rows[:1000]:
        model.score_one(row)
    rounds = []
    for start in range(0, len(rows), 1000):
        chunk = rows[start:start + 1000]
        started = time.perf_counter()
        for row in chunk:
            model.score_one(row, reasons=4)
        rounds.append((time.perf_counter() - started) / len(chunk) * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--toad-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our fit (best is reported)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peers", default="optbinning,lightgbm,toad", help="which peers to run")
    args = parser.parse_args()
    console = Console()

    X, y = load("lending_club")
    big, big_y = resample(X, y, args.rows)
    console.print(f"lending_club resampled to {len(big):,} rows x {big.shape[1]} columns "
                  f"({int(big_y.sum()):,} bad); numeric columns jittered by 2 %")

    fit_s, scorecard = timed(lambda: Scorecard().fit(big, big_y), args.repeat)
    model = scorecard.model_
    batch_s, _ = timed(lambda: model.score_frame(big), 3)
    categorical = as_categoricals(big)
    batch_cat_s, _ = timed(lambda: model.score_frame(categorical), 3)
    rows = big.head(20_000).to_dict("records")
    single_us = single_applicant_us(model, rows)

    peers = {}
    chosen = set() if args.no_peers else set(args.peers.split(","))
    if "optbinning" in chosen:
        with console.status("optbinning at full size"):
            seconds, opt = timed(lambda: fit_optbinning(big, big_y))
            batch, _ = timed(lambda: predict_optbinning(opt, big))
            one, _ = timed(lambda: [predict_optbinning(opt, big.iloc[[i]]) for i in range(20)])
            peers["optbinning"] = (seconds, len(big) / batch, one / 20 * 1e6, len(big))
    if "lightgbm" in chosen:
        with console.status("LightGBM (defaults) at full size"):
            seconds, gbm = timed(lambda: fit_lightgbm(big, big_y))
            batch, _ = timed(lambda: predict_lightgbm(gbm, big))
            one, _ = timed(lambda: [predict_lightgbm(gbm, big.iloc[[i]]) for i in range(20)])
            peers["LightGBM"] = (seconds, len(big) / batch, one / 20 * 1e6, len(big))
    if "toad" in chosen:
        with console.status(f"toad at {args.toad_rows:,} rows"):
            small, small_y = big.head(args.toad_rows), big_y[: args.toad_rows]
            seconds, toad_model = timed(lambda: ToadScorecard().fit(small, small_y))
            batch, _ = timed(lambda: toad_model.predict(small))
            one, _ = timed(lambda: [toad_model.predict(small.iloc[[i]]) for i in range(20)])
            peers["toad"] = (seconds, len(small) / batch, one / 20 * 1e6, len(small))

    table = Table(title="Scoring speed (2-core machine)")
    for column in ("library", "rows fitted", "fit", "batch scoring", "one applicant"):
        table.add_column(column, justify="right" if column != "library" else "left")
    table.add_row("microlend Scorecard", f"{len(big):,}", f"{fit_s:.2f} s",
                  f"{len(big) / batch_s:,.0f} rows/s (text columns)\n{len(big) / batch_cat_s:,.0f} rows/s "
                  "(categorical columns)", f"{single_us:.1f} µs (with 4 reasons)")
    for name, (seconds, per_s, one_us, n) in peers.items():
        table.add_row(name, f"{n:,}", f"{seconds:.2f} s", f"{per_s:,.0f} rows/s", f"{one_us:,.0f} µs (no reasons)")
    table.add_row("target", f"{args.rows:,}", f"<= {FIT_LIMIT_S:.0f} s", f">= {BATCH_TARGET:,} rows/s",
                  f"< {SINGLE_LIMIT_US:.0f} µs")
    console.print(table)
    verdicts = [("fit", fit_s <= FIT_LIMIT_S), ("batch", len(big) / max(batch_s, batch_cat_s) >= BATCH_TARGET),
                ("one applicant", single_us < SINGLE_LIMIT_US)]
    console.print("; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in verdicts) +
                  f" (selected {len(scorecard.artifact_['features'])} of {big.shape[1]} variables)")


if __name__ == "__main__":
    main()
