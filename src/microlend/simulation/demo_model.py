"""The demo scorecard that ``make run`` ships: trained on simulated applicants, never on real ones.

A fresh demo platform has no model, so origination could not score anyone. This module ships one:
a scorecard trained by the project's own pipeline (as ``microlend model train`` trains) on
``simulated_applicants`` with exactly the ``applicant_features`` inputs, committed as package data
(``data/demo_scorecard.json``). ``install_demo_scorecard`` registers it and makes it the champion
when the platform has none; ``microlend demo train-scorecard`` regenerates it.

It is a DEMO model: it knows only what the simulation knows (lending_club rows read as Chinese
applicants). A lender trains and promotes its own scorecard, on the same feature names, before
making real decisions.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path

from microlend.scoring.applicant_features import FEATURE_NAMES
from microlend.services import models as registry
from microlend.services.models import ModelRecord
from microlend.services.platform import Platform
from microlend.simulation.applicants import TARGET, simulated_applicants

__all__ = [
    "DEMO_AS_OF",
    "DEMO_MODEL_NAME",
    "DEMO_ROWS",
    "DEMO_SEED",
    "demo_artifact",
    "fit_demo_scorecard",
    "install_demo_scorecard",
    "train_demo_scorecard",
]

DEMO_MODEL_NAME = "demo-scorecard"
#: Applicants simulated for the packaged model, their seed and the date their reports describe.
DEMO_ROWS = 20_000
DEMO_SEED = 20261127
DEMO_AS_OF = date(2026, 3, 10)
#: Share held out (stratified) to validate on, and the split's seed.
DEMO_HOLDOUT = 0.3
DEMO_SPLIT_SEED = 42
DEMO_ACTOR = "demo"
#: ``turn_gain`` that no peak or valley can reach: each feature's points rise or fall one way, which a
#: demo must be able to explain (on the simulated data the monotonic card also validates better).
MONOTONE_ONLY = 1e6
DESCRIPTION = ("DEMO model trained on simulated applicants (microlend.simulation.applicants: lending_club rows "
               "through the simulated bureau and bank statements); NOT for lending decisions. Train and promote "
               "a scorecard on your own data, with the same feature names, before lending.")
#: Where the packaged artifact lives in the source tree (``--out`` default of ``demo train-scorecard``).
PACKAGED_PATH = Path(__file__).parent / "data" / "demo_scorecard.json"


def demo_artifact() -> dict:
    """The packaged demo scorecard artifact."""
    text = resources.files("microlend.simulation").joinpath("data/demo_scorecard.json").read_text(encoding="utf-8")
    return json.loads(text)


def fit_demo_scorecard(frame, *, holdout: float = DEMO_HOLDOUT, split_seed: int = DEMO_SPLIT_SEED) -> dict:
    """The scorecard artifact of a ``simulated_applicants`` table, as ``microlend model train`` builds
    it (the same data checks, stratified hold-out, evaluation and ``validation`` block), with one
    difference: bins are monotonic only (``MONOTONE_ONLY``), which ``model train`` cannot ask for."""
    from sklearn.model_selection import train_test_split

    from microlend.cli.model_work import _evaluate
    from microlend.scoring import Scorecard
    from microlend.scoring.dataset import prepare_training

    prepared = prepare_training(frame, target=TARGET, bad="1", features=list(FEATURE_NAMES))
    notes = list(prepared.notes)
    X_fit, X_val, y_fit, y_val = train_test_split(prepared.X, prepared.y, test_size=holdout, stratify=prepared.y,
                                                  random_state=split_seed)
    notes.append(f"fitted on {len(y_fit):,} rows; {len(y_val):,} held out (stratified, seed {split_seed}) "
                 "for validation")
    scorecard = Scorecard(turn_gain=MONOTONE_ONLY).fit(X_fit, y_fit)
    artifact = scorecard.to_artifact(target=prepared.target, notes=notes)
    evaluation = _evaluate(scorecard.model_, X_val, y_val)
    artifact["validation"] = {"rows": int(len(y_val)), "auc": evaluation.auc, "gini": evaluation.gini,
                              "ks": evaluation.ks}
    artifact["development"]["metrics"].update({f"holdout_{k}": v for k, v in artifact["validation"].items()})
    return artifact


def train_demo_scorecard(*, rows: int = DEMO_ROWS, seed: int = DEMO_SEED, as_of: date = DEMO_AS_OF,
                         bad_share: float | None = None, out: Path | None = None) -> dict:
    """Simulate ``rows`` applicants and fit the demo scorecard on them (``fit_demo_scorecard``);
    returns the artifact, marked as a DEMO model, and writes it to ``out`` when given. Nothing is
    registered."""
    frame = simulated_applicants(rows, seed=seed, as_of=as_of, bad_share=bad_share)
    artifact = fit_demo_scorecard(frame)
    artifact["description"] = DESCRIPTION
    share = "the real share of bads, about 5.2 %" if bad_share is None else f"a bad share of {bad_share}"
    artifact["notes"] = [
        f"DEMO model, not for lending decisions: trained on {rows:,} simulated applicants (seed {seed}, "
        f"reports as of {as_of.isoformat()}, {share}) by `microlend demo train-scorecard`",
        "bins are monotonic only (turn_gain 1e6: no peak or valley), so every feature reads one way",
        *artifact.get("notes", []),
    ]
    if out is not None:
        from microlend.scoring.artifact import write_artifact

        write_artifact(artifact, out)
    return artifact


def install_demo_scorecard(platform: Platform, *, actor: str = DEMO_ACTOR) -> ModelRecord | None:
    """Register the packaged demo scorecard (once) and make it the champion when there is none.

    Idempotent: a version of ``demo-scorecard`` trained on the same data (same fingerprint) is not
    registered again. A champion already in place (the lender's own model) is left alone, and so is
    a demo version someone retired. Returns the demo version's record (None only if it was retired).
    """
    artifact = demo_artifact()
    fingerprint = artifact["training"]["fingerprint"]
    existing = [r for r in registry.list_models(platform.uow(), name=DEMO_MODEL_NAME) if r.fingerprint == fingerprint]
    record = existing[-1] if existing else registry.register(
        uow=platform.uow(), artifact=artifact, name=DEMO_MODEL_NAME, actor=actor, clock=platform.clock)
    if record.role == registry.RETIRED:
        return None
    if registry.champion(platform.uow()) is None:
        record = registry.promote(uow=platform.uow(), name=record.name, version=record.version, actor=actor,
                                  clock=platform.clock, note="demo model (simulated applicants): not for lending")
    return record
