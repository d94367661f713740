"""COB phases "debit_request" and "debit_send": auto-debit of due and overdue amounts.

On a due date and on the policy's DPD retry days the close of business debits the
bound card for what is due and overdue, in the same two phases as a borrower's card
repayment (``services.card_debits``), only in bulk:

1. *request*: one pending ``card_debits`` row per loan and date (idempotency key
   ``auto:<date>:<loan>``, so a rerun records nothing twice), committed;
2. *send*: ask the rail under reference ``CD<id>``, with no lock held, then book
   what it collected. A debit the rail did not answer stays pending and is resolved
   from the rail's record by the next run; booking only takes pending debits, so
   nothing is posted twice. Collected money is allocated by ``apply_payment``,
   exactly as a manual repayment.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from microlend.adapters.payment_rail import PaymentRail, RailOutcome, RailResult, RailTimeout
from microlend.lending.credit_lines import CreditLine
from microlend.lending.daily import interest_earned_through, rewind_penalty
from microlend.lending.ledger import Accounts, EntryBuilder, EntryKind
from microlend.lending.loans import ACCRUED_INTEREST, PREPAID_PRINCIPAL, Loan, LoanStatus, apply_payment
from microlend.lending.postings import recognition_entry, repayment_entry, suspense_entry
from microlend.lending.records import CardDebitStatus
from microlend.money import ZERO, is_whole_fen, to_fen
from microlend.security.fields import FieldCipher
from microlend.services.card_debits import debit_reference
from microlend.services.cob.write_off import book_recovery, recoverable
from microlend.services.repayments import Channel
from microlend.store import tables
from microlend.store.repositories import LedgerRepository

log = logging.getLogger(__name__)

AUTO_SCOPE = "cob"
loans, installments, debits, customers = tables.loans, tables.loan_installments, tables.card_debits, tables.customers


def auto_debit_key(on: date, loan_id: int) -> str:
    return f"auto:{on.isoformat()}:{loan_id}"


def amount_due(loan: Loan, on: date) -> Decimal:
    """Due and overdue amounts (penalty included), not the running period's interest or future principal."""
    return sum((owed for component, _, owed in loan.buckets(on)
                if component not in (ACCRUED_INTEREST, PREPAID_PRINCIPAL)), ZERO)


def request_debits(session: Session, *, on: date, first_id: int, last_id: int, retry_dpd: tuple[int, ...],
                   now: datetime) -> dict:
    """Record a pending auto-debit for each loan in the range that is due today or on a retry day."""
    due_today = select(installments.c.loan_id).where(
        installments.c.due_date == on, installments.c.loan_id.between(first_id, last_id))
    retry_day = select(loans.c.id).where(loans.c.id.between(first_id, last_id), loans.c.dpd.in_(retry_dpd))
    candidates = select(loans.c.id).join(customers, customers.c.id == loans.c.customer_id).where(
        loans.c.id.in_(due_today.union(retry_day)), loans.c.status == LoanStatus.ACTIVE.value,
        customers.c.card_token.is_not(None),
    )
    # One debit per loan and date, and none while an earlier one is still pending at the rail.
    already = set(session.scalars(select(debits.c.loan_id).where(
        debits.c.loan_id.between(first_id, last_id),
        or_(and_(debits.c.idempotency_scope == AUTO_SCOPE, debits.c.requested_on == on),
            debits.c.status == CardDebitStatus.PENDING.value))))
    ids = [i for i in session.scalars(candidates) if i not in already]
    rows = []
    if ids:
        owed_by_loan = _amounts_due(session, ids, on)
        for loan_id, customer_id, owed in owed_by_loan:
            if owed > 0:
                rows.append({"loan_id": loan_id, "customer_id": customer_id, "amount": owed, "requested_on": on,
                             "status": CardDebitStatus.PENDING.value, "created_at": now,
                             "idempotency_scope": AUTO_SCOPE, "idempotency_key": auto_debit_key(on, loan_id)})
    if rows:
        session.execute(insert(debits), rows)
    return {"requested": len(rows), "amount": str(sum((r["amount"] for r in rows), ZERO))}


def _amounts_due(session: Session, loan_ids: list[int], on: date) -> list[tuple[int, int, Decimal]]:
    """``amount_due`` for many loans from their rows, without loading them: the unpaid parts of every
    installment due by ``on`` plus the penalty outstanding (brought to ``on`` by the loans phase)."""
    owed: dict[int, Decimal] = {}
    unpaid = or_(installments.c.principal_paid < installments.c.principal,
                 installments.c.interest_paid < installments.c.interest, installments.c.fee_paid < installments.c.fee)
    for row in session.execute(select(installments.c.loan_id, installments.c.principal, installments.c.principal_paid,
                                      installments.c.interest, installments.c.interest_paid, installments.c.fee,
                                      installments.c.fee_paid)
                               .where(installments.c.loan_id.in_(loan_ids), installments.c.due_date <= on, unpaid)):
        owed[row.loan_id] = owed.get(row.loan_id, ZERO) + (
            max(row.principal - row.principal_paid, ZERO) + max(row.interest - row.interest_paid, ZERO)
            + max(row.fee - row.fee_paid, ZERO))
    result = []
    for row in session.execute(select(loans.c.id, loans.c.customer_id, loans.c.penalty_recognized,
                                      loans.c.penalty_paid).where(loans.c.id.in_(loan_ids)).order_by(loans.c.id)):
        result.append((row.id, row.customer_id,
                       owed.get(row.id, ZERO) + max(row.penalty_recognized - row.penalty_paid, ZERO)))
    return result


def send_debits(session_factory, *, rail: PaymentRail, cipher: FieldCipher, on: date, first_id: int, last_id: int,
                now: datetime) -> dict:
    """Ask the rail for each pending auto-debit of the range (no lock held), then book the answers."""
    with session_factory() as session:
        pending = session.execute(
            select(debits.c.id, debits.c.loan_id, debits.c.amount, debits.c.requested_on, customers.c.card_token)
            .join(customers, customers.c.id == debits.c.customer_id)
            .where(debits.c.loan_id.between(first_id, last_id), debits.c.idempotency_scope == AUTO_SCOPE,
                   debits.c.status == CardDebitStatus.PENDING.value)
            .order_by(debits.c.id)).all()
        # Paid meanwhile (say by the borrower, between the two phases): nothing left to take.
        today = sorted({d.loan_id for d in pending if d.requested_on == on})
        still_due = {loan_id for loan_id, _, owed in (_amounts_due(session, today, on) if today else []) if owed > 0}
    answers: dict[int, RailResult] = {}
    timeouts = 0
    for debit in pending:
        reference = debit_reference(debit.id)
        try:
            known = rail.status(reference=reference)
            if known is None and debit.requested_on == on and debit.loan_id not in still_due:
                answers[debit.id] = RailResult(RailOutcome.FAILED, reference, debit.amount, None, "nothing_due",
                                               "the loan was paid before the debit was sent; not sent")
                continue
            answers[debit.id] = known or rail.debit(
                reference=reference, card_number=cipher.decrypt(debit.card_token, field="bank_card"),
                amount=debit.amount)
        except RailTimeout:
            timeouts += 1  # stays pending; the next run asks the rail again under the same reference
    with session_factory() as session:
        booked = book_answers(session, answers, on=on, now=now)
        session.commit()
    booked["timeouts"] = timeouts
    booked["tried"] = len(pending)
    return booked


def book_answers(session: Session, answers: dict[int, RailResult], *, on: date, now: datetime) -> dict:
    """Book the rail's answers for pending debits, in bulk, with the loans and lines locked."""
    counts = {"succeeded": 0, "failed": 0, "partial": 0, "still_pending": 0, "review": 0, "collected": ZERO}
    final = {i: r for i, r in answers.items() if r.outcome is not RailOutcome.PENDING}
    counts["still_pending"] = len(answers) - len(final)
    if not final:
        return _stringify(counts)
    pending = (debits.c.id.in_(list(final)), debits.c.status == CardDebitStatus.PENDING.value)
    # Only debits that took money touch their loan; a refused one only changes its own row.
    took = [i for i, r in final.items() if r.outcome is RailOutcome.SUCCEEDED]
    loan_ids = sorted(set(session.scalars(select(debits.c.loan_id).where(*pending, debits.c.id.in_(took))))) \
        if took else []
    # Loans first, then their debits, then lines: the order every other path takes, so no deadlock.
    loans_by_id = {loan.id: loan for loan in session.scalars(
        select(Loan).where(loans.c.id.in_(loan_ids)).order_by(loans.c.id).with_for_update())} if loan_ids else {}
    rows = {r.id: r for r in session.execute(select(debits).where(*pending).order_by(debits.c.id).with_for_update())}
    line_ids = sorted({loan.credit_line_id for loan in loans_by_id.values()})
    lines_by_id = {line.id: line for line in session.scalars(
        select(CreditLine).where(tables.credit_lines.c.id.in_(line_ids)).order_by(tables.credit_lines.c.id)
        .with_for_update())}
    # The last payment date of each loan: a debit the rail took on an earlier day is value-dated to that
    # day when nothing else was paid on the loan since (the penalty of the days between is not charged).
    last_paid = dict(session.execute(select(tables.repayments.c.loan_id, func.max(tables.repayments.c.paid_on))
                                     .where(tables.repayments.c.loan_id.in_(loan_ids))
                                     .group_by(tables.repayments.c.loan_id)).all())
    debit_updates, applied_payments, excesses, reversals = [], [], [], []
    for debit_id, row in rows.items():
        result = final[debit_id]
        loan = loans_by_id.get(row.loan_id)  # None for a refused debit (its loan is not needed)
        update_row = {"b_id": debit_id, "completed_at": now, "status": None, "collected": None, "excess": None,
                      "failure_code": None, "repayment_id": None}
        collected = result.amount
        if result.outcome is RailOutcome.FAILED:
            update_row.update(status=CardDebitStatus.FAILED.value, failure_code=result.failure_code or "declined")
            counts["failed"] += 1
        elif not (ZERO < collected <= row.amount and is_whole_fen(collected)):
            update_row.update(status=CardDebitStatus.REVIEW.value, failure_code="rail_amount_mismatch")
            counts["review"] += 1
        elif loan.status == LoanStatus.WRITTEN_OFF.value:  # written off since the debit was asked: a recovery
            applied = min(collected, recoverable(loan))
            if applied > 0:
                book_recovery(session=session, loan=loan, amount=applied, on=on, channel=Channel.CARD.value, now=now,
                              card_debit_id=debit_id)
            _succeeded(update_row, counts, excesses, debit_id, loan.id, collected, applied, row.amount, result)
        else:
            value_date = on
            if row.requested_on < on and loan.status == LoanStatus.ACTIVE.value and (
                    last_paid.get(loan.id) is None or last_paid[loan.id] <= row.requested_on):
                value_date = row.requested_on
                rewind_penalty(loan, value_date)
            owed = loan.payoff_amount(value_date) if loan.status == LoanStatus.ACTIVE.value else ZERO
            applied = min(collected, owed)
            if applied > 0:
                allocation = apply_payment(loan, applied, value_date)
                lines_by_id[loan.credit_line_id].release(allocation.principal)
                applied_payments.append((update_row, loan, allocation))
                if value_date < on:
                    reversal = reverse_income_beyond(loan, on, reference=debit_reference(debit_id))
                    if reversal is not None:
                        reversals.append(reversal)
            _succeeded(update_row, counts, excesses, debit_id, loan.id, collected, applied, row.amount, result)
        debit_updates.append(update_row)
    _book_repayments(session, applied_payments, on=on, now=now)
    post_many(session, reversals, at=now)
    ledger = LedgerRepository(session)
    for debit_id, loan_id, excess in excesses:
        ledger.post(suspense_entry(loan_id=loan_id, amount=excess, on=on, reference=debit_reference(debit_id)), at=now)
    session.flush()
    if debit_updates:
        session.execute(update(debits).where(debits.c.id == bindparam("b_id")).values(
            {c: bindparam(c, type_=debits.c[c].type)
             for c in ("completed_at", "status", "collected", "excess", "failure_code", "repayment_id")}),
            debit_updates)
    return _stringify(counts)


def _succeeded(update_row: dict, counts: dict, excesses: list, debit_id: int, loan_id: int, collected: Decimal,
               applied: Decimal, asked: Decimal, result: RailResult) -> None:
    """Money the rail took: the debit succeeded; what the loan did not owe goes to suspense for refund."""
    if collected > applied:
        update_row["excess"] = collected - applied
        excesses.append((debit_id, loan_id, collected - applied))
    update_row.update(status=CardDebitStatus.SUCCEEDED.value, collected=collected, failure_code=result.failure_code)
    counts["partial" if collected < asked else "succeeded"] += 1
    counts["collected"] += collected


def reverse_income_beyond(loan: Loan, on: date, *, reference: str):
    """After a payment value-dated before the last close: income recognised for days it no longer earns.

    The close of business recognised penalty (and interest) through ``on`` on amounts this payment
    has now paid earlier; the excess over what the loan earned through ``on`` is reversed, per loan,
    so a loan the payment closes does not keep a receivable no later close would correct.
    """
    interest = max(interest_earned_through(loan, on), loan.interest_paid)
    penalty = max(to_fen(loan.penalty_exact_to(on)), loan.penalty_paid)
    builder = EntryBuilder(EntryKind.ACCRUAL, on, f"Income reversed after a value-dated payment, loan {loan.id}",
                           reference)
    if loan.interest_recognized > interest:
        builder.move(loan.interest_recognized - interest, debit=Accounts.INTEREST_INCOME,
                     credit=Accounts.INTEREST_RECEIVABLE, loan_id=loan.id)
        loan.interest_recognized = interest
    if loan.penalty_recognized > penalty:
        builder.move(loan.penalty_recognized - penalty, debit=Accounts.PENALTY_INCOME,
                     credit=Accounts.PENALTY_RECEIVABLE, loan_id=loan.id)
        loan.penalty_recognized = penalty
    return None if builder.empty else builder.build()


def _book_repayments(session: Session, applied: list, *, on: date, now: datetime) -> None:
    """Repayment rows (ids returned in order), then their recognition and repayment entries."""
    if not applied:
        return
    rows = [{
        "loan_id": loan.id, "amount": allocation.amount, "paid_on": allocation.paid_on, "channel": Channel.CARD.value,
        "principal": allocation.principal, "interest": allocation.interest, "fee": allocation.fee,
        "penalty": allocation.penalty, "prepaid_principal": allocation.prepaid_principal,
        "paid_off": allocation.paid_off, "created_at": now,
        "allocation": [{"component": p.component, "installment": p.installment, "amount": str(p.amount)}
                       for p in allocation.parts],
    } for _, loan, allocation in applied]
    ids = session.scalars(insert(tables.repayments).returning(tables.repayments.c.id, sort_by_parameter_order=True),
                          rows).all()
    entries = []
    for repayment_id, (update_row, loan, allocation) in zip(ids, applied):
        update_row["repayment_id"] = repayment_id
        reference = f"RP{repayment_id:012d}"
        recognition = recognition_entry(loan, on, reference)
        if recognition is not None:
            entries.append(recognition)
        # Posted today even when value-dated earlier: a closed day's entries are never added to.
        entries.append(dataclasses.replace(repayment_entry(loan, allocation, reference), entry_date=on))
    post_many(session, entries, at=now)


def post_many(session: Session, entries: list, *, at: datetime) -> None:
    """Write many balanced entries with two statements (entries, then all their lines)."""
    if not entries:
        return
    entry_ids = session.scalars(
        insert(tables.journal_entries).returning(tables.journal_entries.c.id, sort_by_parameter_order=True),
        [{"entry_date": e.entry_date, "kind": e.kind.value, "description": e.description, "reference": e.reference,
          "posted_at": at} for e in entries]).all()
    session.execute(insert(tables.journal_lines), [
        {"entry_id": entry_id, "account_code": line.account, "debit": line.debit, "credit": line.credit,
         "loan_id": line.loan_id}
        for entry_id, entry in zip(entry_ids, entries) for line in entry.lines
    ])


def _stringify(counts: dict) -> dict:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in counts.items()}

