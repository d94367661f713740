"""Imperative mapping of the pure domain classes onto the tables.

The domain never imports SQLAlchemy; this module teaches SQLAlchemy about the
domain instead (the "Architecture Patterns with Python" approach).
"""

from __future__ import annotations

from sqlalchemy.orm import registry, relationship

from microlend.lending.credit_lines import CreditLine
from microlend.lending.customers import Customer
from microlend.lending.loans import Loan, LoanInstallment
from microlend.lending.records import CardDebit, Drawdown, Repayment
from microlend.store import tables

mapper_registry = registry(metadata=tables.metadata)
_mapped = False


def start_mappers() -> None:
    """Map once per process (idempotent)."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(Customer, tables.customers)
    mapper_registry.map_imperatively(CreditLine, tables.credit_lines)
    mapper_registry.map_imperatively(Drawdown, tables.drawdowns)
    mapper_registry.map_imperatively(Repayment, tables.repayments)
    mapper_registry.map_imperatively(CardDebit, tables.card_debits)
    installment_mapper = mapper_registry.map_imperatively(LoanInstallment, tables.loan_installments)
    mapper_registry.map_imperatively(
        Loan, tables.loans,
        properties={
            "installments": relationship(
                installment_mapper, order_by=tables.loan_installments.c.number,
                cascade="all, delete-orphan", lazy="selectin",
            ),
        },
    )
    _mapped = True
