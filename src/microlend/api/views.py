"""Domain objects to response bodies (masked PII only)."""

from __future__ import annotations

from datetime import date

from microlend.api import schemas
from microlend.lending.credit_lines import CreditLine
from microlend.lending.customers import Customer
from microlend.lending.delinquency import DEFAULT_POLICY
from microlend.lending.loans import Loan
from microlend.lending.products import LoanProduct, product_to_dict
from microlend.lending.records import Drawdown, Repayment
from microlend.services.quotes import Quote


def customer(c: Customer) -> schemas.CustomerRead:
    return schemas.CustomerRead(
        id=c.id, name=c.name, id_number=c.id_number_masked, phone=c.phone_masked, bank_card=c.card_masked,
        birth_date=c.birth_date, sex=c.sex, province_code=c.province_code, status=c.status, created_at=c.created_at,
    )


def product(p: LoanProduct) -> schemas.ProductRead:
    return schemas.ProductRead(**product_to_dict(p))


def line(l: CreditLine) -> schemas.CreditLineRead:
    return schemas.CreditLineRead(
        id=l.id, customer_id=l.customer_id, product_code=l.product_code, limit=l.limit, used=l.used,
        available=l.available, daily_rate=l.daily_rate, status=l.status, status_reason=l.status_reason,
        opened_on=l.opened_on, closed_on=l.closed_on,
    )


def quote(q: Quote) -> schemas.QuoteRead:
    s = q.schedule
    return schemas.QuoteRead(
        product_code=q.product_code, amount=s.principal, term=q.term, method=s.method.value, start_date=s.start,
        rates=schemas.RatesRead(apr=q.rates.apr, effective_annual=q.rates.effective_annual, simple=q.rates.simple,
                                daily_rate=s.daily_rate),
        total_interest=s.total_interest, total_fees=s.total_fees, total_cost=s.total_cost,
        total_repayment=s.total_repayment,
        installments=[
            schemas.InstallmentRead(number=i.number, period_start=i.period_start, due_date=i.due_date, days=i.days,
                                    opening_principal=i.opening_principal, principal=i.principal, interest=i.interest,
                                    fee=i.fee, total=i.total)
            for i in s.installments
        ],
    )


def drawdown(d: Drawdown) -> schemas.DrawdownRead:
    return schemas.DrawdownRead(
        id=d.id, credit_line_id=d.credit_line_id, customer_id=d.customer_id, amount=d.amount, term=d.term,
        method=d.method, daily_rate=d.daily_rate, purpose=d.purpose, status=d.status, failure_code=d.failure_code,
        failure_message=d.failure_message, disbursed_amount=d.disbursed_amount, loan_id=d.loan_id, requested_on=d.requested_on, created_at=d.created_at,
    )


def loan(l: Loan, on: date) -> schemas.LoanRead:
    dpd = l.days_past_due(on) if l.status == "active" else 0
    return schemas.LoanRead(
        id=l.id, customer_id=l.customer_id, credit_line_id=l.credit_line_id, product_code=l.product_code,
        principal=l.principal, principal_outstanding=l.principal_outstanding, daily_rate=l.daily_rate,
        penalty_rate=l.penalty_rate, term=l.term, method=l.method, start_date=l.start_date, status=l.status,
        days_past_due=dpd, bucket=DEFAULT_POLICY.bucket(dpd).value,
        classification=DEFAULT_POLICY.classification(dpd).value, closed_on=l.closed_on, apr=l.apr,
    )


def schedule(l: Loan, on: date) -> schemas.ScheduleRead:
    rows = []
    for i in l.installments:
        if i.settled:
            status = "paid"
        elif l.is_overdue(i, on):
            status = "overdue"
        elif i.due_date <= on:
            status = "due"
        else:
            status = "scheduled"
        rows.append(schemas.LoanInstallmentRead(
            number=i.number, period_start=i.period_start, due_date=i.due_date, principal=i.principal,
            interest=i.interest, fee=i.fee, principal_paid=i.principal_paid, interest_paid=i.interest_paid,
            fee_paid=i.fee_paid, status=status,
        ))
    return schemas.ScheduleRead(loan_id=l.id, installments=rows)


def repayment(r: Repayment) -> schemas.RepaymentRead:
    return schemas.RepaymentRead(
        id=r.id, loan_id=r.loan_id, amount=r.amount, paid_on=r.paid_on, channel=r.channel, principal=r.principal,
        interest=r.interest, fee=r.fee, penalty=r.penalty, prepaid_principal=r.prepaid_principal, paid_off=r.paid_off,
        allocation=[schemas.AllocationPartRead(**part) for part in r.allocation], created_at=r.created_at,
    )
