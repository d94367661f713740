"""The credit bureau: a personal credit report in the style of the PBOC report.

Real bureaus (the PBOC Credit Reference Center through a licensed channel,
Baihang, a provincial bureau) sit behind ``CreditBureau``; an integration maps
its answer to ``BureauReport`` (see ``docs/adapters.md``). The summary is
always computed from the detail by ``summarise``, never taken from a provider,
so the facts rules see mean the same thing whoever supplied the report.

Repayment strings hold 24 monthly statuses, oldest first, the last one the
report month: ``N`` paid as agreed, ``*`` nothing due, ``1``-``7`` overdue
1-30, 31-60, ..., 151-180, over 180 days, ``C`` closed, ``/`` not yet open.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from microlend.adapters.applicant_profile import ApplicantProfile, ApplicantProfiles
from microlend.adapters.errors import AdapterFailure, AdapterTimeout
from microlend.clock import Clock, SystemClock
from microlend.lending.identity import parse_id_number

__all__ = [
    "HARD_ENQUIRY_REASONS",
    "BureauCard",
    "BureauEnquiry",
    "BureauIdentity",
    "BureauLoan",
    "BureauReport",
    "BureauSummary",
    "CreditBureau",
    "SimulatedBureau",
    "add_months",
    "dpd_of",
    "summarise",
]

_CENT = Decimal("0.01")
_ZERO = Decimal("0")
MONTHS = 24
#: Days past due a status stands for (the upper bound of its band; 7 = more than 180).
_DPD = {"1": 30, "2": 60, "3": 90, "4": 120, "5": 150, "6": 180, "7": 181}
#: Enquiries counted in ``enquiries_Nm``: those made because the person applied for credit.
HARD_ENQUIRY_REASONS = frozenset({"loan_approval", "credit_card_approval"})
ENQUIRY_REASONS = HARD_ENQUIRY_REASONS | {"post_loan_management", "guarantee_check", "self_query"}
#: Share of card balances counted as a monthly payment in ``debt_monthly`` (the usual minimum payment).
CARD_MIN_PAYMENT = Decimal("0.10")


def dpd_of(status: str) -> int:
    """Days past due that one monthly status stands for (0 for N, *, C, /)."""
    return _DPD.get(status, 0)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, the day clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_first - timedelta(days=1)).day))


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


@dataclass(frozen=True)
class BureauIdentity:
    """The identity block: who the bureau thinks the person is."""

    name: str
    id_number: str
    sex: str
    birth_date: date
    #: Mobile numbers reported by lenders, newest first (may be empty).
    phones: tuple[str, ...] = ()
    #: 6-digit region code of the registered residence.
    residence_region: str = ""
    employer: str | None = None


@dataclass(frozen=True)
class BureauLoan:
    account_id: str
    #: consumer | auto | business | housing | other
    kind: str
    #: bank | consumer_finance | microcredit | online_lender | other
    lender_kind: str
    opened: date
    due: date
    #: The amount lent (CNY).
    limit: Decimal
    balance: Decimal
    monthly_payment: Decimal
    #: normal | overdue | closed
    status: str
    overdue_amount: Decimal
    repayment_24m: str

    @property
    def worst_status(self) -> str:
        return _worst(self.repayment_24m)


@dataclass(frozen=True)
class BureauCard:
    account_id: str
    issuer_kind: str
    opened: date
    limit: Decimal
    #: Amount used (CNY).
    balance: Decimal
    #: normal | overdue | closed
    status: str
    overdue_amount: Decimal
    repayment_24m: str

    @property
    def utilisation(self) -> float:
        return float(self.balance / self.limit) if self.limit > 0 else 0.0

    @property
    def worst_status(self) -> str:
        return _worst(self.repayment_24m)


@dataclass(frozen=True)
class BureauEnquiry:
    on: date
    #: bank | consumer_finance | microcredit | online_lender | other
    institution_kind: str
    #: loan_approval | credit_card_approval | post_loan_management | guarantee_check | self_query
    reason: str
    institution: str = ""


def _worst(statuses: str) -> str:
    """The worst overdue grade in a repayment string, or ``N`` when never overdue."""
    grades = [s for s in statuses if s in _DPD]
    return max(grades) if grades else "N"


@dataclass(frozen=True)
class BureauSummary:
    """The facts rules see as ``bureau.*`` (``facts()``); all computed from the detail."""

    on_file: bool
    overdue_now: bool
    overdue_amount: Decimal
    overdue_accounts: int
    max_dpd_24m: int
    #: Months with an overdue status, summed over all accounts (24 months).
    delinquencies_24m: int
    enquiries_1m: int
    enquiries_3m: int
    enquiries_6m: int
    enquiries_12m: int
    loans_open: int
    loans_opened_12m: int
    cards_open: int
    loan_balance: Decimal
    loan_limit: Decimal
    card_limit: Decimal
    card_balance: Decimal
    #: Card balance / card limit (0 without cards).
    utilisation: float
    #: Balance / limit over open loans and cards.
    utilisation_all: float
    #: Open loans' monthly payments plus 10 % of card balances (CNY).
    debt_monthly: Decimal

    def facts(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def summarise(loans, cards, enquiries, *, as_of: date, on_file: bool = True) -> BureauSummary:
    """The summary of a report's detail (the one definition of every ``bureau.*`` fact).

    An enquiry is within the last N months when ``add_months(as_of, -N) < on <= as_of``;
    only ``HARD_ENQUIRY_REASONS`` count. An account is overdue now when its last
    status is an overdue grade or its status is ``overdue``.
    """
    open_loans = [loan for loan in loans if loan.status != "closed"]
    open_cards = [card for card in cards if card.status != "closed"]
    accounts = list(loans) + list(cards)
    overdue = [a for a in accounts if a.status == "overdue" or a.repayment_24m[-1:] in _DPD]
    hard = [e.on for e in enquiries if e.reason in HARD_ENQUIRY_REASONS and e.on <= as_of]

    def within(months: int) -> int:
        start = add_months(as_of, -months)
        return sum(1 for on in hard if on > start)

    loan_balance = sum((loan.balance for loan in open_loans), _ZERO)
    loan_limit = sum((loan.limit for loan in open_loans), _ZERO)
    card_limit = sum((card.limit for card in open_cards), _ZERO)
    card_balance = sum((card.balance for card in open_cards), _ZERO)
    limit_all = loan_limit + card_limit
    debt = sum((loan.monthly_payment for loan in open_loans), _ZERO) + card_balance * CARD_MIN_PAYMENT
    return BureauSummary(
        on_file=on_file,
        overdue_now=bool(overdue),
        overdue_amount=sum((a.overdue_amount for a in overdue), _ZERO),
        overdue_accounts=len(overdue),
        max_dpd_24m=max((dpd_of(a.worst_status) for a in accounts), default=0),
        delinquencies_24m=sum(1 for a in accounts for s in a.repayment_24m if s in _DPD),
        enquiries_1m=within(1), enquiries_3m=within(3), enquiries_6m=within(6), enquiries_12m=within(12),
        loans_open=len(open_loans),
        loans_opened_12m=sum(1 for loan in loans if loan.opened > add_months(as_of, -12)),
        cards_open=len(open_cards),
        loan_balance=loan_balance, loan_limit=loan_limit, card_limit=card_limit, card_balance=card_balance,
        utilisation=float(card_balance / card_limit) if card_limit > 0 else 0.0,
        utilisation_all=float((loan_balance + card_balance) / limit_all) if limit_all > 0 else 0.0,
        debt_monthly=debt.quantize(_CENT),
    )


@dataclass(frozen=True)
class BureauReport:
    """One personal credit report as of ``report_date``."""

    reference: str
    provider_reference: str
    report_date: date
    #: Why it was asked for (one of the enquiry reasons).
    query_reason: str
    identity: BureauIdentity
    loans: tuple[BureauLoan, ...]
    cards: tuple[BureauCard, ...]
    #: Earlier enquiries, newest first (this query is not among them).
    enquiries: tuple[BureauEnquiry, ...]
    summary: BureauSummary = field(init=False)
    #: False for a person the bureau has no record of (a thin file: empty detail).
    on_file: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", summarise(self.loans, self.cards, self.enquiries,
                                                      as_of=self.report_date, on_file=self.on_file))

    def facts(self) -> dict:
        """The ``bureau`` section of the facts a rule set sees."""
        return self.summary.facts()

    def to_dict(self) -> dict:
        """JSON-ready (Decimal and dates as strings); carries personal data, mask before showing."""
        data = asdict(self)
        for name, items in (("loans", self.loans), ("cards", self.cards)):
            for row, item in zip(data[name], items):
                row["worst_status"] = item.worst_status
        return _jsonable(data)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (Decimal, date)):
        return str(value)
    return value


class CreditBureau(Protocol):
    def report(self, *, reference: str, name: str, id_number: str, reason: str = "loan_approval") -> BureauReport:
        """The person's report; raises ``AdapterTimeout``/``AdapterFailure`` (codes ``bureau_timeout``,
        ``bureau_failure``). A person without a file gets a report with ``on_file`` False.
        Only call it after the applicant's consent is stored."""
        ...


# --- simulation --------------------------------------------------------------------------------

_LENDERS = (("bank", 0.5), ("consumer_finance", 0.25), ("microcredit", 0.15), ("online_lender", 0.1))
_LOAN_KINDS = (("consumer", 0.55), ("auto", 0.2), ("business", 0.15), ("other", 0.1))


def _pick(rng: random.Random, weighted) -> str:
    x, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if x < total:
            return value
    return weighted[-1][0]


def _split(rng: random.Random, total: Decimal, parts: int, quantum: Decimal = Decimal("1")) -> list[Decimal]:
    """``total`` split into ``parts`` random shares, rounded to ``quantum``, adding up exactly."""
    if parts <= 0:
        return []
    weights = [rng.uniform(0.3, 1.0) for _ in range(parts)]
    scale = sum(weights)
    shares = [(total * Decimal(w / scale)).quantize(quantum) for w in weights]
    shares[-1] = total - sum(shares[:-1])
    if shares[-1] < 0:  # rounding pushed it under: give the last share nothing
        shares[0] += shares[-1]
        shares[-1] = _ZERO
    return shares


def _statuses(opened: date, as_of: date, closed: date | None = None) -> list[str]:
    """A clean 24-month string for an account opened (and perhaps closed) on these dates."""
    first = -_months_between(opened, as_of) + MONTHS - 1  # index of the opening month
    last = MONTHS if closed is None else -_months_between(closed, as_of) + MONTHS - 1
    return ["/" if i < first else "C" if i >= last else "*" if i == first else "N" for i in range(MONTHS)]


def simulate_report(profile: ApplicantProfile, *, name: str, as_of: date, reference: str = "",
                    provider_reference: str = "", reason: str = "loan_approval", phones: tuple[str, ...] = (),
                    residence_region: str | None = None, earlier: tuple[BureauEnquiry, ...] = ()) -> BureauReport:
    """The report the simulated bureau gives for ``profile`` on ``as_of`` (pure and deterministic)."""
    rng = random.Random(profile.seed("bureau"))
    id_info = parse_id_number(profile.id_number)
    identity = BureauIdentity(
        name=name, id_number=profile.id_number, sex=id_info.sex, birth_date=id_info.birth_date, phones=phones,
        residence_region=residence_region or profile.id_number[:6],
        employer=profile.employer,
    )
    # Loans: open ones, then the recently opened ones that are already closed, then a few older closed ones.
    n_open = profile.loans_open
    open12 = min(profile.loans_opened_12m, n_open)
    open24 = min(profile.loans_opened_24m - profile.loans_opened_12m, n_open - open12)
    loan_plans: list[tuple[date, date | None]] = []  # (opened, closed)
    for i in range(n_open):
        back = rng.randrange(1, 365) if i < open12 else (
            rng.randrange(366, 730) if i < open12 + open24 else rng.randrange(731, 1800))
        loan_plans.append((as_of - timedelta(days=back), None))
    closed12 = profile.loans_opened_12m - open12
    closed24 = max(profile.loans_opened_24m - profile.loans_opened_12m - open24, 0)
    older = min(max(profile.loans_total - n_open - closed12 - closed24, 0), 4)
    for back_range, count in (((30, 365), closed12), ((366, 730), closed24), ((731, 2500), older)):
        for _ in range(count):
            opened = as_of - timedelta(days=rng.randrange(*back_range))
            closed = opened + timedelta(days=rng.randrange(28, max(29, (as_of - opened).days)))
            loan_plans.append((opened, closed))
    balances = _split(rng, profile.loan_balance, n_open)
    limits = _split(rng, max(profile.loan_limit, profile.loan_balance), n_open)
    loans: list[dict] = []
    for i, (opened, closed) in enumerate(loan_plans):
        elapsed = _months_between(opened, as_of)
        terms = [t for t in (6, 12, 24, 36, 60) if t > elapsed] or [elapsed + 12]
        term = rng.choice(terms)
        if closed is None:
            balance = balances[i]
            limit = max(limits[i], balance, Decimal(1000))
            remaining = max(term - elapsed, 1)
            payment = (balance / remaining + balance * Decimal("0.008")).quantize(_CENT)
        else:
            balance, limit, payment = _ZERO, Decimal(rng.randrange(2, 60) * 1000), _ZERO
        loans.append(dict(
            account_id=f"L{i + 1:02d}", kind=_pick(rng, _LOAN_KINDS), lender_kind=_pick(rng, _LENDERS),
            opened=opened, due=add_months(opened, term), limit=limit, balance=balance, monthly_payment=payment,
            status="closed" if closed else "normal", overdue_amount=_ZERO, repayment_24m=_statuses(opened, as_of, closed),
        ))
    # Cards: 1-4, total limit 1-3 months of income, used at the person's revolving utilisation.
    n_cards = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
    total_limit = max(Decimal(round(float(profile.income_monthly) * rng.uniform(1.0, 3.0), -3)), Decimal(n_cards * 1000))
    card_limits = [max(x, Decimal(1000)) for x in _split(rng, total_limit, n_cards, Decimal(1000))]
    util = Decimal(str(profile.revolving_utilisation))
    cards: list[dict] = []
    for i, limit in enumerate(card_limits):
        opened = as_of - timedelta(days=rng.randrange(180, 3650))
        cards.append(dict(
            account_id=f"C{i + 1:02d}", issuer_kind="bank", opened=opened, limit=limit,
            balance=(limit * util).quantize(Decimal(1)), status="normal", overdue_amount=_ZERO,
            repayment_24m=_statuses(opened, as_of),
        ))
    # Past delinquencies: one overdue month per incidence, never in the report month.
    accounts = loans + cards
    slots = [(a, i) for a in accounts for i, s in enumerate(a["repayment_24m"][:-1]) if s == "N"]
    for account, index in rng.sample(slots, min(profile.delinquencies_24m, len(slots))):
        x = rng.random()
        account["repayment_24m"][index] = "2" if x < 0.8 else ("3" if x < 0.95 else "4")
    if profile.overdue_now:
        candidates = [a for a in loans if a["status"] == "normal" and a["monthly_payment"] > 0] or cards
        account = rng.choice(candidates)
        amount = profile.overdue_amount
        if amount <= 0:
            amount = account.get("monthly_payment") or max(
                (account["balance"] * Decimal("0.1")).quantize(_CENT), Decimal(100))
        account["repayment_24m"][-1] = "1"
        account["status"], account["overdue_amount"] = "overdue", amount
    # Enquiries: the person's hard enquiries, post-loan checks by their lenders, and our own earlier queries.
    enquiries: list[BureauEnquiry] = []
    days6 = (as_of - add_months(as_of, -6)).days
    days12 = (as_of - add_months(as_of, -12)).days
    reasons = (["loan_approval"] * profile.loan_enquiries_12m
               + ["credit_card_approval"] * (profile.enquiries_12m - profile.loan_enquiries_12m))
    rng.shuffle(reasons)
    for i, why in enumerate(reasons):
        back = rng.randrange(0, days6) if i < profile.enquiries_6m else rng.randrange(days6, days12)
        kind = _pick(rng, _LENDERS) if why == "loan_approval" else "bank"
        enquiries.append(BureauEnquiry(as_of - timedelta(days=back), kind, why))
    for loan in loans:
        if loan["status"] != "closed":
            for _ in range(rng.randrange(0, 3)):
                on = as_of - timedelta(days=rng.randrange(0, 730))
                if on >= loan["opened"]:
                    enquiries.append(BureauEnquiry(on, loan["lender_kind"], "post_loan_management"))
    enquiries.extend(e for e in earlier if e.on <= as_of)
    enquiries.sort(key=lambda e: e.on, reverse=True)
    return BureauReport(
        reference=reference, provider_reference=provider_reference, report_date=as_of, query_reason=reason,
        identity=identity,
        loans=tuple(BureauLoan(**{**a, "repayment_24m": "".join(a["repayment_24m"])}) for a in loans),
        cards=tuple(BureauCard(**{**a, "repayment_24m": "".join(a["repayment_24m"])}) for a in cards),
        enquiries=tuple(enquiries),
    )


class SimulatedBureau:
    """A bureau that reports each person's calibrated profile, deterministic per person and date.

    Steering: ``steer(id_number, "timeout" | "failure" | "no_file" | "report")`` fixes the
    answer for one person; ``will(...)`` queues answers for the next new queries
    (taking precedence); ``register(id_number, name=..., phones=..., residence_region=...)``
    sets what the identity block says (else the queried name, no phones and the
    ID number's region). With ``record_enquiries`` each answered query is
    added to the person's later reports (a real bureau records every query).
    A repeated ``reference`` returns the first answer.
    """

    _PLANS = ("report", "timeout", "failure", "no_file")

    def __init__(self, profiles: ApplicantProfiles | None = None, *, clock: Clock | None = None,
                 record_enquiries: bool = True, institution: str = "Microlend"):
        self.profiles = profiles or ApplicantProfiles()
        self.clock = clock or SystemClock()
        self.record_enquiries = record_enquiries
        self.institution = institution
        self._script: deque[str] = deque()
        self._per_id: dict[str, str] = {}
        self._registered: dict[str, dict] = {}
        self._results: dict[str, BureauReport] = {}
        self._enquiries: dict[str, list[BureauEnquiry]] = {}
        self._counter = 0
        #: (reference, id_number, reason) of every query that reached the bureau.
        self.queries: list[tuple[str, str, str]] = []

    def _check(self, plan: str) -> str:
        if plan not in self._PLANS:
            raise ValueError(f"unknown simulated bureau outcome {plan!r}")
        return plan

    def will(self, *outcomes: str) -> "SimulatedBureau":
        self._script.extend(self._check(p) for p in outcomes)
        return self

    def steer(self, id_number: str, outcome: str) -> "SimulatedBureau":
        self._per_id[id_number] = self._check(outcome)
        return self

    def register(self, id_number: str, *, name: str | None = None, phones: tuple[str, ...] = (),
                 residence_region: str | None = None) -> "SimulatedBureau":
        self._registered[id_number] = {"name": name, "phones": tuple(phones), "residence_region": residence_region}
        return self

    def report(self, *, reference: str, name: str, id_number: str, reason: str = "loan_approval") -> BureauReport:
        if reference in self._results:
            return self._results[reference]
        if reason not in ENQUIRY_REASONS:
            raise ValueError(f"unknown enquiry reason {reason!r}")
        plan = self._script.popleft() if self._script else self._per_id.get(id_number, "report")
        self.queries.append((reference, id_number, reason))
        if plan == "timeout":
            raise AdapterTimeout("bureau", reference=reference, detail="simulated")
        if plan == "failure":
            raise AdapterFailure("bureau", reference=reference, detail="simulated")
        as_of = self.clock.business_date()
        self._counter += 1
        provider_reference = f"PBOC{as_of:%Y%m%d}{self._counter:08d}"
        registered = self._registered.get(id_number, {})
        if plan == "no_file":
            info = parse_id_number(id_number)
            result = BureauReport(
                reference, provider_reference, as_of, reason,
                BureauIdentity(registered.get("name") or name, id_number, info.sex, info.birth_date,
                               registered.get("phones", ()), registered.get("residence_region") or id_number[:6]),
                (), (), tuple(self._enquiries.get(id_number, ())), on_file=False,
            )
        else:
            result = simulate_report(
                self.profiles.profile(id_number), name=registered.get("name") or name, as_of=as_of,
                reference=reference, provider_reference=provider_reference, reason=reason,
                phones=registered.get("phones", ()), residence_region=registered.get("residence_region"),
                earlier=tuple(self._enquiries.get(id_number, ())),
            )
        if self.record_enquiries:
            self._enquiries.setdefault(id_number, []).append(
                BureauEnquiry(as_of, "microcredit", reason, self.institution))
        self._results[reference] = result
        return result
