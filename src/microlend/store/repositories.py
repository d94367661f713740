"""Repositories: the only code that knows how domain objects are stored."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from microlend.lending.credit_lines import CreditLine, LineEvent
from microlend.lending.customers import Customer
from microlend.lending.ledger import JournalEntry
from microlend.lending.loans import Loan
from microlend.lending.products import LoanProduct, product_from_dict, product_to_dict
from microlend.lending.records import CardDebit, Drawdown, Repayment
from microlend.money import ZERO
from microlend.store import tables


def _get(session: Session, cls, ident: int, for_update: bool):
    """Load by primary key; with ``for_update``, lock the row and re-read it even if it is
    already in the session (a plain ``get`` would return the cached, unlocked state)."""
    if for_update:
        return session.get(cls, ident, with_for_update=True, populate_existing=True)
    return session.get(cls, ident)


class ProductRepository:
    def __init__(self, session: Session):
        self.session = session

    def get(self, code: str) -> LoanProduct | None:
        row = self.session.execute(select(tables.products.c.config).where(tables.products.c.code == code)).first()
        return product_from_dict(row.config) if row else None

    def list(self) -> list[LoanProduct]:
        rows = self.session.execute(select(tables.products.c.config).order_by(tables.products.c.code))
        return [product_from_dict(r.config) for r in rows]

    def add(self, product: LoanProduct, *, at: datetime) -> None:
        self.session.execute(insert(tables.products).values(
            code=product.code, name=product.name, config=product_to_dict(product), active=product.active, created_at=at,
        ))


class CustomerRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, customer: Customer) -> Customer:
        self.session.add(customer)
        self.session.flush()
        return customer

    def get(self, customer_id: int, *, for_update: bool = False) -> Customer | None:
        return _get(self.session, Customer, customer_id, for_update)

    def get_by_id_hash(self, id_hash: str) -> Customer | None:
        return self.session.scalars(select(Customer).where(tables.customers.c.id_number_hash == id_hash)).first()

    def list(self, *, limit: int, offset: int) -> list[Customer]:
        return list(self.session.scalars(select(Customer).order_by(tables.customers.c.id).limit(limit).offset(offset)))


class CreditLineRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, line: CreditLine) -> CreditLine:
        self.session.add(line)
        self.session.flush()
        return line

    def get(self, line_id: int, *, for_update: bool = False) -> CreditLine | None:
        return _get(self.session, CreditLine, line_id, for_update)

    def list_for_customer(self, customer_id: int) -> list[CreditLine]:
        stmt = select(CreditLine).where(tables.credit_lines.c.customer_id == customer_id).order_by(tables.credit_lines.c.id)
        return list(self.session.scalars(stmt))

    def add_event(self, line_id: int, event: LineEvent, *, actor: str, business_date: date, at: datetime) -> None:
        self.session.execute(insert(tables.credit_line_events).values(
            credit_line_id=line_id, kind=event.kind.value, old_limit=event.old_limit, new_limit=event.new_limit,
            reason=event.reason, actor=actor, business_date=business_date, at=at,
        ))

    def events(self, line_id: int) -> list[dict]:
        t = tables.credit_line_events
        rows = self.session.execute(select(t).where(t.c.credit_line_id == line_id).order_by(t.c.id))
        return [dict(r._mapping) for r in rows]


class DrawdownRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, drawdown: Drawdown) -> Drawdown:
        self.session.add(drawdown)
        self.session.flush()
        return drawdown

    def get(self, drawdown_id: int, *, for_update: bool = False) -> Drawdown | None:
        return _get(self.session, Drawdown, drawdown_id, for_update)

    def by_idempotency(self, scope: str, key: str) -> Drawdown | None:
        t = tables.drawdowns
        return self.session.scalars(select(Drawdown).where(t.c.idempotency_scope == scope, t.c.idempotency_key == key)).first()

    def pending(self) -> list[Drawdown]:
        return list(self.session.scalars(select(Drawdown).where(tables.drawdowns.c.status == "pending").order_by(tables.drawdowns.c.id)))


class LoanRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, loan: Loan) -> Loan:
        self.session.add(loan)
        self.session.flush()
        for inst in loan.installments:
            inst.loan_id = loan.id
        return loan

    def get(self, loan_id: int, *, for_update: bool = False) -> Loan | None:
        return _get(self.session, Loan, loan_id, for_update)

    def list_for_customer(self, customer_id: int) -> list[Loan]:
        return list(self.session.scalars(select(Loan).where(tables.loans.c.customer_id == customer_id).order_by(tables.loans.c.id)))

    def list_ids(self) -> list[int]:
        return list(self.session.scalars(select(tables.loans.c.id).order_by(tables.loans.c.id)))


class RepaymentRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, repayment: Repayment) -> Repayment:
        self.session.add(repayment)
        self.session.flush()
        return repayment

    def by_idempotency(self, scope: str, key: str) -> Repayment | None:
        t = tables.repayments
        return self.session.scalars(select(Repayment).where(t.c.idempotency_scope == scope, t.c.idempotency_key == key)).first()

    def get(self, repayment_id: int) -> Repayment | None:
        return self.session.get(Repayment, repayment_id)

    def list_for_loan(self, loan_id: int) -> list[Repayment]:
        t = tables.repayments
        return list(self.session.scalars(select(Repayment).where(t.c.loan_id == loan_id).order_by(t.c.id)))


class CardDebitRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, debit: CardDebit) -> CardDebit:
        self.session.add(debit)
        self.session.flush()
        return debit

    def get(self, debit_id: int, *, for_update: bool = False) -> CardDebit | None:
        return _get(self.session, CardDebit, debit_id, for_update)

    def by_idempotency(self, scope: str, key: str) -> CardDebit | None:
        t = tables.card_debits
        return self.session.scalars(select(CardDebit).where(t.c.idempotency_scope == scope, t.c.idempotency_key == key)).first()

    def pending(self) -> list[CardDebit]:
        t = tables.card_debits
        return list(self.session.scalars(select(CardDebit).where(t.c.status == "pending").order_by(t.c.id)))


class LedgerRepository:
    def __init__(self, session: Session):
        self.session = session

    def post(self, entry: JournalEntry, *, at: datetime) -> int:
        """Write one balanced entry (the domain checked it; PostgreSQL checks again at commit)."""
        result = self.session.execute(insert(tables.journal_entries).values(
            entry_date=entry.entry_date, kind=entry.kind.value, description=entry.description,
            reference=entry.reference, posted_at=at,
        ))
        entry_id = result.inserted_primary_key[0]
        self.session.execute(insert(tables.journal_lines), [
            {"entry_id": entry_id, "account_code": line.account, "debit": line.debit, "credit": line.credit, "loan_id": line.loan_id}
            for line in entry.lines
        ])
        return entry_id

    def account_sums(self, *, loan_id: int | None = None, through: date | None = None) -> dict[str, tuple[Decimal, Decimal]]:
        lines, entries = tables.journal_lines, tables.journal_entries
        stmt = select(lines.c.account_code, func.sum(lines.c.debit), func.sum(lines.c.credit)).group_by(lines.c.account_code)
        if loan_id is not None:
            stmt = stmt.where(lines.c.loan_id == loan_id)
        if through is not None:
            stmt = stmt.join(entries, entries.c.id == lines.c.entry_id).where(entries.c.entry_date <= through)
        return {code: (dr or ZERO, cr or ZERO) for code, dr, cr in self.session.execute(stmt)}

    def ensure_accounts(self, accounts) -> None:
        existing = set(self.session.scalars(select(tables.ledger_accounts.c.code)))
        rows = [{"code": a.code, "name": a.name, "type": a.type.value, "contra": a.contra} for a in accounts if a.code not in existing]
        if rows:
            self.session.execute(insert(tables.ledger_accounts), rows)

    def entries_for_loan(self, loan_id: int) -> list[dict]:
        lines, entries = tables.journal_lines, tables.journal_entries
        stmt = (
            select(entries.c.id, entries.c.entry_date, entries.c.kind, lines.c.account_code, lines.c.debit, lines.c.credit)
            .join(lines, lines.c.entry_id == entries.c.id).where(lines.c.loan_id == loan_id).order_by(entries.c.id, lines.c.id)
        )
        return [dict(r._mapping) for r in self.session.execute(stmt)]


class CustomerPiiRepository:
    """Bulk access to the encrypted columns, for key rotation."""

    COLUMNS = ("id_number_token", "phone_token", "card_token")

    def __init__(self, session: Session):
        self.session = session

    def batch_after(self, last_id: int, size: int) -> list:
        """The next batch, locked until commit so a card bound meanwhile is not overwritten."""
        t = tables.customers
        stmt = (select(t.c.id, *(t.c[c] for c in self.COLUMNS)).where(t.c.id > last_id).order_by(t.c.id)
                .limit(size).with_for_update())
        return list(self.session.execute(stmt))

    def update_tokens(self, customer_id: int, tokens: dict[str, str]) -> None:
        t = tables.customers
        self.session.execute(t.update().where(t.c.id == customer_id).values(**tokens))


class ApiKeyRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, *, key_id: str, secret_hash: str, role: str, customer_id: int | None, name: str, at: datetime) -> int:
        result = self.session.execute(insert(tables.api_keys).values(
            key_id=key_id, secret_hash=secret_hash, role=role, customer_id=customer_id, name=name, created_at=at,
        ))
        return result.inserted_primary_key[0]

    def get_by_key_id(self, key_id: str):
        return self.session.execute(select(tables.api_keys).where(tables.api_keys.c.key_id == key_id)).first()

    def revoke(self, key_id: str, *, at: datetime) -> None:
        t = tables.api_keys
        self.session.execute(t.update().where(t.c.key_id == key_id, t.c.revoked_at.is_(None)).values(revoked_at=at))

    def revoke_named(self, name: str, *, at: datetime) -> None:
        t = tables.api_keys
        self.session.execute(t.update().where(t.c.name == name, t.c.revoked_at.is_(None)).values(revoked_at=at))
