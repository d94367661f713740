"""Unit of work: one database transaction, committed only when asked.

Leaving the ``with`` block without ``commit()`` (an error, a refused request)
rolls everything back, so a request either happens completely or not at all.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from microlend.store.repositories import (
    ApiKeyRepository,
    CardDebitRepository,
    CreditLineRepository,
    CustomerPiiRepository,
    CustomerRepository,
    DrawdownRepository,
    LedgerRepository,
    LoanRepository,
    ProductRepository,
    RepaymentRepository,
)


class UnitOfWork:
    def __init__(self, session_factory: sessionmaker[Session]):
        self._session_factory = session_factory
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        self.session = s = self._session_factory()
        self.products = ProductRepository(s)
        self.customers = CustomerRepository(s)
        self.lines = CreditLineRepository(s)
        self.drawdowns = DrawdownRepository(s)
        self.loans = LoanRepository(s)
        self.repayments = RepaymentRepository(s)
        self.card_debits = CardDebitRepository(s)
        self.ledger = LedgerRepository(s)
        self.api_keys = ApiKeyRepository(s)
        self.customer_pii = CustomerPiiRepository(s)
        return self

    def __exit__(self, *exc_info) -> None:
        # close() rolls back whatever was not committed; unlike rollback() it
        # does not expire loaded objects, so results stay readable afterwards.
        assert self.session is not None
        try:
            self.session.close()
        finally:
            self.session = None

    def commit(self) -> None:
        assert self.session is not None
        self.session.commit()

    def flush(self) -> None:
        assert self.session is not None
        self.session.flush()

    @property
    def dialect(self) -> str:
        assert self.session is not None
        return self.session.get_bind().dialect.name
