"""Simulated applicants as a training table: the scoring features of generated people, and whether
each is bad.

Each person (``make_person``) goes through the real simulated adapters, ``SimulatedBureau`` and
``SimulatedStatements`` sharing one ``ApplicantProfiles``, and then through ``applicant_features``:
the same path an application takes in origination. So a model trained on this table sees the inputs
the platform will score it with, and learns what the calibrated profiles (real lending_club rows)
say about bad applicants. ``bad`` is the profile's hidden class.

Declared income and industry are not in the profile: the declared income is the true income with
the optimism applicants show (most declare about what they earn, some round well up), and the
industry is drawn from a short list, both fixed per ID number and independent of the class, so
neither invents a signal the real data do not have.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

from microlend.adapters.applicant_profile import ApplicantProfile, ApplicantProfiles, seed_of
from microlend.adapters.bank_statements import SimulatedStatements
from microlend.adapters.bureau import SimulatedBureau
from microlend.clock import FixedClock
from microlend.lending.identity import parse_id_number
from microlend.scoring.applicant_features import FEATURE_NAMES, applicant_features
from microlend.simulation.people import make_person

__all__ = ["INDUSTRIES", "TARGET", "declared_income_of", "industry_of", "simulated_applicants"]

#: Industries of simulated applicants (lower case, as origination normalises them).
INDUSTRIES = ("retail", "catering", "manufacturing", "construction", "logistics", "services", "technology",
              "agriculture")
#: The outcome column: 1 = bad.
TARGET = "bad"
#: Above this many applicants, show a progress bar on stderr.
PROGRESS_FROM = 5_000
_HUNDRED = Decimal("100")
_BATCH = 1_000


def industry_of(id_number: str) -> str:
    """The simulated person's industry (fixed per ID number)."""
    return INDUSTRIES[seed_of(id_number, "industry") % len(INDUSTRIES)]


def declared_income_of(profile: ApplicantProfile) -> Decimal:
    """The monthly income the person declares, to CNY 100 (rounded half to even): seven in ten
    declare 95-110 % of what they earn, the others 110-160 %."""
    rng = random.Random(profile.seed("declared_income"))
    factor = rng.uniform(0.95, 1.10) if rng.random() < 0.7 else rng.uniform(1.10, 1.60)
    declared = (profile.income_monthly * Decimal(str(round(factor, 4))) / _HUNDRED).quantize(
        Decimal(1), rounding=ROUND_HALF_EVEN) * _HUNDRED
    return max(declared, _HUNDRED)


def _people(n: int, seed: int, as_of: date, progress: bool):
    rng = random.Random(seed)
    people = (make_person(rng, on=as_of) for _ in range(n))
    if not progress:
        yield from people
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(people, total=n, description=f"simulating {n:,} applicants",
                     console=Console(stderr=True), transient=True)


def simulated_applicants(n: int, *, seed: int, as_of: date, bad_share: float | None = None,
                         progress: bool | None = None) -> pd.DataFrame:
    """``n`` simulated applicants as of ``as_of``: the ``FEATURE_NAMES`` columns and ``bad`` (0/1).

    The same ``seed`` and ``as_of`` give the same table. ``bad_share`` overrides the real share of
    bad applicants (about 5.2 %), e.g. for a small sample with enough bads to validate on;
    ``progress`` (default: from ``PROGRESS_FROM`` applicants) shows a progress bar on stderr.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    profiles = ApplicantProfiles(bad_share=bad_share)
    clock = FixedClock(as_of)
    rows = []
    show = n >= PROGRESS_FROM if progress is None else progress
    for index, person in enumerate(_people(n, seed, as_of, show)):
        if index % _BATCH == 0:  # the adapters keep every answer by reference: start afresh now and then
            bureau = SimulatedBureau(profiles, clock=clock, record_enquiries=False)
            statements = SimulatedStatements(profiles, clock=clock)
        profile = profiles.profile(person.id_number)
        reference = f"sim-{seed}-{index}"
        report = bureau.report(reference=reference, name=person.name, id_number=person.id_number)
        account = statements.statements(reference=reference, name=person.name, id_number=person.id_number,
                                        bank_card=person.bank_card)
        features = applicant_features(
            age=parse_id_number(person.id_number).age_on(as_of), declared_income=declared_income_of(profile),
            industry=industry_of(person.id_number), bureau=report.facts(), statements=account.facts(),
        )
        features[TARGET] = int(profile.bad)
        rows.append(features)
    frame = pd.DataFrame(rows, columns=[*FEATURE_NAMES, TARGET])
    numeric = [name for name in FEATURE_NAMES if name != "industry"]
    frame[numeric] = frame[numeric].astype("float64")
    frame[TARGET] = frame[TARGET].astype("int64")
    return frame
