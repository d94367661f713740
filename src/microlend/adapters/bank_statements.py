"""Bank statements: six months of an applicant's current-account transactions.

Real sources (open-banking style authorisation at the applicant's bank, an
aggregator, a parsed PDF statement) sit behind ``StatementsProvider``; an
integration maps its answer to ``BankStatements`` (see ``docs/adapters.md``).
Monthly figures and the summary are computed here from the transactions, so
``statements.income_monthly_avg`` means the same whoever supplied them: salary
plus other income credits, not transfers (which are not income).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from microlend.adapters.applicant_profile import ApplicantProfile, ApplicantProfiles
from microlend.adapters.bureau import BureauReport, add_months, simulate_report
from microlend.adapters.errors import AdapterFailure, AdapterTimeout
from microlend.clock import Clock, SystemClock

__all__ = [
    "CREDIT_KINDS",
    "DEBIT_KINDS",
    "INCOME_KINDS",
    "BankStatements",
    "MonthSummary",
    "SimulatedStatements",
    "StatementTransaction",
    "StatementsProvider",
    "StatementsSummary",
    "summarise_statements",
]

_CENT = Decimal("0.01")
_ZERO = Decimal("0")
#: Credits that count as income, and the others (own-account and family transfers, refunds).
INCOME_KINDS = frozenset({"salary", "income_other"})
CREDIT_KINDS = INCOME_KINDS | {"transfer_in", "refund"}
DEBIT_KINDS = frozenset({"spending", "cash_withdrawal", "loan_repayment", "card_repayment", "transfer_out"})
DEBT_KINDS = frozenset({"loan_repayment", "card_repayment"})


@dataclass(frozen=True)
class StatementTransaction:
    on: date
    #: Positive for a credit, negative for a debit (CNY).
    amount: Decimal
    #: One of ``CREDIT_KINDS`` (amount > 0) or ``DEBIT_KINDS`` (amount < 0).
    kind: str
    counterparty: str
    balance_after: Decimal


@dataclass(frozen=True)
class MonthSummary:
    #: "YYYY-MM"
    month: str
    salary_credits: Decimal
    #: Other income (business, freelance).
    other_income: Decimal
    #: Credits that are not income (transfers in, refunds).
    other_credits: Decimal
    #: Total of debits, as a positive amount.
    debits: Decimal
    debt_payments: Decimal
    closing_balance: Decimal
    salary_count: int


@dataclass(frozen=True)
class StatementsSummary:
    """The facts rules see as ``statements.*`` (``facts()``)."""

    months: int
    #: Mean monthly salary plus other income (CNY).
    income_monthly_avg: Decimal
    salary_monthly_avg: Decimal
    #: Months with at least one salary credit.
    salary_months: int
    credits_monthly_avg: Decimal
    debits_monthly_avg: Decimal
    #: Mean monthly loan and card repayments seen on the account.
    debt_payments_monthly_avg: Decimal
    closing_balance: Decimal
    balance_min: Decimal
    balance_avg: Decimal

    def facts(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def summarise_statements(transactions, *, opening_balance: Decimal, months: list[str]) -> tuple[
        tuple[MonthSummary, ...], StatementsSummary]:
    """Monthly figures and the summary of ``transactions`` over the calendar months ``months``."""
    by_month: dict[str, list[StatementTransaction]] = {m: [] for m in months}
    for t in transactions:
        key = f"{t.on.year:04d}-{t.on.month:02d}"
        if key not in by_month:
            raise ValueError(f"transaction on {t.on} outside the statement months")
        by_month[key].append(t)
    balance = opening_balance
    rows = []
    for month in months:
        items = by_month[month]
        for t in items:
            balance += t.amount
        rows.append(MonthSummary(
            month=month,
            salary_credits=sum((t.amount for t in items if t.kind == "salary"), _ZERO),
            other_income=sum((t.amount for t in items if t.kind == "income_other"), _ZERO),
            other_credits=sum((t.amount for t in items if t.amount > 0 and t.kind not in INCOME_KINDS), _ZERO),
            debits=-sum((t.amount for t in items if t.amount < 0), _ZERO),
            debt_payments=-sum((t.amount for t in items if t.kind in DEBT_KINDS), _ZERO),
            closing_balance=balance,
            salary_count=sum(1 for t in items if t.kind == "salary"),
        ))
    n = len(rows)

    def avg(values) -> Decimal:
        return (sum(values, _ZERO) / n).quantize(_CENT) if n else _ZERO

    summary = StatementsSummary(
        months=n,
        income_monthly_avg=avg(r.salary_credits + r.other_income for r in rows),
        salary_monthly_avg=avg(r.salary_credits for r in rows),
        salary_months=sum(1 for r in rows if r.salary_count),
        credits_monthly_avg=avg(r.salary_credits + r.other_income + r.other_credits for r in rows),
        debits_monthly_avg=avg(r.debits for r in rows),
        debt_payments_monthly_avg=avg(r.debt_payments for r in rows),
        closing_balance=rows[-1].closing_balance if rows else opening_balance,
        balance_min=min((r.closing_balance for r in rows), default=opening_balance),
        balance_avg=avg(r.closing_balance for r in rows),
    )
    return tuple(rows), summary


@dataclass(frozen=True)
class BankStatements:
    """Transactions of one account over whole calendar months ``start``..``end``."""

    reference: str
    provider_reference: str
    bank: str
    #: The card / account number, masked to its last four digits.
    account: str
    start: date
    end: date
    opening_balance: Decimal
    transactions: tuple[StatementTransaction, ...]
    monthly: tuple[MonthSummary, ...] = field(init=False)
    summary: StatementsSummary = field(init=False)

    def __post_init__(self) -> None:
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(_month_key(month))
            month = add_months(month, 1)
        monthly, summary = summarise_statements(self.transactions, opening_balance=self.opening_balance,
                                                months=months)
        object.__setattr__(self, "monthly", monthly)
        object.__setattr__(self, "summary", summary)

    def facts(self) -> dict:
        """The ``statements`` section of the facts a rule set sees."""
        return self.summary.facts()


class StatementsProvider(Protocol):
    def statements(self, *, reference: str, name: str, id_number: str, bank_card: str,
                   months: int = 6) -> BankStatements:
        """The last ``months`` whole calendar months of the account behind ``bank_card``; raises
        ``AdapterTimeout``/``AdapterFailure`` (codes ``statements_timeout``, ``statements_failure``)."""
        ...


# --- simulation --------------------------------------------------------------------------------

_SHOPS = ("Meituan", "Taobao", "JD.com", "Didi", "China Mobile", "State Grid", "Hema", "Pinduoduo")


def simulate_statements(profile: ApplicantProfile, *, bank_card: str, as_of: date, months: int = 6,
                        reference: str = "", provider_reference: str = "",
                        bureau: BureauReport | None = None) -> BankStatements:
    """What the simulated bank shows for ``profile``: the ``months`` whole months before ``as_of``'s.

    Income varies by up to 8 % a month around the profile's; salaried people get
    one salary credit on a fixed payday (self-employed people several other
    income credits); loan and card repayments follow the bureau report; spending
    takes most of the rest, never below a zero balance.
    """
    rng = random.Random(profile.seed("statements", bank_card))
    end = as_of.replace(day=1) - timedelta(days=1)
    start = add_months(end.replace(day=1), -(months - 1))
    income = profile.income_monthly
    loan_payments = [loan.monthly_payment for loan in (bureau.loans if bureau else ()) if loan.status != "closed"]
    card_balance = bureau.summary.card_balance if bureau else _ZERO
    balance = (income * Decimal(str(round(rng.uniform(0.1, 1.5), 2)))).quantize(_CENT)
    opening = balance
    payday = rng.randrange(1, 16)
    side_share = Decimal("0") if rng.random() < 0.6 else Decimal(str(round(rng.uniform(0.05, 0.2), 2)))
    spend_ratio = rng.uniform(0.75, 0.97)
    employer = profile.employer or "employer"
    transactions: list[StatementTransaction] = []
    for m in range(months):
        first = add_months(start, m)
        days = (add_months(first, 1) - first).days
        month_income = (income * Decimal(str(round(rng.uniform(0.92, 1.08), 3)))).quantize(_CENT)
        planned: list[tuple[int, Decimal, str, str]] = []
        if profile.self_employed:
            for part in _parts(rng, month_income, rng.randrange(2, 6)):
                planned.append((rng.randrange(1, days + 1), part, "income_other", "customer transfer"))
        else:
            side = (month_income * side_share).quantize(_CENT)
            planned.append((min(payday, days), month_income - side, "salary", employer))
            if side > 0:
                planned.append((rng.randrange(1, days + 1), side, "income_other", "freelance"))
        for _ in range(rng.randrange(0, 3)):
            planned.append((rng.randrange(1, days + 1),
                            (month_income * Decimal(str(round(rng.uniform(0.02, 0.15), 3)))).quantize(_CENT),
                            "transfer_in", "family transfer"))
        for i, payment in enumerate(loan_payments):
            if payment > 0:
                planned.append((min(5 + 3 * i, days), -payment, "loan_repayment", f"loan L{i + 1:02d}"))
        if card_balance > 0:
            planned.append((min(20, days), -(card_balance * Decimal("0.1")).quantize(_CENT), "card_repayment",
                            "credit card"))
        spend = month_income * Decimal(str(round(spend_ratio, 3)))
        for part in _parts(rng, spend, rng.randrange(5, 11)):
            kind = "cash_withdrawal" if rng.random() < 0.1 else "spending"
            planned.append((rng.randrange(1, days + 1), -part, kind, "ATM" if kind == "cash_withdrawal"
                            else rng.choice(_SHOPS)))
        planned.sort(key=lambda p: (p[0], -p[1]))  # credits first within a day
        for day, amount, kind, counterparty in planned:
            if amount < 0 and balance + amount < 0:
                if kind in ("spending", "cash_withdrawal"):
                    amount = -balance  # spend what is there
                if amount == 0 or balance + amount < 0:
                    continue  # a repayment the account cannot cover is not taken (the bureau would show it)
            balance += amount
            transactions.append(StatementTransaction(first.replace(day=day), amount, kind, counterparty, balance))
    return BankStatements(reference=reference, provider_reference=provider_reference, bank="Simulated Bank",
                          account="*" + bank_card[-4:], start=start, end=end, opening_balance=opening,
                          transactions=tuple(transactions))


def _parts(rng: random.Random, total: Decimal, count: int) -> list[Decimal]:
    weights = [rng.uniform(0.2, 1.0) for _ in range(count)]
    scale = sum(weights)
    parts = [(total * Decimal(w / scale)).quantize(_CENT) for w in weights]
    return [p for p in parts if p > 0]


class SimulatedStatements:
    """Statements derived from each person's calibrated profile, deterministic per person and date.

    Steering: ``steer(id_number, "timeout" | "failure" | "statements")`` and
    queued ``will(...)`` outcomes as for the bureau; a repeated ``reference``
    returns the first answer. Debt repayments follow the simulated bureau
    report of the same profile (recorded enquiries aside).
    """

    _PLANS = ("statements", "timeout", "failure")

    def __init__(self, profiles: ApplicantProfiles | None = None, *, clock: Clock | None = None):
        self.profiles = profiles or ApplicantProfiles()
        self.clock = clock or SystemClock()
        self._script: deque[str] = deque()
        self._per_id: dict[str, str] = {}
        self._results: dict[str, BankStatements] = {}
        self._counter = 0
        #: (reference, id_number) of every request that reached the provider.
        self.requests: list[tuple[str, str]] = []

    def _check(self, plan: str) -> str:
        if plan not in self._PLANS:
            raise ValueError(f"unknown simulated statements outcome {plan!r}")
        return plan

    def will(self, *outcomes: str) -> "SimulatedStatements":
        self._script.extend(self._check(p) for p in outcomes)
        return self

    def steer(self, id_number: str, outcome: str) -> "SimulatedStatements":
        self._per_id[id_number] = self._check(outcome)
        return self

    def statements(self, *, reference: str, name: str, id_number: str, bank_card: str,
                   months: int = 6) -> BankStatements:
        if reference in self._results:
            return self._results[reference]
        if not 1 <= months <= 24:
            raise ValueError("months must be within 1..24")
        plan = self._script.popleft() if self._script else self._per_id.get(id_number, "statements")
        self.requests.append((reference, id_number))
        if plan == "timeout":
            raise AdapterTimeout("statements", reference=reference, detail="simulated")
        if plan == "failure":
            raise AdapterFailure("statements", reference=reference, detail="simulated")
        as_of = self.clock.business_date()
        profile = self.profiles.profile(id_number)
        self._counter += 1
        result = simulate_statements(
            profile, bank_card=bank_card, as_of=as_of, months=months, reference=reference,
            provider_reference=f"STMT{as_of:%Y%m%d}{self._counter:08d}",
            bureau=simulate_report(profile, name=name, as_of=as_of),
        )
        self._results[reference] = result
        return result
