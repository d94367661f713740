"""Cross-checks between an application and what the data sources say about the applicant.

Each check compares two sources and, when they disagree, returns a finding: a stable code that rules
can test (``"income_above_statements" in findings``), a severity and the figures behind it, so a decision
record can show why. A source that did not answer produces no disagreement but an ``*_unverified``
finding: the absence of evidence is itself something policy may care about.

Provinces are the two-digit codes of GB/T 2260 (the first two digits of a PRC ID number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

#: Declared monthly income may exceed the statements' average by this share before it is a finding.
INCOME_TOLERANCE = Decimal("0.30")
#: ... and by this share it is a serious one.
INCOME_SERIOUS = Decimal("1.00")
#: Fewer months of statements than this cannot verify an income.
MIN_STATEMENT_MONTHS = 3


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "info" | "warning" | "serious"
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity,
                "detail": {k: str(v) if isinstance(v, Decimal) else v for k, v in self.detail.items()}}


@dataclass(frozen=True)
class CrossCheckInput:
    """What the checks compare; ``None`` means the source did not answer (or has no such field)."""

    declared_income: Decimal
    id_province: str
    declared_region: str | None = None
    statement_income: Decimal | None = None
    statement_months: int | None = None
    phone_province: str | None = None
    ip_province: str | None = None
    bureau_name_matches: bool | None = None
    bureau_id_matches: bool | None = None


def income_checks(data: CrossCheckInput) -> list[Finding]:
    if data.statement_income is None or (data.statement_months or 0) < MIN_STATEMENT_MONTHS:
        return [Finding("income_unverified", "warning", {"statement_months": data.statement_months or 0})]
    verified = data.statement_income
    if verified <= 0:
        return [Finding("no_income_in_statements", "serious", {"declared": data.declared_income})]
    excess = (data.declared_income - verified) / verified
    if excess > INCOME_SERIOUS:
        return [Finding("income_above_statements", "serious",
                        {"declared": data.declared_income, "statements": verified, "excess": round(excess, 4)})]
    if excess > INCOME_TOLERANCE:
        return [Finding("income_above_statements", "warning",
                        {"declared": data.declared_income, "statements": verified, "excess": round(excess, 4)})]
    return []


def region_checks(data: CrossCheckInput) -> list[Finding]:
    findings = []
    pairs = (("phone_province", data.phone_province, "phone_region_mismatch"),
             ("ip_province", data.ip_province, "ip_region_mismatch"))
    for name, province, code in pairs:
        if province is None:
            findings.append(Finding(f"{name.split('_')[0]}_region_unverified", "info", {}))
        elif province != data.id_province:
            findings.append(Finding(code, "info", {"id_province": data.id_province, name: province}))
    if data.declared_region is not None and data.declared_region[:2] != data.id_province \
            and data.phone_province is not None and data.declared_region[:2] != data.phone_province:
        findings.append(Finding("declared_region_unsupported", "warning",
                                {"declared_region": data.declared_region, "id_province": data.id_province,
                                 "phone_province": data.phone_province}))
    if data.phone_province is not None and data.ip_province is not None \
            and data.phone_province != data.id_province and data.ip_province != data.id_province \
            and data.phone_province != data.ip_province:
        findings.append(Finding("three_regions", "warning", {"id_province": data.id_province,
                                                             "phone_province": data.phone_province,
                                                             "ip_province": data.ip_province}))
    return findings


def bureau_identity_checks(data: CrossCheckInput) -> list[Finding]:
    if data.bureau_id_matches is None:
        return [Finding("bureau_identity_unverified", "warning", {})]
    if not data.bureau_id_matches:
        return [Finding("bureau_identity_mismatch", "serious", {"element": "id_number"})]
    if data.bureau_name_matches is False:
        return [Finding("bureau_identity_mismatch", "serious", {"element": "name"})]
    return []


def cross_check(data: CrossCheckInput) -> list[Finding]:
    """Every finding, in a stable order (income, regions, bureau identity)."""
    return income_checks(data) + region_checks(data) + bureau_identity_checks(data)
