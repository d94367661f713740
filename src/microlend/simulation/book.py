"""The book simulator: a realistic loan book, written straight to the database.

``build_book`` creates customers (valid identities, PII encrypted, hashed and masked as
onboarding does), one credit line each (log-normal limits, a daily rate by risk band)
and 1-3 loans per customer drawn over the twelve months before ``as_of`` (recent ones
likelier). History is applied at instalment level through the domain (``apply_payment``,
``recognition_entry``, ``repayment_entry``), by the borrower's behaviour
(``simulation.behaviour``, a hash of the card):

* on time: every instalment paid on its due date; 8 % repay the whole loan early;
* late: about half the instalments paid 1-12 days late (with penalty), the most recent
  1-2 unpaid;
* partial: paid up to a random instalment, which is paid 30-70 %, nothing after;
* never: nothing paid from one of the first three instalments.

Then what the nightly close of business would have done: a write-off at the policy's
days past due, delinquency history rows at each tier change, lines frozen while a loan
is delinquent, and the close of business of ``as_of`` (``close_day``) for every active
loan, its income in one aggregated accrual entry per product. A ``cob_runs`` row marks
``as_of`` done, so the close of business continues the next day.

The result reconciles loan by loan (own lines plus ``cob_*`` shares), the trial
balance balances, and a fresh ``close_day`` from the stored rows changes nothing.

Speed: rows are built as tuples and inserted with SQLAlchemy Core on SQLite, and with
``COPY`` on PostgreSQL. Ids are assigned here (after the current maximum; the
PostgreSQL sequences are moved past them), so the builder must not run beside other
writers. Large books are built by forked worker processes (the domain classes are
unmapped in the worker, which makes them several times faster); the parent assigns
ids and writes. With ``trusted_load`` (default) and a role allowed to, PostgreSQL loads
each batch with ``session_replication_role = replica``: no foreign-key or trigger checks
(every row is generated consistent), and the journal's balance, which a trigger checks
otherwise, is checked by one query per batch instead. A failed build leaves the batches
already committed; use a fresh database for the next try.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import queue
import random
import threading
import time
import traceback
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from multiprocessing.connection import wait
from typing import Callable

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from microlend.lending.daily import apply_result, close_day
from microlend.lending.delinquency import DEFAULT_POLICY, DelinquencyPolicy
from microlend.lending.identity import PROVINCES, id_check_character
from microlend.lending.ledger import Accounts, EntryBuilder, EntryKind, JournalEntry
from microlend.lending.loans import (
    ACCRUED_INTEREST,
    PREPAID_PRINCIPAL,
    AllocationPart,
    Loan,
    LoanStatus,
    PaymentAllocation,
    apply_payment,
    new_loan,
    refresh_summary,
)
from microlend.lending.postings import disbursement_entry, recognition_entry, repayment_entry
from microlend.lending.products import (
    REFERENCE_PRODUCT,
    Component,
    LoanProduct,
    RepaymentMethod,
    product_to_dict,
    validate_product,
)
from microlend.lending.schedule import build_schedule
from microlend.money import FEN, ZERO, to_fen
from microlend.security.fields import FieldCipher
from microlend.security.masking import mask_bank_card, mask_id_number, mask_phone
from microlend.services.cob.write_off import write_off as write_off_in_memory
from microlend.simulation.behaviour import DEFAULT_MIX, Behaviour, BehaviourMix, behaviour_of
from microlend.simulation.people import make_person
from microlend.store import tables

__all__ = ["BookSummary", "build_book"]

ACTOR = "simulator"
#: Loans per customer (1-3, about 1.3 on average).
_LOANS_PER_CUSTOMER = ((1, 2, 3), (0.78, 0.14, 0.08))
#: County codes weighted roughly by population and online-lending use.
_AREAS = (("440305", 11), ("440106", 6), ("370202", 8), ("410105", 8), ("320102", 7), ("510107", 7),
          ("130102", 5), ("430102", 5), ("330106", 6), ("340102", 4), ("420106", 4), ("310104", 4),
          ("110105", 3), ("350203", 3), ("610113", 3), ("500103", 3), ("450102", 3), ("530102", 3),
          ("360102", 3), ("210102", 3))
_INDUSTRIES = (("manufacturing", 18), ("wholesale and retail", 16), ("construction", 10), ("transport", 8),
               ("hospitality", 8), ("information technology", 7), ("education", 6), ("healthcare", 5),
               ("agriculture", 6), ("finance", 3), ("public sector", 5), ("self-employed", 8))
_PURPOSES = ("consumer purchase / 消费", "home appliances / 家电", "education / 教育", "travel / 旅游",
             "home renovation / 装修", "medical / 医疗", "working capital / 经营周转")
_RATES = (Decimal("0.0002"), Decimal("0.0003"), Decimal("0.0004"), Decimal("0.0005"))
#: Risk band (daily rate) weights by behaviour: riskier borrowers pay dearer.
_RATE_WEIGHTS = {Behaviour.ON_TIME: (35, 35, 20, 10), Behaviour.LATE: (10, 30, 35, 25),
                 Behaviour.PARTIAL: (5, 20, 35, 40), Behaviour.NEVER: (5, 15, 30, 50)}
_TERM_WEIGHTS = {5: 3.0, 10: 4.5, 20: 2.5}
#: Birth dates are a bijection of the customer id over this many days x 1000 sequence numbers,
#: so simulated ID numbers never repeat (up to about ten million customers).
_BIRTH_DAYS = 28 * 365
_ID_SPACE = _BIRTH_DAYS * 1000
_ID_MULTIPLIER, _ID_OFFSET = 2_654_435_761, 48_271
_DUE_COMPONENTS = {Component.FEE_DUE.value: "fee", Component.INTEREST_DUE.value: "interest",
                   Component.PRINCIPAL_DUE.value: "principal"}
_NOT_OWED_YET = (ACCRUED_INTEREST, PREPAID_PRINCIPAL)
_ID_TABLES = ("customers", "credit_lines", "drawdowns", "loans", "repayments", "journal_entries")

_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "name", "id_number_token", "id_number_hash", "id_number_masked", "birth_date", "sex",
                  "province_code", "phone_token", "phone_hash", "phone_masked", "card_token", "card_hash",
                  "card_masked", "status", "created_at", "language"),
    "credit_lines": ("id", "customer_id", "product_code", "limit", "used", "daily_rate", "status", "status_reason",
                     "freeze_cause", "opened_on"),
    "credit_line_events": ("credit_line_id", "kind", "old_limit", "new_limit", "reason", "actor", "business_date",
                           "at"),
    "drawdowns": ("id", "credit_line_id", "customer_id", "amount", "term", "method", "daily_rate", "purpose",
                  "status", "rail_reference", "disbursed_amount", "loan_id", "requested_on", "created_at",
                  "completed_at"),
    "loans": ("id", "drawdown_id", "customer_id", "credit_line_id", "product_code", "principal", "daily_rate",
              "penalty_rate", "grace_days", "term", "method", "start_date", "monthly_fee", "allocation_order", "apr",
              "status", "principal_prepaid", "penalty_exact", "penalty_through", "penalty_paid",
              "interest_recognized", "fee_recognized", "penalty_recognized", "closed_on", "cob_through",
              "accrual_base", "accrual_principal", "accrual_start", "next_due_date", "next_event_on",
              "overdue_principal", "oldest_unpaid_due", "dpd", "bucket", "loan_class", "cob_interest", "cob_penalty",
              "cob_fee", "written_off_on", "written_off_amount", "recovered"),
    "loan_installments": ("loan_id", "number", "period_start", "due_date", "principal", "interest", "fee",
                          "accrual_start", "interest_settled", "principal_paid", "interest_paid", "fee_paid"),
    "repayments": ("id", "loan_id", "amount", "paid_on", "channel", "principal", "interest", "fee", "penalty",
                   "prepaid_principal", "paid_off", "allocation", "created_at"),
    "journal_entries": ("id", "entry_date", "kind", "description", "reference", "posted_at"),
    "journal_lines": ("entry_id", "account_code", "debit", "credit", "loan_id"),
    "write_offs": ("loan_id", "business_date", "dpd", "principal", "interest", "fee", "penalty",
                   "journal_entry_id"),
    "loan_delinquency_history": ("loan_id", "business_date", "dpd", "bucket", "loan_class"),
}


@dataclass
class BookSummary:
    """What was built. Region and industry are statistics only (customers have no industry column)."""

    as_of: date
    loans: int = 0
    customers: int = 0
    installments: int = 0
    repayments: int = 0
    journal_entries: int = 0
    by_behaviour: Counter = field(default_factory=Counter)   # loans
    by_status: Counter = field(default_factory=Counter)      # loans
    by_bucket: Counter = field(default_factory=Counter)      # active loans
    by_region: Counter = field(default_factory=Counter)      # customers, by province
    by_industry: Counter = field(default_factory=Counter)    # customers
    principal: Decimal = ZERO
    outstanding: Decimal = ZERO
    #: Income brought to ``as_of`` in the aggregated accrual entries: interest, fee, penalty.
    accrued: dict[str, Decimal] = field(default_factory=lambda: {"interest": ZERO, "fee": ZERO, "penalty": ZERO})
    first_loan_id: int | None = None
    last_loan_id: int | None = None
    seconds: float = 0.0

    @property
    def loans_per_second(self) -> float:
        return self.loans / self.seconds if self.seconds else 0.0

    def merge(self, other: "BookSummary") -> None:
        for name in ("loans", "customers", "installments", "repayments", "journal_entries", "principal",
                     "outstanding"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("by_behaviour", "by_status", "by_bucket", "by_region", "by_industry"):
            getattr(self, name).update(getattr(other, name))
        for kind, amount in other.accrued.items():
            self.accrued[kind] += amount


def build_book(
    engine: Engine, *, loans: int, as_of: date, cipher: FieldCipher, seed: int = 7, mix: BehaviourMix | None = None,
    product: LoanProduct = REFERENCE_PRODUCT, policy: DelinquencyPolicy = DEFAULT_POLICY, batch_size: int = 5000,
    progress: Callable[[int], None] | None = None, workers: int | None = None, trusted_load: bool = True,
) -> BookSummary:
    """Build ``loans`` loans (and their customers and lines) brought to the close of business of ``as_of``.

    ``workers``: processes generating rows (None: two for 10,000 loans or more where
    ``fork`` exists, else none). ``progress`` gets the number of loans written so far.
    """
    if loans < 0 or batch_size < 1:
        raise ValueError("loans must be >= 0 and batch_size >= 1")
    started = time.perf_counter()
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        _ensure_product(conn, product)
        _ensure_accounts(conn)
        ids = _Ids(conn, postgres)
    cfg = _Config(as_of=as_of, seed=seed, mix=mix or DEFAULT_MIX, product=product, policy=policy, cipher=cipher,
                  postgres=postgres, dialect=engine.dialect)
    writer = _Writer(engine, postgres, trusted_load and postgres and _may_skip_checks(engine), ids)
    summary = BookSummary(as_of=as_of)
    tasks = _tasks(loans, batch_size, seed, ids)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if loans >= 10_000 and _can_fork() else 0

    def done(batch_summary: BookSummary) -> None:
        summary.merge(batch_summary)
        if progress is not None:
            progress(summary.loans)

    if workers > 0 and len(tasks) > 1:
        _run_forked(tasks, cfg, ids, writer, done, min(workers, len(tasks)))
    else:
        for task in tasks:
            batch = _simulate(task, cfg)
            bases = ids.take("repayments", len(batch.payments)), ids.take("journal_entries", len(batch.entries))
            writer.write(_encode(_finish(batch, *bases, postgres), engine.dialect, batch.accrued))
            done(batch.summary)
    if tasks:
        summary.first_loan_id, summary.last_loan_id = tasks[0].loan_base, tasks[-1].loan_base + sum(tasks[-1].counts) - 1
    for code_totals in writer.accrued.values():
        for kind, amount in zip(("interest", "fee", "penalty"), code_totals):
            summary.accrued[kind] += amount
    with engine.begin() as conn:
        summary.journal_entries += _post_accruals(conn, ids, as_of, writer.accrued)
        _mark_done(conn, as_of, summary)
        ids.sync(conn)
    summary.seconds = time.perf_counter() - started
    return summary


# --- setup ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Config:
    as_of: date
    seed: int
    mix: BehaviourMix
    product: LoanProduct
    policy: DelinquencyPolicy
    cipher: FieldCipher
    postgres: bool
    dialect: object


@dataclass(frozen=True)
class _Task:
    no: int
    counts: tuple[int, ...]  # loans of each customer
    customer_base: int
    loan_base: int
    drawdown_base: int
    line_base: int


def _ensure_product(conn, product: LoanProduct) -> None:
    if conn.execute(select(tables.products.c.code).where(tables.products.c.code == product.code)).first() is None:
        validate_product(product)
        conn.execute(insert(tables.products).values(code=product.code, name=product.name,
                                                    config=product_to_dict(product), active=product.active,
                                                    created_at=datetime.now(timezone.utc)))


def _ensure_accounts(conn) -> None:
    existing = set(conn.scalars(select(tables.ledger_accounts.c.code)))
    missing = [{"code": a.code, "name": a.name, "type": a.type.value, "contra": a.contra}
               for a in Accounts.all() if a.code not in existing]
    if missing:
        conn.execute(insert(tables.ledger_accounts), missing)


class _Ids:
    """Next ids per table: after the current maximum (and, on PostgreSQL, the sequence)."""

    def __init__(self, conn, postgres: bool):
        self.postgres, self.next, self.sequences = postgres, {}, {}
        for name in _ID_TABLES:
            table = tables.metadata.tables[name]
            highest = conn.execute(select(func.max(table.c.id))).scalar() or 0
            if postgres:
                sequence = conn.execute(text(f"SELECT pg_get_serial_sequence('{name}', 'id')")).scalar()
                if sequence:
                    self.sequences[name] = sequence
                    last, called = conn.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
                    highest = max(highest, last if called else last - 1)
            self.next[name] = highest + 1

    def take(self, name: str, count: int) -> int:
        base = self.next[name]
        self.next[name] += count
        return base

    def sync(self, conn) -> None:
        """Move the PostgreSQL sequences past every id handed out (SQLite needs nothing)."""
        for name, sequence in self.sequences.items():
            if self.next[name] > 1:
                conn.execute(text("SELECT setval(:s, :v)"), {"s": sequence, "v": self.next[name] - 1})


def _tasks(loans: int, batch_size: int, seed: int, ids: _Ids) -> list[_Task]:
    rng = random.Random(f"plan:{seed}:{ids.next['customers']}")
    sizes, weights = _LOANS_PER_CUSTOMER
    tasks, left = [], loans
    while left > 0:
        n, counts, planned = min(batch_size, left), [], 0
        while planned < n:
            k = min(rng.choices(sizes, weights)[0], n - planned)
            counts.append(k)
            planned += k
        tasks.append(_Task(len(tasks), tuple(counts), ids.take("customers", len(counts)), ids.take("loans", n),
                           ids.take("drawdowns", n), ids.take("credit_lines", len(counts))))
        left -= n
    return tasks


def _may_skip_checks(engine: Engine) -> bool:
    """Whether this role may set ``session_replication_role`` (superusers, or granted on PostgreSQL 15+)."""
    with engine.connect() as conn:
        try:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            return True
        except DBAPIError:
            return False
        finally:
            conn.rollback()


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


# --- one batch: customers, lines, loans and their history (pure, no database) ----------

_UTC = timezone.utc
_TIMES: dict[tuple[date, bool], datetime | str] = {}


def _at(day: date, as_text: bool = False):
    """A timestamp on a business date (10:00 in Beijing); as COPY text for PostgreSQL."""
    stamp = _TIMES.get((day, as_text))
    if stamp is None:
        moment = datetime(day.year, day.month, day.day, 2, 0, tzinfo=_UTC)
        stamp = _TIMES[(day, as_text)] = str(moment) if as_text else moment
    return stamp


@dataclass
class _Batch:
    summary: BookSummary
    rows: dict[str, list[tuple]] = field(default_factory=lambda: {name: [] for name in _COLUMNS})
    #: (loan id, allocation) per repayment, in order.
    payments: list[tuple[int, PaymentAllocation]] = field(default_factory=list)
    #: (entry, index of its repayment or None, write-off row without its entry id or None).
    entries: list[tuple[JournalEntry, int | None, tuple | None]] = field(default_factory=list)
    accrued: dict[str, list[Decimal]] = field(default_factory=dict)


def _simulate(task: _Task, cfg: _Config) -> _Batch:
    rng = random.Random(f"{cfg.seed}:{task.customer_base}")
    batch = _Batch(BookSummary(as_of=cfg.as_of))
    loan_id, drawdown_id = task.loan_base, task.drawdown_base
    areas, area_weights = zip(*_AREAS)
    industries, industry_weights = zip(*_INDUSTRIES)
    for offset, count in enumerate(task.counts):
        customer_id, line_id = task.customer_base + offset, task.line_base + offset
        person = make_person(rng, on=cfg.as_of)
        behaviour = behaviour_of(person.bank_card, cfg.mix)
        area = rng.choices(areas, area_weights)[0]
        batch.summary.by_region[PROVINCES[area[:2]]] += 1
        batch.summary.by_industry[rng.choices(industries, industry_weights)[0]] += 1
        _customer(batch, cfg, rng, customer_id, line_id, person, behaviour, area, count, loan_id, drawdown_id)
        loan_id += count
        drawdown_id += count
    batch.summary.customers = len(task.counts)
    return batch


def _customer(batch: _Batch, cfg: _Config, rng: random.Random, customer_id: int, line_id: int, person,
              behaviour: Behaviour, area: str, count: int, loan_id: int, drawdown_id: int) -> None:
    product, as_of = cfg.product, cfg.as_of
    limit = _limit(rng, product, count)
    rate = _rate(rng, product, behaviour)
    starts = sorted(as_of - timedelta(days=int(365 * rng.random() ** 1.6)) for _ in range(count))
    opened_on = starts[0] - timedelta(days=rng.randrange(0, 30))
    frozen_from: date | None = None  # a frozen line takes no new drawdowns
    loans: list[Loan] = []
    for k, start in enumerate(starts):
        if frozen_from is not None and start >= frozen_from:
            start = opened_on + timedelta(days=rng.randrange(0, max(1, (frozen_from - opened_on).days)))
        loan = _loan(batch, cfg, rng, loan_id + k, drawdown_id + k, customer_id, line_id, behaviour, rate,
                     _amount(rng, product, limit / count), start)
        delinquent_since = _delinquent_since(loan, as_of)
        if delinquent_since is not None and (frozen_from is None or delinquent_since < frozen_from):
            frozen_from = delinquent_since
        loans.append(loan)
    id_number, birth, sex = _id_number(customer_id, area, as_of)
    created = _at(opened_on) - timedelta(minutes=rng.randrange(60, 3 * 24 * 60))
    c = cfg.cipher
    batch.rows["customers"].append((
        customer_id, person.name, c.encrypt(id_number, field="id_number"), c.lookup_hash(id_number, field="id_number"),
        mask_id_number(id_number), birth, sex, area[:2], c.encrypt(person.phone, field="phone"),
        c.lookup_hash(person.phone, field="phone"), mask_phone(person.phone),
        c.encrypt(person.bank_card, field="bank_card"), c.lookup_hash(person.bank_card, field="bank_card"),
        mask_bank_card(person.bank_card), "active", created, "en" if rng.random() < 0.1 else "zh",
    ))
    used = sum((loan.principal_outstanding for loan in loans), ZERO)
    events = batch.rows["credit_line_events"]
    pg = cfg.postgres
    events.append((line_id, "granted", None, limit, "simulated book", ACTOR, opened_on, _at(opened_on, pg)))
    if frozen_from is not None:
        reason = "a loan on this line is overdue"
        status, cause = "frozen", "overdue"
        events.append((line_id, "frozen", None, None, reason, ACTOR, frozen_from, _at(frozen_from, pg)))
    else:
        status, cause, reason = "active", None, None
    batch.rows["credit_lines"].append((line_id, customer_id, product.code, limit, used, rate, status, reason, cause,
                                       opened_on))
    batch.summary.by_behaviour[behaviour.value] += count


def _loan(batch: _Batch, cfg: _Config, rng: random.Random, loan_id: int, drawdown_id: int, customer_id: int,
          line_id: int, behaviour: Behaviour, rate: Decimal, amount: Decimal, start: date) -> Loan:
    product, as_of, policy = cfg.product, cfg.as_of, cfg.policy
    terms = product.terms
    term = rng.choices(terms, [_TERM_WEIGHTS.get(t, 3.0) for t in terms])[0]
    method = (RepaymentMethod.EQUAL_INSTALLMENT
              if RepaymentMethod.EQUAL_INSTALLMENT in product.methods and len(product.methods) > 1
              and rng.random() < 0.3 else product.default_method)
    schedule = build_schedule(principal=amount, daily_rate=rate, term=term, start=start, method=method,
                              monthly_fee_rate=product.monthly_fee_rate)
    loan = new_loan(schedule=schedule, product=product, customer_id=customer_id, credit_line_id=line_id, term=term)
    loan.id, loan.drawdown_id = loan_id, drawdown_id
    batch.entries.append((disbursement_entry(loan_id=loan_id, amount=amount, on=start,
                                             reference=f"DD{drawdown_id:012d}"), None, None))
    episodes = _history(batch, loan, behaviour, rng, as_of)
    totals = batch.accrued.setdefault(loan.product_code, [ZERO, ZERO, ZERO])
    if loan.status == LoanStatus.ACTIVE.value:
        dpd = loan.days_past_due(as_of)
        on = as_of
        if policy.due_for_write_off(dpd):
            on = _oldest_unpaid_due(loan, as_of) + timedelta(days=policy.write_off_dpd)
        result = close_day(loan, on, policy)
        totals[0] += result.interest_delta
        totals[1] += result.fee_delta
        totals[2] += result.penalty_delta
        apply_result(loan, result, on)
        if on != as_of:
            _write_off(batch, loan, on, result.dpd)
        oldest = loan.oldest_unpaid_due
        if oldest is not None and oldest < on:
            episodes.append((oldest, None, on))
    _delinquency_history(batch, loan, episodes, policy)
    _loan_rows(batch, loan, rng, amount, cfg.postgres)
    return loan


def _history(batch: _Batch, loan: Loan, behaviour: Behaviour, rng: random.Random, as_of: date) -> list[tuple]:
    """Payments up to ``as_of`` by behaviour; returns the overdue episodes that were cured (due, paid on, _)."""
    insts = loan.installments
    due_n = bisect_right([i.due_date for i in insts], as_of)
    episodes: list[tuple] = []
    if behaviour is Behaviour.ON_TIME:
        last = insts[-1].due_date
        payoff_on = None
        if rng.random() < 0.08 and (min(as_of, last) - loan.start_date).days > 15:
            payoff_on = loan.start_date + timedelta(days=rng.randrange(15, (min(as_of, last) - loan.start_date).days))
        for inst in insts[:due_n]:
            if payoff_on is not None and inst.due_date >= payoff_on:
                break
            _pay(batch, loan, inst)
        if payoff_on is not None:
            _book(batch, loan, apply_payment(loan, loan.payoff_amount(payoff_on), payoff_on))
    elif behaviour is Behaviour.LATE:
        for j in range(max(0, due_n - rng.choice((1, 2)))):
            inst = insts[j]
            gap = (insts[j + 1].due_date - inst.due_date).days
            late = min(rng.randint(1, min(12, gap - 1)), (as_of - inst.due_date).days) if rng.random() < 0.5 else 0
            if late <= 0:
                _pay(batch, loan, inst)
                continue
            on = inst.due_date + timedelta(days=late)
            _book(batch, loan, apply_payment(loan, _owed(loan, on), on))
            episodes.append((inst.due_date, on, on))
    elif due_n:
        cut = rng.randint(1, due_n) if behaviour is Behaviour.PARTIAL else rng.randint(1, min(3, due_n))
        for inst in insts[:cut - 1]:
            _pay(batch, loan, inst)
        if behaviour is Behaviour.PARTIAL:
            inst = insts[cut - 1]
            owed = inst.fee_unpaid + inst.interest_unpaid + inst.principal_unpaid
            part = max(FEN, (owed * Decimal(rng.randint(30, 70)) / 100).quantize(FEN, rounding=ROUND_DOWN))
            _book(batch, loan, apply_payment(loan, part, inst.due_date))
    if loan.status == LoanStatus.PAID_OFF.value and loan.closed_on is not None:
        refresh_summary(loan, loan.closed_on)  # the fast path leaves the summary to the last payment
    return episodes


def _owed(loan: Loan, on: date) -> Decimal:
    """Everything due or overdue on ``on`` (not the running period's interest, not prepayment)."""
    return sum((owed for component, _, owed in loan.buckets(on) if component not in _NOT_OWED_YET), ZERO)


def _pay(batch: _Batch, loan: Loan, inst) -> None:
    """The instalment paid in full on its due date."""
    allocation = _pay_due(loan, inst)
    if allocation is None:
        amount = _owed(loan, inst.due_date)
        if amount <= 0:
            return
        allocation = apply_payment(loan, amount, inst.due_date)
    _book(batch, loan, allocation)


def _pay_due(loan: Loan, inst) -> PaymentAllocation | None:
    """``apply_payment`` of exactly the instalment's amount on its due date, when nothing else is owed.

    The same result as ``apply_payment`` (tests compare them) at a fraction of the cost,
    except the summary fields, which the caller refreshes after the last payment.
    Returns None when the shortcut does not apply (the caller then takes the full path).
    """
    on, insts, index = inst.due_date, loan.installments, inst.number - 1
    if (loan.status != LoanStatus.ACTIVE.value or index >= len(insts) or insts[index] is not inst
            or (loan.penalty_through is not None and on < loan.penalty_through)
            or to_fen(loan.penalty_exact) != loan.penalty_paid):
        return None
    for earlier in insts[:index]:  # all settled (``LoanInstallment.settled``), so nothing overdue
        if earlier.principal != earlier.principal_paid or earlier.interest_paid < earlier.interest \
                or earlier.fee != earlier.fee_paid:
            return None
    later = insts[index + 1:]
    if later and ((on - later[0].accrual_start).days > 0 or to_fen(later[0].interest_settled) > later[0].interest_paid):
        return None  # interest of the running period is owed too
    owed = {"fee": inst.fee - inst.fee_paid, "interest": inst.interest - inst.interest_paid,
            "principal": inst.principal - inst.principal_paid}
    parts = tuple(AllocationPart(c, inst.number, owed[_DUE_COMPONENTS[c]]) for c in loan.allocation_order
                  if c in _DUE_COMPONENTS and owed[_DUE_COMPONENTS[c]] > 0)
    if not parts:
        return None
    fee, interest, principal = (max(owed[k], ZERO) for k in ("fee", "interest", "principal"))
    inst.fee_paid += fee
    inst.interest_paid += interest
    inst.principal_paid += principal
    loan.penalty_through = on
    paid_off = all(i.principal == i.principal_paid for i in later)  # no principal left to prepay
    if paid_off:
        loan.status, loan.closed_on = LoanStatus.PAID_OFF.value, on
    loan.cob_through = None
    return PaymentAllocation(amount=fee + interest + principal, paid_on=on, parts=parts, principal=principal,
                             interest=interest, fee=fee, penalty=ZERO, prepaid_principal=ZERO, paid_off=paid_off)


def _book(batch: _Batch, loan: Loan, allocation: PaymentAllocation) -> None:
    """The repayment's entries, as ``services.repayments.book_repayment`` posts them."""
    index = len(batch.payments)
    batch.payments.append((loan.id, allocation))  # type: ignore[arg-type]
    recognition = recognition_entry(loan, allocation.paid_on, "")
    if recognition is not None:
        batch.entries.append((recognition, index, None))
    batch.entries.append((repayment_entry(loan, allocation, ""), index, None))


def _write_off(batch: _Batch, loan: Loan, on: date, dpd: int) -> None:
    """As the close of business does (``services.cob.write_off.write_off``), into the batch."""
    done = write_off_in_memory(loan, on=on, dpd=dpd)
    if done.entry is not None:
        batch.entries.append((done.entry, None, (loan.id, on, dpd, done.principal, done.interest, done.fee,
                                                 done.penalty)))


def _oldest_unpaid_due(loan: Loan, on: date) -> date:
    return next(i.due_date for i in loan.installments if i.due_date < on and not i.settled)


def _delinquent_since(loan: Loan, as_of: date) -> date | None:
    """The first day the loan counted as overdue in its current (uncured) arrears, if any."""
    if loan.status == LoanStatus.WRITTEN_OFF.value or (loan.status == LoanStatus.ACTIVE.value and loan.dpd > 0):
        return loan.oldest_unpaid_due + timedelta(days=1)  # type: ignore[operator]
    return None


def _delinquency_history(batch: _Batch, loan: Loan, episodes: list[tuple], policy: DelinquencyPolicy) -> None:
    """The tier changes the nightly close of business would have recorded, episode by episode."""
    if not episodes:
        return
    thresholds = sorted({1, *(b + 1 for b in policy.bucket_upper_bounds), *(b + 1 for b in policy.class_upper_bounds)})
    rows = batch.rows["loan_delinquency_history"]
    for due, cured_on, until in episodes:
        tier = ("current", "normal")
        for dpd in thresholds:
            day = due + timedelta(days=dpd)
            if day > until or (cured_on is not None and day >= cured_on):
                break
            new = (policy.bucket(dpd).value, policy.classification(dpd).value)
            if new != tier:
                rows.append((loan.id, day, dpd, *new))
                tier = new
        if cured_on is not None and tier != ("current", "normal"):
            rows.append((loan.id, cured_on, 0, "current", "normal"))


def _loan_rows(batch: _Batch, loan: Loan, rng: random.Random, amount: Decimal, postgres: bool) -> None:
    at = _at(loan.start_date, postgres)
    batch.rows["drawdowns"].append((
        loan.drawdown_id, loan.credit_line_id, loan.customer_id, amount, loan.term, loan.method, loan.daily_rate,
        rng.choice(_PURPOSES), "disbursed", f"SIM{loan.drawdown_id:012d}", amount, loan.id, loan.start_date, at, at,
    ))
    batch.rows["loans"].append((
        loan.id, loan.drawdown_id, loan.customer_id, loan.credit_line_id, loan.product_code, loan.principal,
        loan.daily_rate, loan.penalty_rate, loan.grace_days, loan.term, loan.method, loan.start_date,
        loan.monthly_fee, json.dumps(loan.allocation_order) if postgres else loan.allocation_order, loan.apr, loan.status, loan.principal_prepaid, loan.penalty_exact,
        loan.penalty_through, loan.penalty_paid, loan.interest_recognized, loan.fee_recognized,
        loan.penalty_recognized, loan.closed_on, loan.cob_through, loan.accrual_base, loan.accrual_principal,
        loan.accrual_start, loan.next_due_date, loan.next_event_on, loan.overdue_principal, loan.oldest_unpaid_due,
        loan.dpd, loan.bucket, loan.loan_class, loan.cob_interest, loan.cob_penalty, loan.cob_fee,
        loan.written_off_on, loan.written_off_amount, loan.recovered,
    ))
    installments = batch.rows["loan_installments"]
    for i in loan.installments:
        installments.append((loan.id, i.number, i.period_start, i.due_date, i.principal, i.interest, i.fee,
                             i.accrual_start, i.interest_settled, i.principal_paid, i.interest_paid, i.fee_paid))
    summary = batch.summary
    summary.loans += 1
    summary.installments += len(loan.installments)
    summary.by_status[loan.status] += 1
    if loan.status == LoanStatus.ACTIVE.value:
        summary.by_bucket[loan.bucket] += 1
    summary.principal += loan.principal
    summary.outstanding += loan.principal_outstanding if loan.status == LoanStatus.ACTIVE.value else ZERO


def _limit(rng: random.Random, product: LoanProduct, loans: int) -> Decimal:
    """Log-normal around 8,000, in the product's steps, enough for ``loans`` minimum drawdowns."""
    raw = Decimal(int(2.718281828 ** rng.gauss(8.99, 0.9)))  # e^8.99 ~ 8,000
    step = product.line_step
    limit = min(max(raw, product.line_min), product.line_max) // step * step
    floor = -(-(product.drawdown_min * loans) // step) * step
    return max(limit, floor, product.line_min)


def _rate(rng: random.Random, product: LoanProduct, behaviour: Behaviour) -> Decimal:
    offered = [(r, w) for r, w in zip(_RATES, _RATE_WEIGHTS[behaviour])
               if product.daily_rate_min <= r <= product.daily_rate_max]
    if not offered:
        return product.daily_rate_max
    rates, weights = zip(*offered)
    return rng.choices(rates, weights)[0]


def _amount(rng: random.Random, product: LoanProduct, cap: Decimal) -> Decimal:
    """A drawdown within ``cap``: mostly round hundreds, some whole yuan, a few with fen."""
    raw = cap * Decimal(rng.randint(25, 100)) / 100
    style = rng.random()
    if style < 0.6:
        amount = raw // 100 * 100
    elif style < 0.95:
        amount = raw // 1
    else:
        amount = raw.quantize(FEN, rounding=ROUND_DOWN)
    return max(amount, product.drawdown_min).quantize(FEN)


def _id_number(customer_id: int, area: str, as_of: date) -> tuple[str, date, str]:
    """A valid ID number unique per customer id: (birth date, sequence) is a bijection of the id."""
    x = (customer_id * _ID_MULTIPLIER + _ID_OFFSET) % _ID_SPACE
    sequence, day = x % 1000, x // 1000
    birth = date(as_of.year - 50, 1, 1) + timedelta(days=day)
    body = f"{area}{birth:%Y%m%d}{sequence:03d}"
    return body + id_check_character(body), birth, "male" if sequence % 2 else "female"


# --- ids, encoding and writing --------------------------------------------------------

def _finish(batch: _Batch, repayment_base: int, entry_base: int,
            postgres: bool) -> tuple[dict[str, list[tuple]], tuple[int, int]]:
    """The rows that need repayment and journal-entry ids (JSON as text for PostgreSQL's COPY)."""
    rows = batch.rows
    repayments = rows["repayments"]
    for k, (loan_id, a) in enumerate(batch.payments):
        parts = [{"component": p.component, "installment": p.installment, "amount": str(p.amount)} for p in a.parts]
        repayments.append((repayment_base + k, loan_id, a.amount, a.paid_on, "card", a.principal, a.interest, a.fee,
                           a.penalty, a.prepaid_principal, a.paid_off, json.dumps(parts) if postgres else parts,
                           _at(a.paid_on, postgres)))
    entries, lines, write_offs = rows["journal_entries"], rows["journal_lines"], rows["write_offs"]
    for k, (entry, payment, write_off) in enumerate(batch.entries):
        entry_id = entry_base + k
        reference = entry.reference if payment is None else f"RP{repayment_base + payment:012d}"
        entries.append((entry_id, entry.entry_date, entry.kind.value, entry.description, reference,
                        _at(entry.entry_date, postgres)))
        for line in entry.lines:
            lines.append((entry_id, line.account, line.debit, line.credit, line.loan_id))
        if write_off is not None:
            write_offs.append((*write_off, entry_id))
    batch.summary.repayments = len(batch.payments)
    batch.summary.journal_entries = len(batch.entries)
    return rows, (entry_base, entry_base + len(batch.entries) - 1)


@dataclass
class _Payload:
    tables: list[tuple[str, object]]  # (table, COPY text on PostgreSQL | rows on SQLite)
    entry_range: tuple[int, int]
    accrued: dict[str, list[Decimal]]


def _encode(finished, dialect, accrued: dict | None = None) -> _Payload:
    """COPY text per table on PostgreSQL; on SQLite, rows already through the columns' bind processors."""
    rows, entry_range = finished
    out: list[tuple[str, object]] = []
    for name in _COLUMNS:
        data = rows[name]
        if data:
            out.append((name, _copy_text(data) if dialect.name == "postgresql" else _bound(name, data, dialect)))
    return _Payload(out, entry_range, accrued or {})


_PROCESSORS: dict[str, list] = {}


def _bound(name: str, rows: list[tuple], dialect) -> list[tuple]:
    """What SQLAlchemy would send for these rows (Money as fen, JSON as text...), for ``executemany``."""
    processors = _PROCESSORS.get(name)
    if processors is None:
        table = tables.metadata.tables[name]
        processors = _PROCESSORS[name] = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                                          for c in _COLUMNS[name]]
    indexed = [(k, p) for k, p in enumerate(processors) if p is not None]
    out = []
    for row in rows:
        values = list(row)
        for k, process in indexed:
            values[k] = process(values[k])
        out.append(values)
    return out


def _copy_text(rows: list[tuple]) -> str:
    """PostgreSQL COPY text: tab-separated ``str`` of each value, ``None`` read as NULL (see ``_Writer``).

    No generated text contains a tab, a newline, a backslash or is exactly ``None``.
    """
    return "\n".join(["\t".join(map(str, row)) for row in rows]) + "\n"


def _column_list(name: str) -> str:
    return ", ".join(f'"{c}"' for c in _COLUMNS[name])


class _Writer:
    """Writes batches: COPY on PostgreSQL (optionally without per-row checks), ``executemany`` of
    bound rows on SQLite, in the connection's transaction."""

    def __init__(self, engine: Engine, postgres: bool, skip_checks: bool, ids: _Ids):
        self.engine, self.postgres, self.skip_checks, self.ids = engine, postgres, skip_checks, ids
        self.accrued: dict[str, list[Decimal]] = {}

    def write(self, payload: _Payload) -> None:
        with self.engine.begin() as conn:
            if self.postgres:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")  # a lost batch is a failed build anyway
                if self.skip_checks:
                    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                cursor = conn.connection.driver_connection.cursor()
                for name, data in payload.tables:
                    with cursor.copy(f"COPY {name} ({_column_list(name)}) FROM STDIN (NULL 'None')") as copy:
                        copy.write(data)
                if self.skip_checks:
                    self._check_balanced(conn, *payload.entry_range)
                self.ids.sync(conn)
            else:
                cursor = conn.connection.driver_connection.cursor()
                for name, data in payload.tables:
                    marks = ", ".join("?" * len(_COLUMNS[name]))
                    cursor.executemany(f"INSERT INTO {name} ({_column_list(name)}) VALUES ({marks})", data)
        for code, figures in payload.accrued.items():
            totals = self.accrued.setdefault(code, [ZERO, ZERO, ZERO])
            for k in range(3):
                totals[k] += figures[k]

    @staticmethod
    def _check_balanced(conn, first: int, last: int) -> None:
        """The journal-balance trigger's check, once for the batch (it is off while loading)."""
        bad = conn.execute(text(
            "SELECT entry_id FROM journal_lines WHERE entry_id BETWEEN :a AND :b "
            "GROUP BY entry_id HAVING sum(debit) <> sum(credit) OR count(*) < 2 LIMIT 1"), {"a": first, "b": last},
        ).scalar()
        if bad is not None:
            raise RuntimeError(f"simulated journal entry {bad} does not balance")


def _post_accruals(conn, ids: _Ids, on: date, accrued: dict[str, list[Decimal]]) -> int:
    """One entry per product for the income brought to ``on`` (as the close of business posts it)."""
    posted = 0
    for code, (interest, fee, penalty) in sorted(accrued.items()):
        builder = EntryBuilder(EntryKind.ACCRUAL, on, f"Close of business {on}: income accrued on {code}",
                               f"COB{on:%Y%m%d}-{code}"[:64])
        builder.move(interest, debit=Accounts.INTEREST_RECEIVABLE, credit=Accounts.INTEREST_INCOME)
        builder.move(fee, debit=Accounts.FEE_RECEIVABLE, credit=Accounts.FEE_INCOME)
        builder.move(penalty, debit=Accounts.PENALTY_RECEIVABLE, credit=Accounts.PENALTY_INCOME)
        if builder.empty:
            continue
        entry = builder.build()
        entry_id = ids.take("journal_entries", 1)
        conn.execute(insert(tables.journal_entries).values(id=entry_id, entry_date=on, kind=entry.kind.value,
                                                           description=entry.description, reference=entry.reference,
                                                           posted_at=_at(on)))
        conn.execute(insert(tables.journal_lines), [
            {"entry_id": entry_id, "account_code": line.account, "debit": line.debit, "credit": line.credit,
             "loan_id": None} for line in entry.lines])
        posted += 1
    return posted


def _mark_done(conn, on: date, summary: BookSummary) -> None:
    runs = tables.cob_runs
    if conn.execute(select(runs.c.business_date).where(runs.c.business_date == on)).first() is not None:
        return
    now = datetime.now(timezone.utc)
    conn.execute(insert(runs).values(business_date=on, status="done", started_at=now, finished_at=now,
                                     heartbeat_at=now, owner=ACTOR,
                                     report={"simulated": True, "loans": summary.loans}))


# --- worker processes -----------------------------------------------------------------

def _run_forked(tasks: list[_Task], cfg: _Config, ids: _Ids, writer: _Writer,
                done: Callable[[BookSummary], None], workers: int) -> None:
    """Forked workers simulate batches; this process hands out ids, a thread writes."""
    context = multiprocessing.get_context("fork")
    pending = list(reversed(tasks))
    writes: queue.Queue = queue.Queue(maxsize=2)
    written: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    def write_loop() -> None:
        while (item := writes.get()) is not None:
            if not failure:
                try:
                    writer.write(item[0])
                    written.put(item[1])
                except BaseException as exc:  # reported by the main loop
                    failure.append(exc)

    def report() -> None:
        while not written.empty():
            done(written.get())
        if failure:
            raise failure[0]

    procs = []
    for _ in range(workers):  # fork before this process starts its writer thread
        parent, child = context.Pipe()
        proc = context.Process(target=_worker, args=(child, cfg), daemon=True)
        proc.start()
        child.close()
        procs.append((proc, parent))
    thread = threading.Thread(target=write_loop, name="book-writer", daemon=True)
    thread.start()
    try:
        active = []
        for _, conn in procs:
            if pending:
                conn.send(pending.pop())
                active.append(conn)
        while active:
            report()
            for conn in wait(active, timeout=0.5):
                try:
                    message = conn.recv()
                except EOFError:
                    raise RuntimeError("a book simulator worker died") from None
                if message[0] == "counts":
                    conn.send((ids.take("repayments", message[1]), ids.take("journal_entries", message[2])))
                elif message[0] == "data":
                    if pending:
                        conn.send(pending.pop())  # the worker starts on it while this batch is written
                    else:
                        conn.send(None)
                        active.remove(conn)
                    writes.put((message[1], message[2]))
                else:
                    raise RuntimeError(f"book simulator worker failed:\n{message[1]}")
    except BaseException as exc:
        failure.append(exc)  # the writer drops what is still queued
        raise
    finally:
        writes.put(None)
        thread.join()
        for proc, conn in procs:
            conn.close()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
    report()


def _worker(conn, cfg: _Config) -> None:  # pragma: no cover - runs in a forked process
    # Unmapped, the domain classes are plain dataclasses again (several times faster); this
    # process never touches the database (the parent's connections are left alone).
    from sqlalchemy.orm import clear_mappers

    clear_mappers()
    gc.freeze()  # the parent's objects are never garbage here
    gc.disable()  # a batch makes no reference cycles; collections would only walk its rows
    try:
        while True:
            task = conn.recv()
            if task is None:
                break
            batch = _simulate(task, cfg)
            conn.send(("counts", len(batch.payments), len(batch.entries)))
            repayment_base, entry_base = conn.recv()
            payload = _encode(_finish(batch, repayment_base, entry_base, cfg.postgres), cfg.dialect, batch.accrued)
            conn.send(("data", payload, batch.summary))
            del batch, payload
            gc.collect()
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except BaseException:
            pass
    finally:
        conn.close()
        os._exit(0)
