"""Regressions for the close-of-business (COB) review: concurrent runs of one date, a run that fails
part way, value-dated late debits, a debit answered after a write-off, the API's date checks, grace
days and a debit whose loan was paid between the request and the send. Both databases.

The reference loan, as in test_cob_steps.py: 10,000 CNY at 0.05% a day drawn 2026-03-10, five monthly
installments of 2,000 principal due on the 10th; the installments' interest is 10000x31, 8000x30,
6000x31, 4000x30 and 2000x31 days x 0.0005 = 155.00, 120.00, 93.00, 60.00 and 31.00 (459.00 in all);
penalty 1.5 x 0.0005 = 0.00075 a day on overdue principal (1.50 a day on one installment).
"""

from __future__ import annotations

import threading
from datetime import date

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

from microlend.adapters.payment_rail import RailOutcome
from microlend.errors import ConflictError
from microlend.lending.delinquency import DelinquencyPolicy
from microlend.services import credit_lines, products, repayments
from microlend.services.card_debits import debit_reference
from microlend.services.cob import runs
from microlend.services.cob.engine import _create_chunks, run_cob, work_phase
from microlend.services.cob.phases import PHASES, CobOptions
from microlend.services.cob.report import finalize_date
from microlend.services.repayments import Channel
from microlend.store import tables

# --- helpers --------------------------------------------------------------------------


def accrual_entries(platform, day: date):
    je = tables.journal_entries
    return rows(platform, je, je.c.kind == "accrual", je.c.entry_date == day, order=je.c.id)


def entry_lines(platform, entry_id):
    jl = tables.journal_lines
    return sorted((r.account_code, r.debit, r.credit, r.loan_id) for r in rows(platform, jl, jl.c.entry_id == entry_id))


def run_record(platform, day: date):
    [run] = rows(platform, tables.cob_runs, tables.cob_runs.c.business_date == day)
    return run


def rail_debits(rail):
    return [i for i in rail.instructions if i[0] == "debit"]


def pay(platform, loan_id, amount: str, on: date):
    platform.clock.current_date = on
    return repayments.repay(uow=platform.uow(), clock=platform.clock, rail=platform.rail, cipher=platform.cipher,
                            loan_id=loan_id, amount=D(amount), channel=Channel.TRANSFER)


# --- 1. two runs of one date in one process ----------------------------------------------

def test_two_threads_running_one_date_finish_it_once(platform, make_line, monkeypatch):
    loan_ids = [draw(platform, make_line().id, "10000").loan_id for _ in range(6)]
    close(platform, date(2026, 3, 10))
    day = date(2026, 3, 11)

    # Both runs plan the date, then ask for it at the same moment; neither goes on before the other
    # has had its answer, so the loser asks while the winner's run is under way.
    both_ask, both_answered = threading.Barrier(2, timeout=30), threading.Barrier(2, timeout=30)
    begin_date, finish_date = runs.begin_date, runs.finish_date

    def racing_begin(*args, **kwargs):
        both_ask.wait()
        try:
            return begin_date(*args, **kwargs)
        finally:
            both_answered.wait()

    finished = []

    def counting_finish(conn, on, **kwargs):
        finished.append(on)
        return finish_date(conn, on, **kwargs)

    monkeypatch.setattr(runs, "begin_date", racing_begin)
    monkeypatch.setattr(runs, "finish_date", counting_finish)
    outcomes: list = []

    def go():
        try:
            outcomes.append(run_cob(platform, only=day, options=CobOptions(chunk_size=1)))
        except Exception as exc:  # the outcome is what the test looks at
            outcomes.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)

    reports = [o for o in outcomes if isinstance(o, list)]
    errors = [o for o in outcomes if not isinstance(o, list)]
    assert len(reports) == 1 and len(errors) == 1, outcomes
    [[report]] = reports
    assert report["business_date"] == "2026-03-11"
    assert report["accrued"]["interest"] == "30.00"  # 6 loans x 10000 x 0.0005
    [error] = errors
    assert isinstance(error, ConflictError) and (error.code, error.field) == ("cob_already_running", "date")
    assert finished == [day]  # the date was finished by one run only

    [entry] = accrual_entries(platform, day)
    assert entry.reference == "COB20260311-REVOLVE"
    assert entry_lines(platform, entry.id) == [("1102", D("30.00"), D("0.00"), None),
                                               ("4001", D("0.00"), D("30.00"), None)]
    assert run_record(platform, day).status == "done"
    assert [loan_row(platform, i).interest_recognized for i in loan_ids] == [D("5.00")] * 6
    tb = balances(platform)
    assert (tb["1102"], tb["4001"]) == (D("30.00"), D("30.00"))
    assert reconciled(platform)
    assert run_cob(platform, only=day) == []  # done: nothing more


# --- 2. a run that failed part way is resumable at once ----------------------------------------

class FirstDebitBreaks:
    """The simulated rail, except that its first debit raises an error that is not the rail's (a bug, a
    dropped connection): the COB run fails part way, in the debit_send phase."""

    def __init__(self, rail):
        self.rail, self.broke = rail, False

    def disburse(self, **kwargs):
        return self.rail.disburse(**kwargs)

    def status(self, **kwargs):
        return self.rail.status(**kwargs)

    def debit(self, **kwargs):
        if not self.broke:
            self.broke = True
            raise RuntimeError("connection reset by peer")
        return self.rail.debit(**kwargs)


def test_a_run_that_raised_is_released_and_the_same_process_finishes_the_date(platform, make_line, rail):
    loan_id = draw(platform, make_line().id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    platform.rail = FirstDebitBreaks(rail)

    with pytest.raises(RuntimeError, match="connection reset"):
        run_cob(platform, only=FIRST_DUE)
    run = run_record(platform, FIRST_DUE)
    assert (run.status, run.owner) == ("running", "")  # released: no owner left to wait for
    [debit] = debit_rows(platform, loan_id)
    assert (debit.status, debit.amount) == ("pending", D("2155.00"))
    assert accrual_entries(platform, FIRST_DUE) == []
    assert rail_debits(rail) == []

    [report] = run_cob(platform, only=FIRST_DUE)  # at once, in the same process
    assert report["business_date"] == "2026-04-10"
    assert report["accrued"] == {"interest": "5.00", "fee": "0.00", "penalty": "0.00"}  # 04-09 -> 04-10
    assert report["debits"] == {"tried": 1, "succeeded": 1, "failed": 0, "pending": 0, "review": 0,
                                "collected": "2155.00"}
    assert run_record(platform, FIRST_DUE).status == "done"
    [debit] = debit_rows(platform, loan_id)
    [rep] = repayment_rows(platform, loan_id)
    assert (debit.status, debit.collected, debit.repayment_id) == ("succeeded", D("2155.00"), rep.id)
    assert (rep.amount, rep.principal, rep.interest, rep.penalty) == (D("2155.00"), D("2000.00"), D("155.00"),
                                                                      D("0.00"))
    assert rail_debits(rail) == [("debit", debit_reference(debit.id), D("2155.00"))]
    [entry] = accrual_entries(platform, FIRST_DUE)
    assert entry.reference == "COB20260410-REVOLVE"
    tb = balances(platform)
    assert (tb["1101"], tb["1102"], tb["4001"]) == (D("8000.00"), D("0.00"), D("155.00"))
    assert reconciled(platform)


# --- 3. value-dated late debits -------------------------------------------------------------

def test_a_late_debit_that_pays_the_loan_off_leaves_no_receivable(platform, make_line, rail):
    """The last installment (08-10) is debited on its due date, the rail times out and then reports it went
    through; the 08-11 COB had already charged DPD 1 penalty (2000 x 0.00075 = 1.50) before booking it."""
    loan_id = draw(platform, make_line().id, "10000").loan_id
    # The first four installments paid by transfer on their due dates; the book starts on 08-09.
    for due, amount in ((date(2026, 4, 10), "2155.00"), (date(2026, 5, 10), "2120.00"),
                        (date(2026, 6, 10), "2093.00"), (date(2026, 7, 10), "2060.00")):
        assert pay(platform, loan_id, amount, due).principal == D("2000.00")
    close(platform, date(2026, 8, 9))
    rail.will("timeout")
    close(platform, date(2026, 8, 10))
    *_, debit = debit_rows(platform, loan_id)
    assert (debit.status, debit.amount, debit.requested_on) == ("pending", D("2031.00"), date(2026, 8, 10))
    rail.settle(debit_reference(debit.id), RailOutcome.SUCCEEDED)

    report = close(platform, date(2026, 8, 11))
    assert report["accrued"]["penalty"] == "1.50"  # charged by the loans phase, before the booking...
    *_, rep = repayment_rows(platform, loan_id)
    assert (rep.amount, rep.paid_on, rep.principal, rep.interest, rep.penalty, rep.paid_off) == (
        D("2031.00"), date(2026, 8, 10), D("2000.00"), D("31.00"), D("0.00"), True)
    row = loan_row(platform, loan_id)
    assert row.status == "paid_off"
    assert (row.penalty_recognized, row.penalty_paid) == (D("0.00"), D("0.00"))  # ...and reversed by it
    assert row.penalty_recognized - row.penalty_paid == D("0.00")
    assert (row.interest_recognized, row.interest_recognized - D("459.00")) == (D("459.00"), D("0.00"))
    tb = balances(platform)
    assert (tb["1101"], tb["1102"], tb["1104"]) == (D("0.00"), D("0.00"), D("0.00"))
    assert (tb["4001"], tb["4003"], tb["1001"]) == (D("459.00"), D("0.00"), D("459.00"))  # -10000 + 10459
    # the loan's own reversal, under the debit's reference (debit_send), then the day's aggregated accrual
    reversal, aggregated = accrual_entries(platform, date(2026, 8, 11))
    assert aggregated.reference == "COB20260811-REVOLVE"
    assert entry_lines(platform, aggregated.id) == [("1104", D("1.50"), D("0.00"), None),
                                                    ("4003", D("0.00"), D("1.50"), None)]
    assert reversal.reference == debit_reference(debit.id)
    assert entry_lines(platform, reversal.id) == [("1104", D("0.00"), D("1.50"), loan_id),
                                                  ("4003", D("1.50"), D("0.00"), loan_id)]
    assert reconciled(platform)

    close(platform, date(2026, 8, 12))  # a paid-off loan earns nothing more
    assert balances(platform) == tb
    assert loan_row(platform, loan_id).penalty_recognized == D("0.00")
    assert reconciled(platform)


def test_a_late_debit_on_an_intermediate_due_date_leaves_the_loan_current(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    rail.will("timeout")
    close(platform, FIRST_DUE)
    [debit] = debit_rows(platform, loan_id)
    rail.settle(debit_reference(debit.id), RailOutcome.SUCCEEDED)

    close(platform, date(2026, 4, 11))
    [debit] = debit_rows(platform, loan_id)
    [rep] = repayment_rows(platform, loan_id)
    assert (debit.status, debit.collected, debit.repayment_id) == ("succeeded", D("2155.00"), rep.id)
    assert (rep.paid_on, rep.principal, rep.interest, rep.penalty) == (FIRST_DUE, D("2000.00"), D("155.00"),
                                                                       D("0.00"))
    row = loan_row(platform, loan_id)
    # current once booked; its bucket and class (M1 from the loans phase that ran before the booking) follow
    # at the next close, as after any payment
    assert (row.status, row.dpd) == ("active", 0)
    assert (row.penalty_recognized, row.penalty_paid) == (D("0.00"), D("0.00"))  # no penalty for 04-11
    assert row.interest_recognized == D("159.00")  # 155.00 + 8000 x 0.0005 x 1
    tb = balances(platform)
    assert (tb["1101"], tb["1102"], tb["1104"], tb["4003"]) == (D("8000.00"), D("4.00"), D("0.00"), D("0.00"))
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "active"
    assert rail_debits(rail) == []  # the timed-out instruction was never sent again
    assert reconciled(platform)

    close(platform, date(2026, 4, 12))
    row = loan_row(platform, loan_id)
    assert (row.dpd, row.bucket, row.loan_class) == (0, "current", "normal")
    assert (row.penalty_recognized, row.interest_recognized) == (D("0.00"), D("163.00"))
    assert reconciled(platform)


# --- 4. a debit answered after the write-off ----------------------------------------------------

def test_a_debit_answered_after_the_write_off_is_a_recovery(platform, make_line, rail):
    options = {"policy": DelinquencyPolicy(write_off_dpd=10), "retry_dpd": (7,)}
    loan_id = draw(platform, make_line().id, "10000").loan_id
    close(platform, date(2026, 4, 9), **options)
    rail.will(FAIL, "timeout")  # the due date fails; the DPD 7 retry times out
    close_through(platform, FIRST_DUE, date(2026, 4, 19), **options)
    due_debit, late_debit = debit_rows(platform, loan_id)
    assert (due_debit.status, late_debit.status) == ("failed", "pending")
    # 2000 principal + 155.00 interest + 7 days x 1.50 penalty
    assert (late_debit.requested_on, late_debit.amount) == (date(2026, 4, 17), D("2165.50"))

    report = close(platform, date(2026, 4, 20), **options)  # DPD 10: written off, the debit still pending
    # 10000 + 155.00 + 8000 x 0.0005 x 10 (40.00) + 10 days x 1.50 (15.00)
    assert report["written_off"] == {"count": 1, "amount": "10210.00"}
    assert (loan_row(platform, loan_id).status, debit_rows(platform, loan_id)[1].status) == ("written_off",
                                                                                            "pending")
    before = balances(platform)
    assert (before["2101"], before["4101"], before["5001"]) == (D("0.00"), D("0.00"), D("10210.00"))

    rail.settle(debit_reference(late_debit.id), RailOutcome.SUCCEEDED)  # the rail's answer, after the write-off
    close(platform, date(2026, 4, 21), **options)
    _, late_debit = debit_rows(platform, loan_id)
    assert (late_debit.status, late_debit.collected, late_debit.excess) == ("succeeded", D("2165.50"), None)
    [recovery] = rows(platform, tables.recoveries, tables.recoveries.c.loan_id == loan_id)
    assert (recovery.amount, recovery.received_on, recovery.channel, recovery.card_debit_id) == (
        D("2165.50"), date(2026, 4, 21), "card", late_debit.id)
    assert repayment_rows(platform, loan_id) == []
    row = loan_row(platform, loan_id)
    assert (row.status, row.recovered, row.written_off_amount) == ("written_off", D("2165.50"), D("10210.00"))
    after = balances(platform)
    assert after["4101"] == D("2165.50")
    assert after["2101"] == before["2101"] == D("0.00")  # nothing to suspense
    assert after["1001"] == before["1001"] + D("2165.50")
    assert reconciled(platform)


# --- 5. the API: a date before the first COB ------------------------------------------------

def test_api_refuses_a_date_before_the_first_cob_with_422(platform, make_line, client, auth):
    draw(platform, make_line().id, "1000")
    admin = auth("admin")
    platform.clock.current_date = date(2026, 3, 12)  # the API runs no date after the clock's
    first = client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=admin)
    assert first.status_code == 201, first.text
    assert (first.json()["business_date"], first.json()["status"]) == ("2026-03-11", "done")

    for before_first in ("2026-03-10", "2026-03-01"):
        response = client.post("/v1/cob/runs", json={"date": before_first}, headers=admin)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("cob_date_out_of_order", "date")

    again = client.post("/v1/cob/runs", json={"date": "2026-03-11"}, headers=admin)  # done: its record
    assert (again.status_code, again.json()) == (201, first.json())
    future = client.post("/v1/cob/runs", json={"date": "2026-03-13"}, headers=admin)
    assert (future.status_code, future.json()["error"]["code"]) == (422, "cob_date_in_future")
    assert [r.business_date for r in rows(platform, tables.cob_runs)] == [date(2026, 3, 11)]


# --- 6. grace days ---------------------------------------------------------------------------

def test_grace_days_delay_the_freeze_and_the_penalty(platform, make_customer, rail):
    products.create_product(uow=platform.uow(), clock=platform.clock,
                            data={"code": "GRACE", "name": "Three days' grace", "grace_days": 3})
    customer = make_customer()
    line = credit_lines.grant_line(uow=platform.uow(), clock=platform.clock, customer_id=customer.id,
                                   product_code="GRACE", limit=D("20000"), daily_rate=D("0.0005"), actor="test")
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    rail.will(FAIL, FAIL, FAIL)  # the due date, DPD 1 and DPD 3

    close(platform, FIRST_DUE)
    for dpd, day in ((1, date(2026, 4, 11)), (2, date(2026, 4, 12)), (3, date(2026, 4, 13))):
        report = close(platform, day)
        row = loan_row(platform, loan_id)
        assert (row.dpd, row.penalty_recognized) == (dpd, D("0.00")), day
        assert report["accrued"]["penalty"] == "0.00"
        assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "active", day
    assert balances(platform)["1104"] == D("0.00")
    assert [(d.requested_on, d.status) for d in debit_rows(platform, loan_id)] == [
        (FIRST_DUE, "failed"), (date(2026, 4, 11), "failed"), (date(2026, 4, 13), "failed")]

    report = close(platform, date(2026, 4, 14))  # DPD 4: past the grace days
    row = loan_row(platform, loan_id)
    assert (row.dpd, row.penalty_recognized) == (4, D("1.50"))  # 2000 x 0.00075 x (4 - 3)
    assert report["accrued"]["penalty"] == "1.50"
    assert credit_lines.get_line(uow=platform.uow(), line_id=line.id).status == "frozen"
    events = rows(platform, tables.credit_line_events, tables.credit_line_events.c.credit_line_id == line.id,
                  order=tables.credit_line_events.c.id)
    assert [(e.kind, e.business_date, e.actor) for e in events if e.kind in ("frozen", "unfrozen")] == [
        ("frozen", date(2026, 4, 14), "cob")]
    tb = balances(platform)
    assert (tb["1104"], tb["4003"]) == (D("1.50"), D("1.50"))
    assert reconciled(platform)


# --- 7. paid between the debit's request and its sending -------------------------------------------

def test_a_debit_of_a_loan_paid_before_the_send_phase_is_not_sent(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    close(platform, date(2026, 4, 9))
    day, options, owner = FIRST_DUE, CobOptions(), runs.owner_id()
    assert runs.begin_date(platform.engine, day, now=platform.clock.now(), owner=owner) == "started"
    manual = None
    for phase in PHASES:
        if phase.name == "debit_send":
            [debit] = debit_rows(platform, loan_id)
            assert (debit.status, debit.amount) == ("pending", D("2155.00"))  # requested, not sent
            manual = pay(platform, loan_id, "2155.00", day)  # the borrower pays by transfer meanwhile
        _create_chunks(platform, day, phase, options)
        work_phase(platform, day, phase, options)
    report = finalize_date(platform, day, owner=owner, timings={})

    [debit] = debit_rows(platform, loan_id)
    assert (debit.status, debit.failure_code, debit.collected, debit.repayment_id) == (
        "failed", "nothing_due", None, None)
    assert rail_debits(rail) == []
    [rep] = repayment_rows(platform, loan_id)
    assert (rep.id, rep.channel, rep.amount, rep.principal, rep.interest) == (
        manual.id, "transfer", D("2155.00"), D("2000.00"), D("155.00"))
    assert report["debits"] == {"tried": 1, "succeeded": 0, "failed": 1, "pending": 0, "review": 0,
                                "collected": "0.00"}
    assert run_record(platform, day).status == "done"
    row = loan_row(platform, loan_id)
    assert (row.status, row.dpd, row.interest_recognized) == ("active", 0, D("155.00"))
    tb = balances(platform)
    assert (tb["1101"], tb["1102"], tb["1001"], tb["2101"]) == (D("8000.00"), D("0.00"), D("-7845.00"), D("0.00"))
    assert reconciled(platform)

    close(platform, date(2026, 4, 11))  # current: no DPD 1 retry either
    assert len(debit_rows(platform, loan_id)) == 1 and rail_debits(rail) == []
    assert len(repayment_rows(platform, loan_id)) == 1
    assert reconciled(platform)
