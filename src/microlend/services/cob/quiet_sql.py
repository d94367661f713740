"""The quiet path of the "loans" phase as one set-based statement (PostgreSQL).

The same arithmetic as ``lending.daily.advance_quiet_day``, in exact NUMERIC with
``ROUND`` (half away from zero, which is half-up for these positive amounts), for every
quiet loan of a chunk at once, history rows included: only the totals per product come
back to Python. Loans that reach the write-off DPD are left to the Python path, which
writes them off through the domain. ``tests/integration/test_cob_simulation.py`` runs 400 days
on PostgreSQL with this path and checks the results against an independent replay.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from microlend.lending.delinquency import Bucket, DelinquencyPolicy, LoanClass
from microlend.money import ZERO


def _tier_case(bounds: tuple[int, ...], tiers: list[str], prefix: str) -> tuple[str, dict]:
    params = {f"{prefix}0": tiers[0], f"{prefix}last": tiers[-1]}
    parts = [f"WHEN c.dpd = 0 THEN :{prefix}0"]
    for n, (bound, tier) in enumerate(zip(bounds, tiers[1:]), start=1):
        parts.append(f"WHEN c.dpd <= :{prefix}b{n} THEN :{prefix}t{n}")
        params[f"{prefix}b{n}"], params[f"{prefix}t{n}"] = bound, tier
    return "CASE " + " ".join(parts) + f" ELSE :{prefix}last END", params


def close_quiet_loans(session: Session, *, on: date, first_id: int, last_id: int,
                      policy: DelinquencyPolicy) -> tuple[int, dict[str, dict[str, Decimal]], int]:
    """Advance the chunk's quiet loans and write their history rows; returns (count, income deltas by
    product, history rows written). Only one row per product comes back to Python."""
    bucket_sql, bucket_params = _tier_case(policy.bucket_upper_bounds, [b.value for b in Bucket], "bk")
    class_sql, class_params = _tier_case(policy.class_upper_bounds, [c.value for c in LoanClass], "cl")
    statement = text(f"""
        WITH calc AS (
            SELECT l.id, l.product_code, l.bucket AS old_bucket, l.loan_class AS old_class,
                   GREATEST(l.interest_recognized, l.accrual_base + CASE
                       WHEN l.accrual_start IS NOT NULL AND l.accrual_principal > 0
                       THEN ROUND(l.accrual_principal * l.daily_rate * (CAST(:d AS date) - l.accrual_start), 2)
                       ELSE 0 END) AS ir,
                   CASE WHEN l.overdue_principal > 0 AND l.penalty_through IS NOT NULL
                        THEN l.penalty_exact + l.overdue_principal * l.penalty_rate
                             * (CAST(:d AS date) - l.penalty_through)
                        ELSE l.penalty_exact END AS pe,
                   CASE WHEN l.oldest_unpaid_due IS NOT NULL AND l.oldest_unpaid_due < CAST(:d AS date)
                        THEN CAST(:d AS date) - l.oldest_unpaid_due ELSE 0 END AS dpd,
                   l.interest_recognized AS ir0, l.penalty_recognized AS pr0
            FROM loans l
            WHERE l.id BETWEEN :a AND :b AND l.status = 'active' AND l.cob_through = CAST(:prev AS date)
              AND (l.next_event_on IS NULL OR l.next_event_on > CAST(:d AS date))
            FOR UPDATE
        ), sized AS (
            SELECT c.*, GREATEST(c.pr0, ROUND(c.pe, 2)) AS pr FROM calc c WHERE c.dpd < :write_off
        ), upd AS (
            UPDATE loans l SET
                interest_recognized = s.ir, cob_interest = l.cob_interest + (s.ir - s.ir0),
                penalty_exact = s.pe, penalty_through = CAST(:d AS date),
                penalty_recognized = s.pr, cob_penalty = l.cob_penalty + (s.pr - s.pr0),
                dpd = s.dpd, bucket = {bucket_sql.replace('c.dpd', 's.dpd')},
                loan_class = {class_sql.replace('c.dpd', 's.dpd')}, cob_through = CAST(:d AS date)
            FROM sized s WHERE l.id = s.id
            RETURNING l.id, s.product_code, s.ir - s.ir0 AS di, s.pr - s.pr0 AS dp, s.dpd, l.bucket, l.loan_class,
                      s.old_bucket, s.old_class
        ), history AS (
            INSERT INTO loan_delinquency_history (loan_id, business_date, dpd, bucket, loan_class)
            SELECT u.id, CAST(:d AS date), u.dpd, u.bucket, u.loan_class FROM upd u
            WHERE u.bucket <> u.old_bucket OR u.loan_class <> u.old_class
            RETURNING 1
        )
        SELECT u.product_code, COUNT(*), SUM(u.di), SUM(u.dp), (SELECT COUNT(*) FROM history)
        FROM upd u GROUP BY u.product_code
    """)
    return _run(session, statement, on=on, first_id=first_id, last_id=last_id, policy=policy,
                params={**bucket_params, **class_params}, kinds=("interest", "penalty"))


def _run(session: Session, statement, *, on: date, first_id: int, last_id: int, policy: DelinquencyPolicy,
         params: dict, kinds: tuple[str, ...]) -> tuple[int, dict[str, dict[str, Decimal]], int]:
    """Execute one chunk's statement; its rows are (product, loans, one total per kind, history rows)."""
    rows = session.execute(statement, {
        "d": on, "prev": on - timedelta(days=1), "a": first_id, "b": last_id, "write_off": policy.write_off_dpd,
        **params,
    }).all()
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"interest": ZERO, "fee": ZERO, "penalty": ZERO})
    count = changes = 0
    for product, loans_count, *amounts, history_rows in rows:
        for kind, amount in zip(kinds, amounts):
            totals[product][kind] += amount
        count += loans_count
        changes = history_rows
    return count, totals, changes


def close_falling_due_loans(session: Session, *, on: date, first_id: int, last_id: int,
                            policy: DelinquencyPolicy) -> tuple[int, dict[str, dict[str, Decimal]], int]:
    """The commonest event, set-based: the running installment falls due today, nothing else happens.

    For loans with no grace days whose only event today is that their running installment
    (unpaid) falls due, the full path's result is: the closed period's scheduled interest
    and fee become earned (``accrual_base`` moves to the next installment's basis), its
    principal leaves ``accrual_principal``, days past due start tomorrow, and penalty runs
    one more day on what was already overdue. Anything else (grace days, a settled
    installment, a prepaid next period) is left to the Python full path.
    """
    bucket_sql, bucket_params = _tier_case(policy.bucket_upper_bounds, [b.value for b in Bucket], "bk")
    class_sql, class_params = _tier_case(policy.class_upper_bounds, [c.value for c in LoanClass], "cl")
    statement = text(f"""
        WITH calc AS (
            SELECT l.id, l.product_code, l.bucket AS old_bucket, l.loan_class AS old_class,
                   GREATEST(l.interest_recognized,
                            l.accrual_base - cur.interest_settled + cur.interest + COALESCE(nxt.interest_settled, 0))
                       AS ir,
                   l.accrual_base - cur.interest_settled + cur.interest + COALESCE(nxt.interest_settled, 0) AS base,
                   l.accrual_principal - (cur.principal - cur.principal_paid) AS principal_not_due,
                   nxt.accrual_start AS next_start, nxt.due_date AS next_due,
                   l.fee_recognized + cur.fee AS fr, cur.fee AS df,
                   CASE WHEN l.overdue_principal > 0 AND l.penalty_through IS NOT NULL
                        THEN l.penalty_exact + l.overdue_principal * l.penalty_rate
                             * (CAST(:d AS date) - l.penalty_through)
                        ELSE l.penalty_exact END AS pe,
                   COALESCE(l.oldest_unpaid_due, CAST(:d AS date)) AS oldest,
                   CASE WHEN l.oldest_unpaid_due IS NOT NULL AND l.oldest_unpaid_due < CAST(:d AS date)
                        THEN CAST(:d AS date) - l.oldest_unpaid_due ELSE 0 END AS dpd,
                   l.interest_recognized AS ir0, l.penalty_recognized AS pr0
            FROM loans l
            JOIN loan_installments cur ON cur.loan_id = l.id AND cur.due_date = CAST(:d AS date)
            LEFT JOIN loan_installments nxt ON nxt.loan_id = l.id AND nxt.number = cur.number + 1
            WHERE l.id BETWEEN :a AND :b AND l.status = 'active' AND l.cob_through = CAST(:prev AS date)
              AND l.grace_days = 0 AND l.next_due_date = CAST(:d AS date) AND l.next_event_on = CAST(:d AS date)
              AND cur.principal > cur.principal_paid
              AND (nxt.loan_id IS NULL OR (nxt.accrual_start = CAST(:d AS date) AND nxt.principal_paid = 0))
            FOR UPDATE OF l
        ), sized AS (
            SELECT c.*, GREATEST(c.pr0, ROUND(c.pe, 2)) AS pr FROM calc c WHERE c.dpd < :write_off
        ), upd AS (
            UPDATE loans l SET
                interest_recognized = s.ir, cob_interest = l.cob_interest + (s.ir - s.ir0),
                fee_recognized = s.fr, cob_fee = l.cob_fee + s.df,
                penalty_exact = s.pe, penalty_through = CAST(:d AS date),
                penalty_recognized = s.pr, cob_penalty = l.cob_penalty + (s.pr - s.pr0),
                accrual_base = s.base, accrual_principal = s.principal_not_due, accrual_start = s.next_start,
                next_due_date = s.next_due, next_event_on = CAST(:d AS date) + 1, oldest_unpaid_due = s.oldest,
                dpd = s.dpd, bucket = {bucket_sql.replace('c.dpd', 's.dpd')},
                loan_class = {class_sql.replace('c.dpd', 's.dpd')}, cob_through = CAST(:d AS date)
            FROM sized s WHERE l.id = s.id
            RETURNING l.id, s.product_code, s.ir - s.ir0 AS di, s.df, s.pr - s.pr0 AS dp, s.dpd, l.bucket,
                      l.loan_class, s.old_bucket, s.old_class
        ), history AS (
            INSERT INTO loan_delinquency_history (loan_id, business_date, dpd, bucket, loan_class)
            SELECT u.id, CAST(:d AS date), u.dpd, u.bucket, u.loan_class FROM upd u
            WHERE u.bucket <> u.old_bucket OR u.loan_class <> u.old_class
            RETURNING 1
        )
        SELECT u.product_code, COUNT(*), SUM(u.di), SUM(u.df), SUM(u.dp), (SELECT COUNT(*) FROM history)
        FROM upd u GROUP BY u.product_code
    """)
    return _run(session, statement, on=on, first_id=first_id, last_id=last_id, policy=policy,
                params={**bucket_params, **class_params}, kinds=("interest", "fee", "penalty"))
