"""Demo data for ``make run``: the reference product, a few customers with lines,
loans and repayments, built through the real services (so the ledger is real), then a
small simulated book (``simulation.book``) brought to the close of business of the day
before the business date, so lists, reports and the next close of business have a
realistic spread of loans to show.

Loaded once: a database that already has customers is left alone.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from microlend.clock import FixedClock
from microlend.services import credit_lines, customers, drawdowns, loans, products, repayments
from microlend.services.platform import Platform
from microlend.simulation.book import build_book
from microlend.simulation.people import make_person

DEMO_SEED = 20261127
#: Loans in the simulated part of the demo book.
DEMO_BOOK_LOANS = 200


def demo_loaded(platform: Platform) -> bool:
    with platform.uow() as uow:
        return bool(uow.customers.list(limit=1, offset=0))


def load_demo(platform: Platform, *, customers_count: int = 6, book_loans: int = DEMO_BOOK_LOANS) -> int:
    """Create demo records dated over the last four months, then a simulated book of ``book_loans``
    loans as of yesterday; returns the customers created."""
    if demo_loaded(platform):
        return 0
    today = platform.clock.business_date()
    clock = FixedClock(today - timedelta(days=120), platform.clock.now() - timedelta(days=120))
    rng = random.Random(DEMO_SEED)
    product = products.ensure_reference_product(uow=platform.uow(), clock=clock)
    rates = [Decimal("0.0002"), Decimal("0.0003"), Decimal("0.0004"), Decimal("0.0005")]
    made = []
    for _ in range(customers_count):
        person = make_person(rng, on=today)
        customer = customers.register_customer(
            uow=platform.uow(), cipher=platform.cipher, clock=clock, name=person.name,
            id_number=person.id_number, phone=person.phone, bank_card=person.bank_card,
        )
        limit = Decimal(rng.randrange(50, 500) * 100)
        line = credit_lines.grant_line(uow=platform.uow(), clock=clock, customer_id=customer.id,
                                       product_code=product.code, limit=limit, daily_rate=rng.choice(rates),
                                       actor="demo", reason="demo data")
        made.append(line)
    for index, line in enumerate(made):
        amount = (line.limit * Decimal(rng.choice([3, 5, 8])) / 10).quantize(Decimal("100"))
        dd = drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher, clock=clock,
                                        line_id=line.id, amount=amount, term=rng.choice(product.terms),
                                        purpose="consumer purchase / 消费")
        if dd.loan_id is None or index % 3 == 2:
            continue  # every third borrower has not paid yet (overdue in the demo)
        pay_clock = FixedClock(clock.current_date + timedelta(days=31 + index), clock.current_time)
        quote = loans.payoff_quote(uow=platform.uow(), clock=pay_clock, loan_id=dd.loan_id)
        part = (quote.total / 4).quantize(Decimal("0.01"))
        repayments.repay(uow=platform.uow(), clock=pay_clock, rail=platform.rail, cipher=platform.cipher,
                         loan_id=dd.loan_id, amount=part)
        if index % 3 == 1:
            pay_clock.advance(20)
            quote = loans.payoff_quote(uow=platform.uow(), clock=pay_clock, loan_id=dd.loan_id)
            repayments.repay(uow=platform.uow(), clock=pay_clock, rail=platform.rail, cipher=platform.cipher,
                             loan_id=dd.loan_id, amount=quote.total)
    from microlend.simulation.demo_model import install_demo_scorecard

    install_demo_scorecard(platform)  # so the demo applications are scored
    load_demo_applications(platform)
    simulated = 0
    if book_loans > 0:
        simulated = build_book(platform.engine, loans=book_loans, as_of=today - timedelta(days=1),
                               cipher=platform.cipher, seed=DEMO_SEED, product=product, workers=0).customers
    return len(made) + simulated


#: Applications decided through the real flow in the demo (a mix of approvals, rejections and reviews).
DEMO_APPLICATIONS = 24


def load_demo_applications(platform: Platform, *, count: int = DEMO_APPLICATIONS) -> dict[str, int]:
    """Apply for ``count`` simulated people through the real origination flow (the demo scorecard must be
    the champion for them to be scored; without one they go to review). Some share a device, so the
    velocity rules have something to find; a few are steered to provider timeouts."""
    from microlend.services.origination.applications import ApplicationInput, submit
    from microlend.simulation.applicants import declared_income_of, industry_of

    rng = random.Random(DEMO_SEED + 1)
    today = platform.clock.business_date()
    outcomes: dict[str, int] = {}
    for n in range(count):
        person = make_person(rng, on=today)
        if n % 11 == 10 and hasattr(platform.bureau, "steer"):
            platform.bureau.steer(person.id_number, "timeout")  # shows the fallback: review, never approve
        profile = platform.bureau.profiles.profile(person.id_number) if hasattr(platform.bureau, "profiles") else None
        income = declared_income_of(profile) if profile is not None else Decimal(rng.randrange(40, 200) * 100)
        data = ApplicationInput(
            name=person.name, id_number=person.id_number, phone=person.phone, bank_card=person.bank_card,
            device_id=f"demo-device-{n // 4 if n % 8 == 7 else n:04d}", ip=f"36.{rng.randrange(1, 250)}.{n}.8",
            declared_income=income, industry=industry_of(person.id_number), region=person.id_number[:2],
            consent_given=True, consent_text_version="demo-consent-1", channel="demo")
        view = submit(platform=platform, data=data, actor="demo", idempotency_scope="demo",
                      idempotency_key=f"demo-application-{n}")
        outcomes[view["status"]] = outcomes.get(view["status"], 0) + 1
    return outcomes
