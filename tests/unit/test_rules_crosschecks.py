"""Cross-checks between the application and the data sources, on hand-built cases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from microlend.rules.crosschecks import CrossCheckInput, cross_check


def _codes(**changes) -> list[tuple[str, str]]:
    base = dict(declared_income=Decimal("8000"), id_province="44", declared_region="440300",
                statement_income=Decimal("8000"), statement_months=6, phone_province="44", ip_province="44",
                bureau_name_matches=True, bureau_id_matches=True)
    return [(f.code, f.severity) for f in cross_check(CrossCheckInput(**{**base, **changes}))]


def test_consistent_sources_give_no_finding():
    assert _codes() == []


@pytest.mark.parametrize("declared, expected", [
    ("10400", []),                                               # 30 % above: within tolerance
    ("10401", [("income_above_statements", "warning")]),
    ("16000", [("income_above_statements", "warning")]),         # exactly double: still a warning
    ("16001", [("income_above_statements", "serious")]),
])
def test_declared_income_against_statements(declared, expected):
    assert _codes(declared_income=Decimal(declared)) == expected


def test_too_few_statement_months_or_none_leave_income_unverified():
    assert _codes(statement_months=2) == [("income_unverified", "warning")]
    assert _codes(statement_income=None, statement_months=None) == [("income_unverified", "warning")]
    assert _codes(statement_income=Decimal("0")) == [("no_income_in_statements", "serious")]


def test_regions():
    assert _codes(phone_province="11") == [("phone_region_mismatch", "info")]
    assert _codes(ip_province="31") == [("ip_region_mismatch", "info")]
    assert _codes(phone_province="11", ip_province="31") == [
        ("phone_region_mismatch", "info"), ("ip_region_mismatch", "info"), ("three_regions", "warning")]
    assert _codes(declared_region="510100", phone_province="11") == [
        ("phone_region_mismatch", "info"), ("declared_region_unsupported", "warning")]
    assert _codes(phone_province=None, ip_province=None) == [("phone_region_unverified", "info"),
                                                             ("ip_region_unverified", "info")]


def test_bureau_identity():
    assert _codes(bureau_id_matches=False) == [("bureau_identity_mismatch", "serious")]
    assert _codes(bureau_name_matches=False) == [("bureau_identity_mismatch", "serious")]
    assert _codes(bureau_id_matches=None) == [("bureau_identity_unverified", "warning")]


def test_findings_serialise_money_as_text():
    [finding] = cross_check(CrossCheckInput(declared_income=Decimal("20000"), id_province="44",
                                            statement_income=Decimal("8000"), statement_months=6,
                                            phone_province="44", ip_province="44", bureau_id_matches=True,
                                            bureau_name_matches=True))
    assert finding.to_dict() == {"code": "income_above_statements", "severity": "serious",
                                 "detail": {"declared": "20000", "statements": "8000", "excess": "1.5000"}}
