import time
from datetime import date, timedelta
from decimal import Decimal
import sys
sys.path.insert(0, "/work/main/tests/integration")
from cob_helpers import close, draw, close_through
from sqlalchemy import select
from microlend.store import tables
from microlend.services import ledger

def test_probe(platform, make_line, rail):
    line = make_line()
    loan_id = draw(platform, line.id, "10000").loan_id
    rail.will(*["fail:insufficient_funds"] * 30)
    t = time.perf_counter()
    reps = close_through(platform, date(2026, 3, 11), date(2026, 10, 8))
    print("dates", len(reps), time.perf_counter() - t)
    with platform.engine.connect() as c:
        print(c.execute(select(tables.loans.c.status, tables.loans.c.dpd, tables.loans.c.written_off_amount, tables.loans.c.cob_interest, tables.loans.c.cob_penalty)).all())
        print(c.execute(select(tables.write_offs)).all())
        print(c.execute(select(tables.card_debits.c.requested_on, tables.card_debits.c.status)).all())
    print(reps[-2]["written_off"], reps[-1]["accrued"])
    print(ledger.reconcile_all(uow=platform.uow()))
    tb = ledger.get_trial_balance(uow=platform.uow())
    print(tb.balanced, [(r.account.code, r.balance) for r in tb.rows])
