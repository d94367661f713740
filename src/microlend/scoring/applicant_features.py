"""The model inputs of one applicant: a flat dict built from the application and the adapters' facts.

Origination scores the champion with ``applicant_features(...)`` and the demo scorecard is trained
on exactly these names, so a lender's own scorecard must use them too (``FEATURE_NAMES``). Values
are floats (counts included: a scorecard bins numbers, it does not need ints), ``industry`` is text,
and a feature whose source failed (``bureau`` or ``statements`` None) is None, which every scorecard
scores in its ``Missing`` bin. Money becomes float here on purpose: these are model inputs, never
amounts that are booked.

Ratios to income are taken against the **declared** monthly income, which every application has;
the statements' own income stands beside it (``statement_income``) and as a share of it
(``statement_income_ratio``), so a model can see an applicant whose account does not bear out
the claim.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping

__all__ = ["APPLICATION_FEATURES", "BUREAU_FEATURES", "FEATURE_NAMES", "STATEMENT_FEATURES", "applicant_features"]

#: From the application itself: always present.
APPLICATION_FEATURES = ("age", "declared_income", "industry")
#: From the bureau report's facts (``BureauReport.facts()``); None when the bureau failed.
BUREAU_FEATURES = (
    "bureau_on_file",
    "overdue_now",
    "max_dpd_24m",
    "delinquencies_24m",
    "enquiries_1m",
    "enquiries_3m",
    "enquiries_6m",
    "enquiries_12m",
    "loans_open",
    "loans_opened_12m",
    "cards_open",
    "card_utilisation",
    "utilisation_all",
    "debt_to_income",
    "loan_balance_to_income",
)
#: From the bank statements' facts (``BankStatements.facts()``); None when the statements failed.
STATEMENT_FEATURES = (
    "statement_income",
    "statement_income_ratio",
    "salary_months_share",
    "statement_debt_to_income",
    "balance_to_income",
)
FEATURE_NAMES = APPLICATION_FEATURES + BUREAU_FEATURES + STATEMENT_FEATURES


def _number(value) -> float | None:
    return None if value is None else float(value)


def _ratio(numerator, denominator) -> float | None:
    """numerator / denominator as a float, None when either is unknown or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return float(Decimal(str(numerator)) / Decimal(str(denominator)))


def _bureau(facts: Mapping, income: Decimal) -> dict[str, float | None]:
    # Without an open card, utilisation is unknown (Missing), not 0 %: no revolving credit is not low use.
    cards_open = facts.get("cards_open")
    return {
        "bureau_on_file": 1.0 if facts.get("on_file", True) else 0.0,
        "overdue_now": 1.0 if facts.get("overdue_now") else 0.0,
        "max_dpd_24m": _number(facts.get("max_dpd_24m")),
        "delinquencies_24m": _number(facts.get("delinquencies_24m")),
        "enquiries_1m": _number(facts.get("enquiries_1m")),
        "enquiries_3m": _number(facts.get("enquiries_3m")),
        "enquiries_6m": _number(facts.get("enquiries_6m")),
        "enquiries_12m": _number(facts.get("enquiries_12m")),
        "loans_open": _number(facts.get("loans_open")),
        "loans_opened_12m": _number(facts.get("loans_opened_12m")),
        "cards_open": _number(cards_open),
        "card_utilisation": _number(facts.get("utilisation")) if cards_open else None,
        "utilisation_all": _number(facts.get("utilisation_all")),
        "debt_to_income": _ratio(facts.get("debt_monthly"), income),
        # Open loans' balance in months of declared income, over a year (balance / (12 x income)).
        "loan_balance_to_income": _ratio(facts.get("loan_balance"), income * 12),
    }


def _statements(facts: Mapping, income: Decimal) -> dict[str, float | None]:
    earned = facts.get("income_monthly_avg")
    return {
        "statement_income": _number(earned),
        "statement_income_ratio": _ratio(earned, income),
        "salary_months_share": _ratio(facts.get("salary_months"), facts.get("months")),
        "statement_debt_to_income": _ratio(facts.get("debt_payments_monthly_avg"), earned),
        "balance_to_income": _ratio(facts.get("balance_avg"), earned),
    }


def applicant_features(*, age: int, declared_income: Decimal, industry: str | None, bureau: Mapping | None,
                       statements: Mapping | None) -> dict[str, float | str | None]:
    """Every name of ``FEATURE_NAMES``, in that order, for one applicant.

    ``bureau`` is ``BureauReport.facts()`` and ``statements`` is ``BankStatements.facts()``; None
    (the source timed out or failed) makes that source's features None. ``industry`` is
    normalised to lower case (blank -> None); ratios whose denominator is zero or unknown are None.
    """
    income = Decimal(str(declared_income))
    text = industry.strip().lower() if isinstance(industry, str) else None
    features: dict[str, float | str | None] = {
        "age": float(age),
        "declared_income": float(income),
        "industry": text or None,
    }
    features.update(_bureau(bureau, income) if bureau is not None else dict.fromkeys(BUREAU_FEATURES))
    features.update(_statements(statements, income) if statements is not None
                    else dict.fromkeys(STATEMENT_FEATURES))
    return {name: features[name] for name in FEATURE_NAMES}
