"""The close of business (COB) step by step, with hand-computed figures, on both databases.

The reference loan of these tests: 10,000 CNY at 0.05% a day, drawn 2026-03-10, five
monthly installments of equal principal (2,000 each), due on the 10th (2026-04-10 first).
Penalty interest is 1.5 x 0.0005 = 0.00075 a day on overdue principal, so an overdue
installment of 2,000 costs 2000 x 0.00075 = 1.50 a day. The COB of a date D brings the
book to D; ``close(platform, D)`` runs exactly that date and moves the test clock to D.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date, timedelta

import pytest
from cob_helpers import (
    FAIL,
    FIRST_DUE,
    D,
    balances,
    close,
    close_through,
    debit_rows,
    draw,
    loan_row,
    reconciled,
    repayment_rows,
    rows,
)
from sqlalchemy import func, insert, select, update

from microlend.adapters.payment_rail import RailOutcome
from microlend.errors import BusinessRuleError, ConflictError, ValidationError
from microlend.lending.loans import apply_payment
from microlend.lending.notices import format_apr
from microlend.lending.reminders import DEFAULT_REMINDER_POLICY
from microlend.services import credit_lines, loans, repayments
from microlend.services.card_debits import debit_reference
from microlend.services.cob import runs
from microlend.services.cob.engine import plan_dates, run_cob
from microlend.services.cob.reminders import queue_reminders
from microlend.store import tables

# --- helpers --------------------------------------------------------------------------


def outbox(platform, loan_id):
    return rows(platform, tables.sms_outbox, tables.sms_outbox.c.loan_id == loan_id, order=tables.sms_outbox.c.id)


def line_events(platform, line_id, *kinds):
    return [e for e in rows(platform, tables.credit_line_events, tables.credit_line_events.c.credit_line_id == line_id,
                            order=tables.credit_line_events.c.id) if e.kind in kinds]


def history(platform, loan_id):
    h = tables.loan_delinquency_history
    return [(r.business_date, r.dpd, r.bucket, r.loan_class)
            for r in rows(platform, h, h.c.loan_id == loan_id, order=h.c.id)]


def accrual_entries(platform):
    return rows(platform, tables.journal_entries, tables.journal_entries.c.kind == "accrual",
                order=tables.journal_entries.c.id)


def ledger_snapshot(platform):
    with platform.engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(tables.journal_entries)).scalar()
        lines = conn.execute(select(func.count()).select_from(tables.journal_lines)).scalar()
    return entries, lines, balances(platform)


# --- 1. accrual -----------------------------------------------------------------------

def test_accrual_posts_one_aggregated_entry_per_day_and_a_rerun_is_a_no_op(platform, make_line):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id

    first = close(platform, date(2026, 3, 11))
    assert first["accrued"] == {"interest": "5.00", "fee": "0.00", "penalty": "0.00"}  # 10000 x 0.0005 x 1
    second = close(platform, date(2026, 3, 12))
    assert second["accrued"]["interest"] == "5.00"  # 10000 x 0.0005 x 2 = 10.00 earned, 5.00 more

    tb = balances(platform)
    assert tb["1102"] == D("10.00") and tb["4001"] == D("10.00")
    assert tb["1101"] == D("10000.00") and tb["1001"] == D("-10000.00")
    row = loan_row(platform, loan_id)
    assert (row.interest_recognized, row.cob_interest, row.cob_through) == (D("10.00"), D("10.00"), date(2026, 3, 12))

    entries = accrual_entries(platform)
    assert [(e.entry_date, e.reference) for e in entries] == [
        (date(2026, 3, 11), "COB20260311-REVOLVE"), (date(2026, 3, 12), "COB20260312-REVOLVE")]
    jl = tables.journal_lines
    accrual_lines = rows(platform, jl, jl.c.entry_id.in_([e.id for e in entries]), order=jl.c.id)
    assert [(r.account_code, r.debit, r.credit, r.loan_id) for r in accrual_lines] == [
        ("1102", D("5.00"), D("0.00"), None), ("4001", D("0.00"), D("5.00"), None)] * 2

    # the same date again: nothing planned, nothing run, nothing posted
    before = ledger_snapshot(platform)
    plan = plan_dates(platform, only=date(2026, 3, 12))
    assert plan.dates == [] and "already finished" in plan.note
    assert plan_dates(platform, to=date(2026, 3, 12)).dates == []
    assert run_cob(platform, only=date(2026, 3, 12)) == []
    assert run_cob(platform, to=date(2026, 3, 12)) == []
    assert ledger_snapshot(platform) == before
    assert loan_row(platform, loan_id).interest_recognized == D("10.00")
    assert reconciled(platform)


def test_two_loans_share_one_accrual_entry_per_product_and_day(platform, make_line):
    a = make_line()
    b = make_line()
    draw(platform, a.id, "10000")
    draw(platform, b.id, "4000")
    draw(platform, b.id, "1000")
    report = close(platform, date(2026, 3, 11))
    # 10000 x 0.0005 + 4000 x 0.0005 + 1000 x 0.0005 = 5.00 + 2.00 + 0.50
    assert report["accrued"]["interest"] == "7.50"
    assert report["loans"]["processed"] == 3
    [entry] = accrual_entries(platform)
    jl = tables.journal_lines
    assert sorted((r.account_code, r.debit, r.credit, r.loan_id)
                  for r in rows(platform, jl, jl.c.entry_id == entry.id)) == [
        ("1102", D("7.50"), D("0.00"), None), ("4001", D("0.00"), D("7.50"), None)]
    close(platform, date(2026, 3, 12))
    assert [e.entry_date for e in accrual_entries(platform)] == [date(2026, 3, 11), date(2026, 3, 12)]
    assert balances(platform)["1102"] == D("15.00")
    assert reconciled(platform)


# --- 2. due date and auto-debit ----------------------------------------------------------

def test_due_date_auto_debit_collects_principal_and_interest(platform, make_line):
    line = make_line(limit="20000")
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).available == D("10000.00")
    # what a manual repayment of the same amount on the due date would do
    expected = apply_payment(loans.get_loan(uow=platform.uow(), loan_id=loan_id), D("2155.00"), FIRST_DUE)

    report = close(platform, FIRST_DUE)
    # 2000 principal + 10000 x 0.0005 x 31 days (03-10 .. 04-10) = 2000 + 155.00
    [debit] = debit_rows(platform, loan_id)
    assert (debit.amount, debit.status, debit.collected, debit.requested_on) == (
        D("2155.00"), "succeeded", D("2155.00"), FIRST_DUE)
    assert debit.idempotency_key == f"auto:2026-04-10:{loan_id}"
    [rep] = repayment_rows(platform, loan_id)
    assert debit.repayment_id == rep.id
    assert (rep.amount, rep.principal, rep.interest, rep.penalty, rep.prepaid_principal, rep.channel, rep.paid_on) == (
        D("2155.00"), D("2000.00"), D("155.00"), D("0.00"), D("0.00"), "card", FIRST_DUE)
    assert (rep.principal, rep.interest, rep.penalty) == (expected.principal, expected.interest, expected.penalty)
    assert rep.allocation == [{"component": p.component, "installment": p.installment, "amount": str(p.amount)}
                              for p in expected.parts]
    assert [p["component"] for p in rep.allocation] == ["interest_due", "principal_due"]
    assert report["debits"] == {"tried": 1, "succeeded": 1, "failed": 0, "pending": 0, "review": 0,
                                "collected": "2155.00"}

    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).available == D("12000.00")  # +2000
    row = loan_row(platform, loan_id)
    assert (row.status, row.dpd, row.bucket, row.loan_class) == ("active", 0, "current", "normal")
    tb = balances(platform)
    assert tb["1101"] == D("8000.00") and tb["1102"] == D("0.00") and tb["4001"] == D("155.00")
    assert reconciled(platform)

    close(platform, date(2026, 4, 11))  # no debit on a day with nothing due
    assert len(debit_rows(platform, loan_id)) == 1
    assert loan_row(platform, loan_id).interest_recognized == D("159.00")  # + 8000 x 0.0005 x 1
    assert reconciled(platform)


# --- 3. overdue, penalty, freeze and cure ---------------------------------------------------

def test_overdue_penalty_freeze_retry_and_cure(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    rail.will(FAIL, FAIL)  # the due date and DPD 1

    close(platform, FIRST_DUE)
    assert [d.status for d in debit_rows(platform, loan_id)] == ["failed"]
    assert loan_row(platform, loan_id).dpd == 0  # due today, not yet past due
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "active"

    close(platform, date(2026, 4, 11))
    row = loan_row(platform, loan_id)
    assert (row.dpd, row.bucket, row.loan_class) == (1, "M1", "special_mention")
    assert row.penalty_recognized == D("1.50")  # 2000 x 0.00075 x 1
    assert row.cob_penalty == D("1.50")
    assert balances(platform)["1104"] == D("1.50") and balances(platform)["4003"] == D("1.50")
    frozen_line = credit_lines.get_line(uow=platform.uow(), line_id=line.id)
    assert frozen_line.status == "frozen"
    [frozen] = line_events(platform, line.id, "frozen")
    assert "overdue" in frozen.reason and frozen.business_date == date(2026, 4, 11) and frozen.actor == "cob"
    assert history(platform, loan_id) == [(date(2026, 4, 11), 1, "M1", "special_mention")]
    assert [d.failure_code for d in debit_rows(platform, loan_id)] == ["insufficient_funds"] * 2
    assert reconciled(platform)

    close(platform, date(2026, 4, 12))  # DPD 2: no retry
    assert len(debit_rows(platform, loan_id)) == 2
    assert loan_row(platform, loan_id).penalty_recognized == D("3.00")  # 2000 x 0.00075 x 2

    close(platform, date(2026, 4, 13))  # DPD 3: the retry goes through
    *_, debit = debit_rows(platform, loan_id)
    # 2000 principal + 155.00 interest + 3 days x 1.50 penalty
    assert (debit.amount, debit.collected, debit.status) == (D("2159.50"), D("2159.50"), "succeeded")
    [rep] = repayment_rows(platform, loan_id)
    assert (rep.penalty, rep.interest, rep.principal, rep.prepaid_principal) == (
        D("4.50"), D("155.00"), D("2000.00"), D("0.00"))
    assert [p["component"] for p in rep.allocation] == ["penalty", "overdue_interest", "overdue_principal"]
    # paid on the retry day: the lines phase (after the debits) lifts the freeze the same night
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "active"
    [unfrozen] = line_events(platform, line.id, "unfrozen")
    assert unfrozen.business_date == date(2026, 4, 13) and unfrozen.actor == "cob"
    assert loan_row(platform, loan_id).dpd == 0
    assert reconciled(platform)

    close(platform, date(2026, 4, 14))
    row = loan_row(platform, loan_id)
    assert (row.dpd, row.bucket, row.loan_class) == (0, "current", "normal")
    assert history(platform, loan_id) == [(date(2026, 4, 11), 1, "M1", "special_mention"),
                                          (date(2026, 4, 14), 0, "current", "normal")]
    assert len(line_events(platform, line.id, "frozen", "unfrozen")) == 2  # nothing more
    assert row.penalty_recognized == D("4.50")  # no overdue principal left: no more penalty
    assert reconciled(platform)


# --- 4. partial debit -----------------------------------------------------------------------

def test_partial_debit_is_allocated_penalty_first(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    rail.will(FAIL, "partial:120.00")
    close(platform, FIRST_DUE)
    before = loans.get_loan(uow=platform.uow(), loan_id=loan_id)
    expected = apply_payment(before, D("120.00"), date(2026, 4, 11))

    close(platform, date(2026, 4, 11))
    _, debit = debit_rows(platform, loan_id)
    # asked for 2155.00 + 1.50 penalty = 2156.50; the card had 120.00
    assert (debit.amount, debit.collected, debit.status, debit.failure_code) == (
        D("2156.50"), D("120.00"), "succeeded", "insufficient_funds")
    [rep] = repayment_rows(platform, loan_id)
    assert debit.repayment_id == rep.id
    # penalty 1.50 first, then 118.50 of the overdue interest (155.00), no principal
    assert (rep.amount, rep.penalty, rep.interest, rep.principal) == (D("120.00"), D("1.50"), D("118.50"), D("0.00"))
    assert rep.allocation == [{"component": p.component, "installment": p.installment, "amount": str(p.amount)}
                              for p in expected.parts]
    assert rep.allocation == [{"component": "penalty", "installment": None, "amount": "1.50"},
                              {"component": "overdue_interest", "installment": 1, "amount": "118.50"}]
    row = loan_row(platform, loan_id)
    assert (row.penalty_paid, row.dpd) == (D("1.50"), 1)
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "frozen"  # still overdue
    assert reconciled(platform)


# --- 5. rail timeout ----------------------------------------------------------------------

def test_timed_out_debit_stays_pending_then_is_booked_once(platform, make_line, rail):
    """Retries only on DPD 3 and 7 here, so the resolution on 04-11 is the only thing the rail does
    (the default DPD 1 retry is the next test)."""
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    before = balances(platform)
    rail.will("timeout")

    report = close(platform, FIRST_DUE, retry_dpd=(3, 7))
    [debit] = debit_rows(platform, loan_id)
    assert (debit.status, debit.collected, debit.repayment_id) == ("pending", None, None)
    assert report["debits"]["pending"] == 1 and report["debits"]["collected"] == "0.00"
    assert repayment_rows(platform, loan_id) == []
    after = balances(platform)
    assert after["1001"] == before["1001"] and after["1101"] == before["1101"]  # nothing booked
    assert reconciled(platform)

    rail.settle(debit_reference(debit.id), RailOutcome.SUCCEEDED)  # the rail's record: it went through
    close(platform, date(2026, 4, 11), retry_dpd=(3, 7))
    [debit] = debit_rows(platform, loan_id)
    [rep] = repayment_rows(platform, loan_id)
    assert (debit.status, debit.collected, debit.repayment_id) == ("succeeded", D("2155.00"), rep.id)
    assert rep.amount == D("2155.00")
    assert balances(platform)["1001"] == D("-10000.00") + D("2155.00")
    close(platform, date(2026, 4, 12), retry_dpd=(3, 7))
    assert len(repayment_rows(platform, loan_id)) == 1
    assert [d.status for d in debit_rows(platform, loan_id)] == ["succeeded"]
    assert [i for i in rail.instructions if i[0] == "debit"] == []  # the timed-out instruction was never resent
    assert reconciled(platform)


def test_a_pending_debit_is_not_followed_by_a_second_one(platform, make_line, rail):
    """With the default retries, DPD 1 (04-11) must not request a new debit while the 04-10 one is pending:
    the rail already took 2155.00 and a second debit (2156.50) would charge the borrower twice."""
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    rail.will("timeout")
    close(platform, FIRST_DUE)
    [debit] = debit_rows(platform, loan_id)
    rail.settle(debit_reference(debit.id), RailOutcome.SUCCEEDED)
    close(platform, date(2026, 4, 11))
    close(platform, date(2026, 4, 12))
    assert [i for i in rail.instructions if i[0] == "debit"] == []  # the card is debited once, not again
    assert len(debit_rows(platform, loan_id)) == 1
    assert [r.amount for r in repayment_rows(platform, loan_id)] == [D("2155.00")]


def test_a_debit_collected_on_the_due_date_does_not_make_the_loan_overdue(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    rail.will("timeout")
    close(platform, FIRST_DUE, retry_dpd=(3, 7))
    [debit] = debit_rows(platform, loan_id)
    rail.settle(debit_reference(debit.id), RailOutcome.SUCCEEDED)
    close(platform, date(2026, 4, 11), retry_dpd=(3, 7))
    [rep] = repayment_rows(platform, loan_id)
    assert (rep.principal, rep.interest, rep.penalty) == (D("2000.00"), D("155.00"), D("0.00"))
    assert loan_row(platform, loan_id).dpd == 0
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "active"


# --- 6. SMS reminders ---------------------------------------------------------------------

def requeue(platform, day: date) -> None:
    """Run the SMS phase's work for ``day`` again (the book is at ``day``): it must queue nothing new."""
    before = len(rows(platform, tables.sms_outbox))
    with platform.session_factory() as session:
        counts = queue_reminders(session, on=day, first_id=0, last_id=10**9, policy=DEFAULT_REMINDER_POLICY,
                                 lender={"zh": "微贷", "en": "Microlend"}, now=platform.clock.now())
        session.commit()
    assert counts  # it did find the date's reminders...
    assert len(rows(platform, tables.sms_outbox)) == before  # ...and wrote none of them twice


def test_sms_reminders_on_the_policy_days_in_the_borrowers_language(platform, make_line, rail, clock):
    zh_line = make_line()
    zh_loan = draw(platform, zh_line.id, "10000").loan_id       # due 04-10: 2000 + 155.00 = 2155.00
    clock.advance(2)                                             # 2026-03-12
    en_line = make_line()
    with platform.engine.begin() as conn:
        conn.execute(update(tables.customers).where(tables.customers.c.id == en_line.customer_id)
                     .values(language="en"))
    en_loan = draw(platform, en_line.id, "5000").loan_id        # due 04-12: 1000 + 5000 x 0.0005 x 31 = 1077.50
    # 04-10 zh fails, 04-11 zh (DPD 1) fails, 04-12 en (due) is paid, 04-13 zh (DPD 3) and 04-17 (DPD 7) fail
    rail.will(FAIL, FAIL, "succeed", FAIL, FAIL)
    close_through(platform, date(2026, 4, 6), date(2026, 4, 11))
    requeue(platform, date(2026, 4, 11))  # the SMS phase of 04-11 once more: nothing new
    assert [(r.business_date, r.kind) for r in outbox(platform, zh_loan)][-1] == (date(2026, 4, 11), "overdue")
    close_through(platform, date(2026, 4, 12), date(2026, 5, 1))

    zh = outbox(platform, zh_loan)
    assert [(r.business_date, r.kind) for r in zh] == [
        (date(2026, 4, 7), "pre_due"),          # 3 days before
        (date(2026, 4, 10), "due"),             # the debit failed: still unpaid after it
        (date(2026, 4, 11), "overdue"),         # DPD 1
        (date(2026, 4, 13), "overdue"),         # DPD 3 (nothing on DPD 2)
        (date(2026, 4, 17), "overdue"),         # DPD 7
        (date(2026, 4, 24), "overdue_weekly"),  # DPD 14
        (date(2026, 5, 1), "overdue_weekly"),   # DPD 21
    ]
    apr = format_apr(loan_row(platform, zh_loan).apr)
    assert D("18.00") < D(apr.rstrip("%")) < D("18.50")  # IRR of 0.05% a day (simple: 18.25%)
    # overdue amounts: 2155.00 + DPD x 1.50 penalty
    amounts = ["2,155.00元", "2,155.00元", "2,156.50元", "2,159.50元", "2,165.50元", "2,176.00元", "2,186.50元"]
    for r, amount in zip(zh, amounts):
        assert r.language == "zh" and r.customer_id == zh_line.customer_id
        assert amount in r.body and apr in r.body and r.body.startswith("【微贷】"), r.body
    assert "逾期14天" in zh[5].body

    en = outbox(platform, en_loan)
    # pre_due on 04-09; the debit on the due date 04-12 went through, so no "due" reminder
    assert [(r.business_date, r.kind, r.language) for r in en] == [(date(2026, 4, 9), "pre_due", "en")]
    en_apr = format_apr(loan_row(platform, en_loan).apr)
    assert en[0].body == (f"[Microlend] CNY 1,077.50 is due on 2026-04-12, annualized rate (IRR) {en_apr}. "
                          "Please repay on time.")
    assert [d.status for d in debit_rows(platform, en_loan)] == ["succeeded"]

    requeue(platform, date(2026, 5, 1))
    assert len(rows(platform, tables.sms_outbox)) == 8
    with platform.engine.connect() as conn:
        keys = conn.execute(select(tables.sms_outbox.c.loan_id, tables.sms_outbox.c.business_date,
                                   tables.sms_outbox.c.kind)).all()
    assert len(keys) == len(set(keys))


# --- 7. collections ---------------------------------------------------------------------

def test_collections_case_opens_with_the_bucket_and_closes_when_cured(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    rail.will(FAIL, FAIL)
    close_through(platform, FIRST_DUE, date(2026, 4, 12))
    cc = tables.collection_cases
    [case] = rows(platform, cc, cc.c.loan_id == loan_id)
    # DPD 2 on 04-12: 2155.00 overdue + 2 x 1.50 penalty
    assert (case.status, case.bucket, case.dpd, case.amount_overdue, case.opened_on) == (
        "open", "M1", 2, D("2158.00"), date(2026, 4, 11))

    # the borrower pays what is overdue by transfer on 04-12; the next COB closes the case
    rep = repayments.repay(uow=platform.uow(), clock=platform.clock, rail=platform.rail, cipher=platform.cipher,
                           loan_id=loan_id, amount=D("2158.00"))
    assert (rep.penalty, rep.interest, rep.principal) == (D("3.00"), D("155.00"), D("2000.00"))
    close(platform, date(2026, 4, 13))
    [case] = rows(platform, cc, cc.c.loan_id == loan_id)
    assert (case.status, case.close_reason, case.closed_on) == ("closed", "cured", date(2026, 4, 13))
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "active"
    assert history(platform, loan_id)[-1] == (date(2026, 4, 13), 0, "current", "normal")
    assert len(debit_rows(platform, loan_id)) == 2  # nothing owed on DPD 3: no third debit
    assert reconciled(platform)


# --- 8. write-off and recovery -----------------------------------------------------------------

def test_write_off_at_180_dpd(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    rail.will(*[FAIL] * 30)  # every auto-debit fails
    # The book starts on 06-09 (the first COB brings the loan there in one step, DPD 60), which keeps
    # the test to ~120 dates; the DPD 1/3/7 retries are covered above.
    close_through(platform, date(2026, 6, 9), date(2026, 10, 6))
    row = loan_row(platform, loan_id)
    assert (row.status, row.dpd, row.bucket, row.loan_class) == ("active", 179, "M3+", "substandard")
    assert [(d.requested_on, d.status) for d in debit_rows(platform, loan_id)] == [
        (date(2026, 6, 10), "failed"), (date(2026, 7, 10), "failed"), (date(2026, 8, 10), "failed")]  # due dates

    report = close(platform, date(2026, 10, 7))  # DPD 180 = 10-07 - 04-10
    # interest of the five periods: 10000x31 + 8000x30 + 6000x31 + 4000x30 + 2000x31, x 0.0005
    #   = 155.00 + 120.00 + 93.00 + 60.00 + 31.00 = 459.00
    # penalty: 2000 x 0.00075 = 1.50 a day for each installment, days overdue on 10-07:
    #   180 (04-10) + 150 (05-10) + 119 (06-10) + 89 (07-10) + 58 (08-10) = 596 -> 894.00
    assert report["written_off"] == {"count": 1, "amount": "11353.00"}  # 10000 + 459 + 894
    row = loan_row(platform, loan_id)
    assert (row.status, row.written_off_on, row.written_off_amount) == ("written_off", date(2026, 10, 7),
                                                                       D("11353.00"))
    [wo] = rows(platform, tables.write_offs, tables.write_offs.c.loan_id == loan_id)
    assert (wo.business_date, wo.dpd, wo.principal, wo.interest, wo.fee, wo.penalty) == (
        date(2026, 10, 7), 180, D("10000.00"), D("459.00"), D("0.00"), D("894.00"))
    jl = tables.journal_lines
    [entry] = rows(platform, tables.journal_entries, tables.journal_entries.c.id == wo.journal_entry_id)
    assert (entry.kind, entry.entry_date) == ("write_off", date(2026, 10, 7))
    assert sorted((r.account_code, r.debit, r.credit, r.loan_id)
                  for r in rows(platform, jl, jl.c.entry_id == entry.id)) == [
        ("1101", D("0.00"), D("10000.00"), loan_id), ("1102", D("0.00"), D("459.00"), loan_id),
        ("1104", D("0.00"), D("894.00"), loan_id), ("5001", D("459.00"), D("0.00"), loan_id),
        ("5001", D("894.00"), D("0.00"), loan_id), ("5001", D("10000.00"), D("0.00"), loan_id)]
    tb = balances(platform)
    assert (tb["1101"], tb["1102"], tb["1104"]) == (D("0.00"), D("0.00"), D("0.00"))
    assert (tb["4001"], tb["4003"], tb["5001"]) == (D("459.00"), D("894.00"), D("11353.00"))
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "frozen"
    assert reconciled(platform)

    after = close(platform, date(2026, 10, 8))  # interest and penalty stopped
    assert after["accrued"] == {"interest": "0.00", "fee": "0.00", "penalty": "0.00"}
    assert after["loans"]["processed"] == 0 and after["debits"]["tried"] == 0
    row = loan_row(platform, loan_id)
    assert (row.cob_interest, row.cob_penalty, row.penalty_recognized) == (D("459.00"), D("894.00"), D("894.00"))
    assert outbox(platform, loan_id)[-1].business_date < date(2026, 10, 7)
    assert balances(platform) == tb
    assert reconciled(platform)


def write_off_quickly(platform, make_line) -> tuple[int, int]:
    """A loan written off by the COB of 10-07 (the first COB on 10-06 takes it to DPD 179 at once)."""
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 10, 6))
    close(platform, date(2026, 10, 7))
    assert loan_row(platform, loan_id).written_off_amount == D("11353.00")  # as in test_write_off_at_180_dpd
    return line.id, loan_id


def recover(platform, loan_id, amount: str):
    return repayments.repay(uow=platform.uow(), clock=platform.clock, rail=platform.rail, cipher=platform.cipher,
                            loan_id=loan_id, amount=D(amount), channel=repayments.Channel.TRANSFER)


def case_of(platform, loan_id):
    [case] = rows(platform, tables.collection_cases, tables.collection_cases.c.loan_id == loan_id)
    return case


def test_recovery_on_a_written_off_loan(platform, make_line):
    """Money received after the write-off is recovery income (4101); the loan stays written off."""
    line_id, loan_id = write_off_quickly(platform, make_line)
    recover(platform, loan_id, "500.00")
    [recovery] = rows(platform, tables.recoveries, tables.recoveries.c.loan_id == loan_id)
    assert (recovery.amount, recovery.received_on, recovery.channel) == (D("500.00"), date(2026, 10, 7), "transfer")
    tb = balances(platform)
    assert tb["4101"] == D("500.00") and tb["1001"] == D("-10000.00") + D("500.00")
    assert tb["1101"] == D("0.00") and tb["5001"] == D("11353.00")
    row = loan_row(platform, loan_id)
    assert (row.status, row.recovered) == ("written_off", D("500.00"))
    assert reconciled(platform)
    with pytest.raises(BusinessRuleError) as err:  # 11353.00 - 500.00 = 10853.00 still owed
        recover(platform, loan_id, "10853.01")
    assert err.value.code == "overpayment"
    recover(platform, loan_id, "10853.00")
    assert balances(platform)["4101"] == D("11353.00")
    close(platform, date(2026, 10, 8))  # all recovered: the line's write-off freeze is lifted
    assert credit_lines.get_line(uow=platform.uow(), line_id=line_id).status == "active"
    assert reconciled(platform)


# --- 9. bad input and concurrent runs ----------------------------------------------------------

def insert_running(platform, day: date, owner: str, heartbeat=None) -> None:
    now = platform.clock.now()
    with platform.engine.begin() as conn:
        conn.execute(insert(tables.cob_runs).values(business_date=day, status="running", owner=owner,
                                                    started_at=now, heartbeat_at=heartbeat or now))


def test_dates_out_of_order_are_refused_and_done_dates_are_no_ops(platform, make_line):
    line = make_line()
    draw(platform, line.id, "1000")
    close(platform, date(2026, 3, 11))
    with pytest.raises(ValidationError) as err:
        plan_dates(platform, only=date(2026, 3, 13))
    assert (err.value.code, err.value.field, err.value.extra) == ("cob_date_out_of_order", "date",
                                                                  {"next_date": "2026-03-12"})
    with pytest.raises(ValidationError) as err:
        run_cob(platform, only=date(2026, 3, 13))
    assert err.value.code == "cob_date_out_of_order"
    assert rows(platform, tables.cob_runs, tables.cob_runs.c.business_date == date(2026, 3, 13)) == []
    with pytest.raises(ValidationError):  # and begin_date refuses it too, should anyone call it directly
        runs.begin_date(platform.engine, date(2026, 3, 13), now=platform.clock.now(), owner=runs.owner_id())

    assert plan_dates(platform, only=date(2026, 3, 11)).dates == []
    assert plan_dates(platform, only=date(2026, 3, 1)).dates == []
    assert run_cob(platform, only=date(2026, 3, 11)) == []
    assert plan_dates(platform, to=date(2026, 3, 14)).dates == [date(2026, 3, 12), date(2026, 3, 13),
                                                                date(2026, 3, 14)]
    assert [r["business_date"] for r in run_cob(platform, to=date(2026, 3, 13))] == ["2026-03-12", "2026-03-13"]
    assert [r.business_date for r in rows(platform, tables.cob_runs, order=tables.cob_runs.c.business_date)] == [
        date(2026, 3, 11), date(2026, 3, 12), date(2026, 3, 13)]


def test_a_date_running_under_a_live_owner_is_refused(platform, make_line):
    line = make_line()
    draw(platform, line.id, "1000")
    close(platform, date(2026, 3, 11))
    other = f"{socket.gethostname()}:{os.getppid()}"  # our parent: alive, and not us
    insert_running(platform, date(2026, 3, 12), other)
    with pytest.raises(ConflictError) as err:
        run_cob(platform, only=date(2026, 3, 12))
    assert (err.value.code, err.value.field) == ("cob_already_running", "date")
    with pytest.raises(ValidationError) as err:  # and no other date may start meanwhile
        run_cob(platform, only=date(2026, 3, 13))
    assert err.value.extra == {"next_date": "2026-03-12"}
    [run] = rows(platform, tables.cob_runs, tables.cob_runs.c.business_date == date(2026, 3, 12))
    assert (run.status, run.owner) == ("running", other)

    # a live owner on another machine is trusted while its heartbeat is fresh
    with platform.engine.begin() as conn:
        conn.execute(update(tables.cob_runs).where(tables.cob_runs.c.business_date == date(2026, 3, 12))
                     .values(owner="elsewhere:1"))
    with pytest.raises(ConflictError):
        run_cob(platform, only=date(2026, 3, 12))


@pytest.mark.parametrize("how", ["dead_pid", "stale_heartbeat"])
def test_a_date_left_running_by_a_dead_owner_is_taken_over(platform, make_line, how):
    line = make_line()
    loan_id = draw(platform, line.id, "1000").loan_id
    close(platform, date(2026, 3, 11))
    if how == "dead_pid":
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        insert_running(platform, date(2026, 3, 12), f"{socket.gethostname()}:{gone.pid}")
    else:
        insert_running(platform, date(2026, 3, 12), "elsewhere:1",
                       heartbeat=platform.clock.now() - timedelta(minutes=5))
    [report] = run_cob(platform, only=date(2026, 3, 12))
    assert report["business_date"] == "2026-03-12"
    assert report["accrued"]["interest"] == "0.50"  # 1000 x 0.0005 x (2 days - 1 closed before)
    [run] = rows(platform, tables.cob_runs, tables.cob_runs.c.business_date == date(2026, 3, 12))
    assert run.status == "done" and run.owner.startswith(f"{socket.gethostname()}:{os.getpid()}:")  # this run
    assert loan_row(platform, loan_id).interest_recognized == D("1.00")
    assert reconciled(platform)


def test_collections_case_of_a_written_off_loan_shows_what_is_left_after_a_recovery(platform, make_line):
    _, loan_id = write_off_quickly(platform, make_line)
    assert case_of(platform, loan_id).amount_overdue == D("11353.00")
    recover(platform, loan_id, "500.00")
    close(platform, date(2026, 10, 8))
    assert case_of(platform, loan_id).amount_overdue == D("10853.00")  # 11353.00 - 500.00


def test_collections_case_of_a_fully_recovered_loan_is_closed(platform, make_line):
    line_id, loan_id = write_off_quickly(platform, make_line)
    recover(platform, loan_id, "11353.00")
    close(platform, date(2026, 10, 8))
    assert credit_lines.get_line(uow=platform.uow(), line_id=line_id).status == "active"  # the line knows
    case = case_of(platform, loan_id)
    assert (case.status, case.close_reason, case.closed_on, case.amount_overdue) == (
        "closed", "recovered", date(2026, 10, 8), D("0.00"))
