"""The demo scorecard: simulated applicants (deterministic per seed, through the real simulated
adapters), a model trained on them that separates bads from goods on a hold-out, the packaged
artifact that scores applicant_features, and its installation as champion on a fresh platform."""

from __future__ import annotations

import json
import random
from datetime import date

import pandas as pd
import pytest
from model_artifacts import scorecard as other_scorecard
from typer.testing import CliRunner

from microlend.adapters.applicant_profile import ApplicantProfiles
from microlend.adapters.bank_statements import SimulatedStatements
from microlend.adapters.bureau import SimulatedBureau
from microlend.cli.main import app
from microlend.clock import FixedClock
from microlend.lending.identity import parse_id_number
from microlend.scoring.applicant_features import FEATURE_NAMES, applicant_features
from microlend.scoring.artifact import load_model
from microlend.services import models as registry
from microlend.simulation.applicants import TARGET, declared_income_of, industry_of, simulated_applicants
from microlend.simulation.demo_model import DEMO_MODEL_NAME, demo_artifact, fit_demo_scorecard, install_demo_scorecard
from microlend.simulation.people import make_person

AS_OF = date(2026, 3, 10)


def test_simulated_applicants_are_a_feature_table():
    frame = simulated_applicants(40, seed=5, as_of=AS_OF)
    assert list(frame.columns) == [*FEATURE_NAMES, TARGET]
    assert len(frame) == 40
    assert set(frame[TARGET]) <= {0, 1}
    assert frame["industry"].map(type).eq(str).all()
    assert frame["bureau_on_file"].eq(1.0).all() and frame["enquiries_12m"].notna().all()


def test_simulated_applicants_are_deterministic_for_a_seed():
    first = simulated_applicants(30, seed=11, as_of=AS_OF, bad_share=0.5)
    pd.testing.assert_frame_equal(first, simulated_applicants(30, seed=11, as_of=AS_OF, bad_share=0.5))
    assert not first.equals(simulated_applicants(30, seed=12, as_of=AS_OF, bad_share=0.5))


def test_a_row_is_what_the_adapters_report_for_that_person():
    person = make_person(random.Random(3), on=AS_OF)
    profiles = ApplicantProfiles()
    clock = FixedClock(AS_OF)
    report = SimulatedBureau(profiles, clock=clock).report(reference="r", name=person.name,
                                                           id_number=person.id_number)
    account = SimulatedStatements(profiles, clock=clock).statements(reference="r", name=person.name,
                                                                   id_number=person.id_number,
                                                                   bank_card=person.bank_card)
    expected = applicant_features(
        age=parse_id_number(person.id_number).age_on(AS_OF),
        declared_income=declared_income_of(profiles.profile(person.id_number)),
        industry=industry_of(person.id_number), bureau=report.facts(), statements=account.facts())
    row = simulated_applicants(1, seed=3, as_of=AS_OF).iloc[0]  # the same first person of seed 3
    assert row[TARGET] == int(profiles.profile(person.id_number).bad)
    for name, value in expected.items():
        if isinstance(value, float):
            assert row[name] == pytest.approx(value), name
        else:
            assert row[name] == value, name


def test_a_fresh_scorecard_separates_bads_on_its_hold_out():
    # Balanced so the 600-row hold-out has ~300 bads: the AUC is measured, not guessed from a handful.
    artifact = fit_demo_scorecard(simulated_applicants(2000, seed=20261127, as_of=AS_OF, bad_share=0.5))
    assert artifact["validation"]["rows"] == 600
    assert artifact["validation"]["auc"] > 0.6
    assert artifact["development"]["metrics"]["holdout_auc"] == artifact["validation"]["auc"]
    assert {f["name"] for f in artifact["features"]} <= set(FEATURE_NAMES)
    assert all(f["trend"] in ("ascending", "descending", "by event rate", None) for f in artifact["features"])


def test_the_packaged_demo_scorecard_scores_applicant_features():
    artifact = demo_artifact()
    assert "DEMO" in artifact["description"] and "NOT for lending" in artifact["description"]
    assert artifact["notes"][0].startswith("DEMO model, not for lending decisions")
    assert artifact["validation"]["auc"] > 0.6
    assert set(artifact["training"]["columns"]) <= set(FEATURE_NAMES)
    model = load_model(artifact)
    assert set(model.feature_names) <= set(FEATURE_NAMES)

    row = simulated_applicants(1, seed=1, as_of=AS_OF).iloc[0]
    features = {name: (None if pd.isna(row[name]) else row[name]) for name in FEATURE_NAMES}
    decision = model.score_one(features, reasons=3)
    assert decision.band in {"A", "B", "C", "D", "E"} and 0 < decision.pd < 1
    missing = model.score_one(applicant_features(age=30, declared_income=5000, industry="retail", bureau=None,
                                                 statements=None))
    assert missing.band in {"A", "B", "C", "D", "E"}  # failed sources score in the Missing bins


def test_install_makes_the_demo_scorecard_champion_once(platform):
    record = install_demo_scorecard(platform)
    assert (record.name, record.version, record.role) == (DEMO_MODEL_NAME, 1, registry.CHAMPION)
    again = install_demo_scorecard(platform)
    assert (again.name, again.version, again.role) == (DEMO_MODEL_NAME, 1, registry.CHAMPION)
    assert [(r.name, r.version) for r in registry.list_models(platform.uow())] == [(DEMO_MODEL_NAME, 1)]
    events = [e.event for e in registry.get(platform.uow(), DEMO_MODEL_NAME, 1).events]
    assert events == ["registered", "promoted"]

    applicant = applicant_features(age=35, declared_income=6000, industry="logistics", bureau=None, statements=None)
    scored = registry.score(uow=platform.uow(), applicant=applicant)
    assert scored.model.name == DEMO_MODEL_NAME and scored.band in {"A", "B", "C", "D", "E"}


def test_install_leaves_a_lenders_champion_alone(platform):
    own = registry.register(uow=platform.uow(), artifact=other_scorecard(), name="own", actor="test",
                            clock=platform.clock)
    registry.promote(uow=platform.uow(), name="own", version=own.version, actor="test", clock=platform.clock)
    record = install_demo_scorecard(platform)
    assert record.role == registry.CHALLENGER
    assert registry.champion(platform.uow()).name == "own"
    install_demo_scorecard(platform)
    assert len(registry.list_models(platform.uow(), name=DEMO_MODEL_NAME)) == 1


def test_cli_regenerates_the_scorecard(tmp_path):
    out = tmp_path / "demo.json"
    result = CliRunner().invoke(app, ["demo", "train-scorecard", "--rows", "1000", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "hold-out AUC" in result.output
    artifact = json.loads(out.read_text(encoding="utf-8"))
    assert "1,000 simulated applicants (seed 3" in artifact["notes"][0]
    load_model(artifact)
