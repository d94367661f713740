"""Asking the outside sources about an applicant: KYC, the credit bureau, bank statements, geography.

Each call is made outside any database transaction and may fail: a timeout or an error
answer is recorded as that source's error code and votes ``review`` (never an approval on
missing data, never a crash). The bureau is asked only after the consent is committed;
the caller guarantees it by calling :func:`gather` after that commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from microlend.adapters.bank_statements import BankStatements
from microlend.adapters.bureau import BureauReport, dpd_of
from microlend.adapters.errors import AdapterError
from microlend.adapters.kyc import KycResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """An applicant's identity elements, normalised (kept in memory only; never logged)."""

    name: str
    id_number: str
    phone: str
    bank_card: str
    ip: str


@dataclass
class Sources:
    """What the sources answered; ``errors`` maps a source to its error code."""

    kyc: KycResult | None = None
    bureau: BureauReport | None = None
    statements: BankStatements | None = None
    phone_province: str | None = None
    ip_province: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def vote(self) -> str:
        """The sources' part of the decision: reject when the identity is not verified, review when a source
        failed, else approve."""
        if self.kyc is not None and not self.kyc.matched:
            return "reject"
        return "review" if self.errors else "approve"

    def to_record(self) -> dict[str, Any]:
        kyc: dict[str, Any] = ({"error": self.errors["kyc"]} if "kyc" in self.errors else
                               {"outcome": self.kyc.outcome.value, "mismatched": list(self.kyc.mismatched),
                                "provider_reference": self.kyc.provider_reference} if self.kyc else {})
        bureau: dict[str, Any] = ({"error": self.errors["bureau"]} if "bureau" in self.errors else
                                  {"provider_reference": self.bureau.provider_reference,
                                   "report_date": self.bureau.report_date.isoformat(), "on_file": self.bureau.on_file,
                                   "loans": len(self.bureau.loans), "cards": len(self.bureau.cards),
                                   "enquiries": len(self.bureau.enquiries)} if self.bureau else {})
        statements: dict[str, Any] = ({"error": self.errors["statements"]} if "statements" in self.errors else
                                      {"provider_reference": self.statements.provider_reference,
                                       "bank": self.statements.bank, "account": self.statements.account,
                                       "start": self.statements.start.isoformat(),
                                       "end": self.statements.end.isoformat()} if self.statements else {})
        return {"kyc": kyc, "bureau": bureau, "statements": statements,
                "geo": {"phone_province": self.phone_province, "ip_province": self.ip_province}}


def _ask(sources: Sources, name: str, call):
    try:
        return call()
    except AdapterError as exc:
        sources.errors[name] = exc.code
    except Exception:  # noqa: BLE001 - a provider integration's own bug must not crash a decision
        log.exception("the %s provider raised an unexpected error; treated as a failure", name)
        sources.errors[name] = f"{name}_failure"
    return None


def gather(platform, identity: Identity, *, reference: str) -> Sources:
    """Ask KYC, the bureau, the statements provider and the geo look-ups (consent must already be stored)."""
    sources = Sources()
    sources.kyc = _ask(sources, "kyc", lambda: platform.kyc.verify(
        reference=f"{reference}-KYC", name=identity.name, id_number=identity.id_number, phone=identity.phone,
        bank_card=identity.bank_card))
    sources.bureau = _ask(sources, "bureau", lambda: platform.bureau.report(
        reference=f"{reference}-BUR", name=identity.name, id_number=identity.id_number, reason="loan_approval"))
    sources.statements = _ask(sources, "statements", lambda: platform.statements.statements(
        reference=f"{reference}-STM", name=identity.name, id_number=identity.id_number,
        bank_card=identity.bank_card, months=6))
    try:
        sources.phone_province = platform.geo.phone_province(identity.phone)
        sources.ip_province = platform.geo.ip_province(identity.ip)
    except Exception:  # noqa: BLE001 - a look-up table problem leaves the regions unverified (a finding)
        log.exception("geo look-up failed; regions left unverified")
    return sources


def bureau_facts(report: BureauReport | None) -> dict[str, Any] | None:
    """The ``bureau`` facts: the report summary plus the names the rule language documents."""
    if report is None:
        return None
    facts = report.facts()
    facts["has_record"] = report.on_file
    facts["thin_file"] = (not report.on_file) or (len(report.loans) + len(report.cards) == 0)
    facts["overdue_count_24m"] = facts.get("delinquencies_24m")
    facts["history_months"] = _history_months(report)
    facts["loans_closed"] = sum(1 for loan in report.loans if loan.status == "closed")
    #: Accounts that reached more than 180 days past due (status 7) in the 24 months.
    facts["defaults"] = sum(1 for item in (*report.loans, *report.cards) if dpd_of(item.worst_status) > 180)
    return facts


def _history_months(report: BureauReport) -> int:
    opened = [item.opened for item in (*report.loans, *report.cards) if getattr(item, "opened", None)]
    if not opened:
        return 0
    first = min(opened)
    return (report.report_date.year - first.year) * 12 + report.report_date.month - first.month


def statements_facts(statements: BankStatements | None) -> dict[str, Any] | None:
    if statements is None:
        return None
    facts = statements.facts()
    incomes = [m.salary_credits + m.other_income for m in statements.monthly]
    facts["income_monthly_min"] = min(incomes) if incomes else None
    facts["income_volatility"] = _volatility(incomes)
    facts["outflow_monthly_avg"] = facts.get("debits_monthly_avg")
    return facts


def _volatility(incomes: list) -> Decimal | None:
    """Coefficient of variation of monthly income (population standard deviation / mean), 4 places."""
    if len(incomes) < 2:
        return None
    mean = sum(incomes) / len(incomes)
    if mean <= 0:
        return None
    variance = sum((value - mean) ** 2 for value in incomes) / len(incomes)
    return (variance.sqrt() / mean).quantize(Decimal("0.0001"))
