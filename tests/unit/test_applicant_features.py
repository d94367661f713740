"""applicant_features: the model inputs from an application and hand-built bureau and statements facts
(the keys of BureauSummary and StatementsSummary), with a failed source giving missing features."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

import pytest

from microlend.adapters.bank_statements import StatementsSummary
from microlend.adapters.bureau import BureauSummary
from microlend.scoring.applicant_features import (
    BUREAU_FEATURES,
    FEATURE_NAMES,
    STATEMENT_FEATURES,
    applicant_features,
)


def bureau_facts(**overrides) -> dict:
    facts = dict(
        on_file=True, overdue_now=False, overdue_amount=Decimal("0"), overdue_accounts=0, max_dpd_24m=30,
        delinquencies_24m=1, enquiries_1m=1, enquiries_3m=2, enquiries_6m=3, enquiries_12m=5, loans_open=2,
        loans_opened_12m=1, cards_open=2, loan_balance=Decimal("24000"), loan_limit=Decimal("30000"),
        card_limit=Decimal("10000"), card_balance=Decimal("4000"), utilisation=0.4, utilisation_all=0.7,
        debt_monthly=Decimal("1600.00"),
    )
    return facts | overrides


def statements_facts(**overrides) -> dict:
    facts = dict(
        months=6, income_monthly_avg=Decimal("6000.00"), salary_monthly_avg=Decimal("6000.00"), salary_months=3,
        credits_monthly_avg=Decimal("6500.00"), debits_monthly_avg=Decimal("6200.00"),
        debt_payments_monthly_avg=Decimal("1500.00"), closing_balance=Decimal("3000.00"),
        balance_min=Decimal("1000.00"), balance_avg=Decimal("3000.00"),
    )
    return facts | overrides


def features(**overrides):
    args = dict(age=30, declared_income=Decimal("8000"), industry=" Retail ", bureau=bureau_facts(),
                statements=statements_facts())
    return applicant_features(**(args | overrides))


def test_hand_built_facts_have_the_adapters_keys():
    assert set(bureau_facts()) == {f.name for f in fields(BureauSummary)}
    assert set(statements_facts()) == {f.name for f in fields(StatementsSummary)}


def test_feature_names_are_unique_and_cover_the_sources():
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert FEATURE_NAMES[:3] == ("age", "declared_income", "industry")
    assert set(BUREAU_FEATURES) | set(STATEMENT_FEATURES) < set(FEATURE_NAMES)


def test_every_source_present():
    f = features()
    assert tuple(f) == FEATURE_NAMES
    assert f["age"] == 30.0 and f["declared_income"] == 8000.0 and f["industry"] == "retail"
    assert f["bureau_on_file"] == 1.0 and f["overdue_now"] == 0.0
    assert (f["enquiries_1m"], f["enquiries_3m"], f["enquiries_6m"], f["enquiries_12m"]) == (1.0, 2.0, 3.0, 5.0)
    assert (f["loans_open"], f["loans_opened_12m"], f["cards_open"]) == (2.0, 1.0, 2.0)
    assert (f["max_dpd_24m"], f["delinquencies_24m"]) == (30.0, 1.0)
    assert f["card_utilisation"] == 0.4 and f["utilisation_all"] == 0.7
    assert f["debt_to_income"] == pytest.approx(0.2)  # 1600 / 8000 declared
    assert f["loan_balance_to_income"] == pytest.approx(0.25)  # 24000 / (12 x 8000)
    assert f["statement_income"] == 6000.0
    assert f["statement_income_ratio"] == pytest.approx(0.75)  # 6000 seen / 8000 declared
    assert f["salary_months_share"] == pytest.approx(0.5)
    assert f["statement_debt_to_income"] == pytest.approx(0.25)  # 1500 / 6000
    assert f["balance_to_income"] == pytest.approx(0.5)
    for name, value in f.items():
        assert isinstance(value, str if name == "industry" else float), name


def test_failed_bureau_leaves_its_features_missing():
    f = features(bureau=None)
    assert all(f[name] is None for name in BUREAU_FEATURES)
    assert f["statement_income"] == 6000.0 and f["age"] == 30.0


def test_failed_statements_leave_their_features_missing():
    f = features(statements=None)
    assert all(f[name] is None for name in STATEMENT_FEATURES)
    assert f["enquiries_6m"] == 3.0


def test_no_sources_at_all():
    f = features(bureau=None, statements=None, industry=None)
    assert tuple(f) == FEATURE_NAMES
    assert [name for name, value in f.items() if value is not None] == ["age", "declared_income"]


def test_thin_file_and_no_cards():
    thin = bureau_facts(on_file=False, enquiries_1m=0, enquiries_3m=0, enquiries_6m=0, enquiries_12m=0, loans_open=0,
                        loans_opened_12m=0, cards_open=0, loan_balance=Decimal(0), loan_limit=Decimal(0),
                        card_limit=Decimal(0), card_balance=Decimal(0), utilisation=0.0, utilisation_all=0.0,
                        debt_monthly=Decimal("0.00"), max_dpd_24m=0, delinquencies_24m=0)
    f = features(bureau=thin)
    assert f["bureau_on_file"] == 0.0
    assert f["card_utilisation"] is None  # no card: unknown, not 0 % used
    assert f["loans_open"] == 0.0 and f["debt_to_income"] == 0.0


def test_overdue_now_is_a_flag():
    assert features(bureau=bureau_facts(overdue_now=True))["overdue_now"] == 1.0


@pytest.mark.parametrize("industry", ["", "   ", None])
def test_blank_industry_is_missing(industry):
    assert features(industry=industry)["industry"] is None


def test_zero_incomes_give_missing_ratios_not_errors():
    f = features(declared_income=Decimal("0"), statements=statements_facts(income_monthly_avg=Decimal("0.00"),
                                                                            months=0, salary_months=0))
    for name in ("debt_to_income", "loan_balance_to_income", "statement_income_ratio", "salary_months_share",
                 "statement_debt_to_income", "balance_to_income"):
        assert f[name] is None, name
    assert f["statement_income"] == 0.0


def test_decimal_text_and_int_income_alike():
    assert features(declared_income=8000)["debt_to_income"] == features()["debt_to_income"]
