"""Double-entry bookkeeping, pure.

Every movement of money is a ``JournalEntry`` whose debits equal its credits;
the constructor refuses anything else, so an unbalanced entry cannot exist in
memory, let alone reach the database (where PostgreSQL checks again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum

from microlend.money import ZERO, is_whole_fen


class AccountType(str, Enum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def normal_debit(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: AccountType
    #: Contra accounts (the loss allowance) carry the balance opposite to their type.
    contra: bool = False

    @property
    def normal_debit(self) -> bool:
        return self.type.normal_debit != self.contra


class Accounts:
    """The chart of accounts of a lending book (codes are stable identifiers)."""

    SETTLEMENT = Account("1001", "Settlement account at the payment rail", AccountType.ASSET)
    PRINCIPAL = Account("1101", "Loans receivable - principal", AccountType.ASSET)
    INTEREST_RECEIVABLE = Account("1102", "Interest receivable", AccountType.ASSET)
    FEE_RECEIVABLE = Account("1103", "Fees receivable", AccountType.ASSET)
    PENALTY_RECEIVABLE = Account("1104", "Penalty interest receivable", AccountType.ASSET)
    LOSS_ALLOWANCE = Account("1109", "Allowance for credit losses", AccountType.ASSET, contra=True)
    SUSPENSE = Account("2101", "Borrower funds in suspense (to refund)", AccountType.LIABILITY)
    INTEREST_INCOME = Account("4001", "Interest income", AccountType.INCOME)
    FEE_INCOME = Account("4002", "Fee income", AccountType.INCOME)
    PENALTY_INCOME = Account("4003", "Penalty interest income", AccountType.INCOME)
    RECOVERY_INCOME = Account("4101", "Recoveries of written-off loans", AccountType.INCOME)
    CREDIT_LOSS_EXPENSE = Account("5001", "Credit loss expense", AccountType.EXPENSE)

    @classmethod
    def all(cls) -> list[Account]:
        return [v for v in vars(cls).values() if isinstance(v, Account)]

    @classmethod
    def by_code(cls) -> dict[str, Account]:
        return {a.code: a for a in cls.all()}


class EntryKind(str, Enum):
    DISBURSEMENT = "disbursement"
    REPAYMENT = "repayment"
    ACCRUAL = "accrual"
    PENALTY = "penalty"
    WRITE_OFF = "write_off"
    RECOVERY = "recovery"
    PROVISION = "provision"


class UnbalancedEntryError(ValueError):
    """A programming error: an entry whose debits and credits differ."""


@dataclass(frozen=True, slots=True)
class JournalLine:
    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    loan_id: int | None = None


@dataclass(frozen=True)
class JournalEntry:
    kind: EntryKind
    entry_date: date
    description: str
    lines: tuple[JournalLine, ...]
    reference: str | None = None

    def __post_init__(self) -> None:
        check_balanced(self.lines)

    @property
    def total(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)


def check_balanced(lines: tuple[JournalLine, ...] | list[JournalLine]) -> None:
    """Every line one-sided, positive and in whole fen; debits equal credits."""
    if len(lines) < 2:
        raise UnbalancedEntryError("a journal entry needs at least two lines")
    known = Accounts.by_code()
    debits = credits = ZERO
    for line in lines:
        if line.account not in known:
            raise UnbalancedEntryError(f"unknown account {line.account}")
        if (line.debit > 0) == (line.credit > 0) or line.debit < 0 or line.credit < 0:
            raise UnbalancedEntryError(f"line must be exactly one positive side: {line}")
        if not (is_whole_fen(line.debit) and is_whole_fen(line.credit)):
            raise UnbalancedEntryError(f"line amounts must be whole fen: {line}")
        debits += line.debit
        credits += line.credit
    if debits != credits:
        raise UnbalancedEntryError(f"debits {debits} != credits {credits}")


class EntryBuilder:
    """Collects debit/credit pairs, dropping zero amounts, and builds one entry."""

    def __init__(self, kind: EntryKind, entry_date: date, description: str, reference: str | None = None):
        self.kind, self.entry_date, self.description, self.reference = kind, entry_date, description, reference
        self._lines: list[JournalLine] = []

    def move(self, amount: Decimal, *, debit: Account, credit: Account, loan_id: int | None = None) -> "EntryBuilder":
        if amount < 0:
            raise UnbalancedEntryError(f"negative movement {amount}")
        if amount > 0:
            self._lines.append(JournalLine(debit.code, debit=amount, loan_id=loan_id))
            self._lines.append(JournalLine(credit.code, credit=amount, loan_id=loan_id))
        return self

    @property
    def empty(self) -> bool:
        return not self._lines

    def build(self) -> JournalEntry:
        return JournalEntry(self.kind, self.entry_date, self.description, tuple(self._lines), self.reference)


@dataclass(frozen=True)
class TrialBalanceRow:
    account: Account
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Balance on the account's normal side (positive when normal)."""
        return self.debit - self.credit if self.account.normal_debit else self.credit - self.debit


@dataclass(frozen=True)
class TrialBalance:
    rows: tuple[TrialBalanceRow, ...]
    total_debit: Decimal = field(init=False)
    total_credit: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_debit", sum((r.debit for r in self.rows), ZERO))
        object.__setattr__(self, "total_credit", sum((r.credit for r in self.rows), ZERO))

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit


def trial_balance(sums: dict[str, tuple[Decimal, Decimal]]) -> TrialBalance:
    """Build a trial balance from per-account (debit, credit) sums; every account listed."""
    rows = [
        TrialBalanceRow(account, *sums.get(account.code, (ZERO, ZERO)))
        for account in sorted(Accounts.all(), key=lambda a: a.code)
    ]
    return TrialBalance(tuple(rows))
