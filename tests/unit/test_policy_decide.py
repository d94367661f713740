"""The credit policy decision, on hand-computed limits and rates, and its invariants under random inputs."""

from __future__ import annotations

import json
from decimal import Decimal, FloatOperation, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microlend.errors import ValidationError
from microlend.lending.products import REFERENCE_PRODUCT
from microlend.rules.policy import (
    BAND_ACTIONS,
    DECISIONS,
    REASONS,
    GuarantorStanding,
    ProductTerms,
    RiskSharingOffer,
    decide,
    parse_policy,
    round_to_step,
    with_downturn,
)
from microlend.rules.policy_document import MAX_VERSION

D = Decimal

POLICY = parse_policy({
    "name": "test-policy", "version": 1,
    "bands": {
        "A": {"action": "approve", "income_multiple": "3.0", "daily_rate": "0.0002"},
        "B": {"action": "approve", "income_multiple": "2.5", "daily_rate": "0.00025"},
        "C": {"action": "approve", "income_multiple": "2.0", "daily_rate": "0.0003"},
        "D": {"action": "risk_share", "income_multiple": "1.5", "daily_rate": "0.00035", "limit_factor": "0.8"},
        "E": {"action": "reject"},
    },
    "unverified_income_factor": "0.7",
    "debt_burden": {"max_ratio": "0.5", "capacity_months": "12"},
    "prudence": {"regions": {"44": "0.8"}, "industries": {"construction": "0.5"}},
    "risk_sharing": {"insurers": {"picc": {"name": "PICC", "cover_share": "0.6"}},
                     "collateral": {"min_value_ratio": "1.25"}, "guarantor": {"enabled": True}},
    "downturn": {"on": False, "bands": {"B": {"limit_factor": "0.9"},
                                        "C": {"action": "risk_share", "limit_factor": "0.7"},
                                        "D": {"action": "reject"}}},
})
BARE = parse_policy({**POLICY.to_document(), "risk_sharing": {}})  # accepts no risk sharing at all
TERMS = ProductTerms(line_min=D("500"), line_max=D("200000"), line_step=D("100"), daily_rate_min=D("0.0002"),
                     daily_rate_max=D("0.0005"), daily_rate_cap=D("0.00065"))
GOOD_GUARANTOR = GuarantorStanding(customer_id=7, exists=True, active=True, overdue=False, paused=False,
                                   is_applicant=False)


def run(band="A", *, policy=POLICY, declared="10000", verified="10000", debt=None, region=None, industry=None,
        product=TERMS, risk_sharing=None, guarantor=None, score=700):
    return decide(policy, band=band, score=score, declared_income=D(declared),
                  verified_income=None if verified is None else D(verified),
                  debt_monthly=None if debt is None else D(debt), region=region, industry=industry,
                  product=product, risk_sharing=risk_sharing, guarantor=guarantor)


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


def step(decision, name):
    matches = [s for s in decision.steps if s.name == name]
    assert len(matches) == 1, [s.name for s in decision.steps]
    return matches[0]


# --- limits -------------------------------------------------------------------------------------------------------

def test_verified_income_uses_the_lower_of_declared_and_verified():
    # income min(10000, 9000) = 9000; 9000 x 3 = 27000; room 9000 x 0.5 - 500 = 4000, x 12 = 48000
    decision = run(declared="10000", verified="9000", debt="500")
    assert (decision.action, decision.limit, decision.daily_rate) == ("approve", D("27000.00"), D("0.0002"))
    assert decision.reasons == ()
    income = step(decision, "income")
    assert income.outcome == "verified" and income.detail["income"] == D("9000")
    assert step(decision, "debt_burden").detail["capacity"] == D("48000")
    assert step(decision, "limit").outcome == "ok"


def test_unverified_income_counts_at_the_policy_factor():
    # 10000 x 0.7 = 7000; 7000 x 3 = 21000; room 3500 x 12 = 42000
    decision = run(verified=None)
    assert decision.limit == D("21000.00")
    income = step(decision, "income")
    assert income.outcome == "unverified" and income.detail["unverified_income_factor"] == D("0.7")


def test_debt_burden_caps_the_limit():
    # by income 10000 x 3 = 30000; room 10000 x 0.5 - 4000 = 1000, x 12 = 12000
    decision = run(debt="4000")
    assert decision.limit == D("12000.00")
    detail = step(decision, "limit").detail
    assert (detail["by_income"], detail["by_debt_burden"]) == (D("30000"), D("12000"))


def test_debts_above_the_burden_leave_no_room_and_no_limit():
    decision = run(debt="6000")  # 5000 - 6000 < 0: no room
    assert step(decision, "debt_burden").outcome == "no_room"
    assert decision.action == "reject" and codes(decision) == ["limit_below_minimum"]
    assert decision.limit is None and decision.daily_rate is None


def test_limit_rounds_down_to_the_step():
    # band C: 6172.835 x 2 = 12345.67 -> 12300 (never up to 12400)
    decision = run("C", declared="7000", verified="6172.835")
    assert decision.limit == D("12300.00")
    detail = step(decision, "limit").detail
    assert (detail["raw"], detail["rounding"], detail["limit"]) == (D("12345.670"), "ROUND_DOWN", D("12300.00"))


def test_limit_above_the_maximum_is_clamped_to_the_largest_whole_step():
    decision = run(declared="1000000", verified="1000000")
    assert decision.limit == D("200000.00") and step(decision, "limit").outcome == "clamped_to_max"
    odd = ProductTerms(line_min=D("500"), line_max=D("200050"), line_step=D("100"), daily_rate_min=D("0.0002"),
                       daily_rate_max=D("0.0005"), daily_rate_cap=D("0.00065"))
    assert run(declared="1000000", verified="1000000", product=odd).limit == D("200000.00")
    assert run(declared="1E+30", verified="1E+30").limit == D("200000.00")  # no overflow on absurd incomes


def test_limit_below_the_minimum_is_refused_with_both_languages():
    decision = run(declared="150", verified="150")  # 150 x 3 = 450 -> 400 < 500
    assert decision.action == "reject" and codes(decision) == ["limit_below_minimum"]
    reason = decision.reasons[0]
    assert "400.00" in reason.en and "500" in reason.en
    assert "400.00" in reason.zh and "最低额度" in reason.zh
    assert step(decision, "limit").outcome == "below_minimum"


def test_prudence_factors_for_region_and_industry_multiply():
    # 30000 x 0.8 (region 44) x 0.5 (construction) = 12000; industry compared in lower case
    decision = run(region="44", industry="  Construction ")
    assert decision.limit == D("12000.00")
    prudence = step(decision, "prudence")
    assert prudence.outcome == "applied"
    assert prudence.detail == {"region": "44", "region_factor": D("0.8"), "industry": "construction",
                               "industry_factor": D("0.5")}
    plain = run(region="11", industry="retail")
    assert plain.limit == D("30000.00") and step(plain, "prudence").outcome == "none"


def test_band_limit_factor_applies():
    # band D with insurance: 10000 x 1.5 = 15000 x 0.8 = 12000
    decision = run("D", risk_sharing=RiskSharingOffer(kind="insurance", insurer="picc"))
    assert decision.limit == D("12000.00")


def test_round_to_step():
    assert round_to_step(D("12399.99"), D("100")) == D("12300.00")
    assert round_to_step(D("12400"), D("100")) == D("12400.00")
    assert round_to_step(D("0"), D("100")) == D("0.00")
    assert round_to_step(D("1234.567"), D("0.5")) == D("1234.50")


# --- rates ----------------------------------------------------------------------------------------------------------

def test_band_rate_within_the_product_range():
    assert run("B").daily_rate == D("0.00025")
    assert step(run("B"), "rate").outcome == "ok"


def test_rate_is_held_under_the_cap_and_the_product_maximum_rounding_down():
    low_cap = ProductTerms(line_min=D("500"), line_max=D("200000"), line_step=D("100"), daily_rate_min=D("0.0002"),
                           daily_rate_max=D("0.0005"), daily_rate_cap=D("0.000222229999"))
    decision = run("C", product=low_cap)
    assert decision.daily_rate == D("0.00022222")  # 8 places, rounded down: never above the cap
    low_max = ProductTerms(line_min=D("500"), line_max=D("200000"), line_step=D("100"), daily_rate_min=D("0.0002"),
                           daily_rate_max=D("0.00028"), daily_rate_cap=D("0.00065"))
    assert run("C", product=low_max).daily_rate == D("0.00028")


def test_band_rate_below_the_product_floor_is_lifted_to_it():
    floor = ProductTerms(line_min=D("500"), line_max=D("200000"), line_step=D("100"), daily_rate_min=D("0.00025"),
                         daily_rate_max=D("0.0005"), daily_rate_cap=D("0.00065"))
    assert run("A", product=floor).daily_rate == D("0.00025")


def test_cap_below_the_product_floor_is_refused():
    capped = ProductTerms(line_min=D("500"), line_max=D("200000"), line_step=D("100"), daily_rate_min=D("0.0002"),
                          daily_rate_max=D("0.0005"), daily_rate_cap=D("0.00019"))
    decision = run("A", product=capped)
    assert decision.action == "reject" and codes(decision) == ["price_above_cap"]
    assert step(decision, "rate").outcome == "price_above_cap"
    assert "0.0002" in decision.reasons[0].en and "0.0002" in decision.reasons[0].zh


def test_every_refusal_is_reported_together():
    capped = ProductTerms(line_min=D("500"), line_max=D("200000"), line_step=D("100"), daily_rate_min=D("0.0002"),
                          daily_rate_max=D("0.0005"), daily_rate_cap=D("0.00019"))
    decision = run("D", declared="100", verified="100", product=capped)
    assert codes(decision) == ["limit_below_minimum", "price_above_cap", "risk_sharing_required"]


# --- bands, review, downturn ---------------------------------------------------------------------------------------

def test_no_band_is_a_review():
    decision = run(None, score=None)
    assert (decision.action, decision.limit, decision.daily_rate) == ("review", None, None)
    assert codes(decision) == ["no_score"] and [s.name for s in decision.steps] == ["band"]


def test_band_not_in_policy_is_a_review():
    decision = run("Z")
    assert decision.action == "review" and codes(decision) == ["band_not_in_policy"]
    assert "Z" in decision.reasons[0].en and "test-policy@1" in decision.reasons[0].zh


def test_rejecting_band_is_below_the_cutoff():
    decision = run("E")
    assert decision.action == "reject" and codes(decision) == ["band_below_cutoff"]
    assert [s.name for s in decision.steps] == ["band", "downturn", "cutoff"]


def test_downturn_overrides_apply_only_when_on():
    on = with_downturn(POLICY, True)
    assert run("B").limit == D("25000.00")  # 10000 x 2.5
    decision = run("B", policy=on)
    assert decision.limit == D("22500.00")  # x 0.9
    downturn = step(decision, "downturn")
    assert downturn.outcome == "applied"
    assert (downturn.detail["before"]["limit_factor"], downturn.detail["after"]["limit_factor"]) == (D(1), D("0.9"))
    assert step(run("B"), "downturn").outcome == "off"
    assert step(run("A", policy=on), "downturn").outcome == "no_override"
    assert run("A", policy=on).limit == D("30000.00")
    # C becomes marginal: risk sharing needed, and the limit shrinks to 10000 x 2 x 0.7 = 14000
    assert codes(run("C", policy=on)) == ["risk_sharing_required"]
    insured = run("C", policy=on, risk_sharing=RiskSharingOffer(kind="insurance", insurer="picc"))
    assert (insured.action, insured.limit) == ("approve", D("14000.00"))
    assert codes(run("D", policy=on)) == ["band_below_cutoff"]


# --- risk sharing ---------------------------------------------------------------------------------------------------

def test_marginal_band_without_an_offer_is_refused():
    decision = run("D")
    assert decision.action == "reject" and codes(decision) == ["risk_sharing_required"]
    assert "D" in decision.reasons[0].en and "担保人" in decision.reasons[0].zh


def test_insurance_with_a_configured_insurer_is_approved_with_its_cover():
    decision = run("D", risk_sharing=RiskSharingOffer(kind="insurance", insurer="picc", policy_number="P-1"))
    assert (decision.action, decision.limit, decision.daily_rate) == ("approve", D("12000.00"), D("0.00035"))
    assert decision.risk_sharing == {"kind": "insurance", "insurer": "picc", "insurer_name": "PICC",
                                     "cover_share": D("0.6"), "policy_number": "P-1"}
    assert step(decision, "risk_sharing").outcome == "accepted"


@pytest.mark.parametrize("insurer", ["pingan", None])
def test_insurance_with_an_unknown_insurer_is_refused(insurer):
    decision = run("D", risk_sharing=RiskSharingOffer(kind="insurance", insurer=insurer))
    assert decision.action == "reject" and codes(decision) == ["insurer_not_configured"]
    assert decision.risk_sharing is None


def test_collateral_caps_the_limit_at_its_value_over_the_ratio():
    # base 12000; 10050 / 1.25 = 8040 -> 8000
    offer = RiskSharingOffer(kind="collateral", collateral_kind="vehicle", collateral_value=D("10050"),
                             collateral_description="2019 sedan")
    decision = run("D", risk_sharing=offer)
    assert (decision.action, decision.limit) == ("approve", D("8000.00"))
    assert decision.risk_sharing["limit_cap"] == D("8000.00")
    assert decision.risk_sharing["collateral_value"] == D("10050")
    assert decision.risk_sharing["collateral_kind"] == "vehicle"
    # collateral worth more than the limit does not raise it
    rich = RiskSharingOffer(kind="collateral", collateral_kind="property", collateral_value=D("1000000"))
    assert run("D", risk_sharing=rich).limit == D("12000.00")


def test_collateral_cap_is_clamped_to_the_maximum_before_rounding():
    # review 5: ratio 1e-30 once loaded and 50000 / 1e-30 = 5E+34 crashed the quantize. The ratio is now at least
    # 0.1; at the extremes (collateral just under 1e13 over 0.1, a line maximum just under 1e16) nothing raises.
    low = parse_policy({**POLICY.to_document(), "risk_sharing": {"collateral": {"min_value_ratio": "0.1"}}})
    wide = ProductTerms(line_min=D("500"), line_max=D("9999999999999999.99"), line_step=D("0.01"),
                        daily_rate_min=D("0.0002"), daily_rate_max=D("0.0005"), daily_rate_cap=D("0.00065"))
    offer = RiskSharingOffer(kind="collateral", collateral_value=D("9999999999999.99"))
    decision = run("D", policy=low, product=wide, risk_sharing=offer, declared="10000000", verified="10000000")
    assert decision.action == "approve" and decision.limit == D("12000000.00")  # 1e7 x 1.5 x 0.8
    assert decision.risk_sharing["limit_cap"] == D("99999999999999.90")  # value / 0.1, within line_max
    capped = run("D", policy=low, risk_sharing=offer)
    assert capped.risk_sharing["limit_cap"] == D("200000.00") and capped.limit == D("12000.00")
    # 9E+30 / 0.1 = 9E+31 has 34 digits in fen: it would not quantize, so it is capped at line_max first
    absurd = run("D", policy=low, risk_sharing=RiskSharingOffer(kind="collateral", collateral_value=D("9E+30")))
    assert absurd.risk_sharing["limit_cap"] == D("200000.00") and absurd.limit == D("12000.00")
    small = run("D", policy=low, risk_sharing=RiskSharingOffer(kind="collateral", collateral_value=D("57.5")))
    assert (small.action, small.limit) == ("approve", D("500.00"))  # 57.5 / 0.1 = 575 -> 500


@pytest.mark.parametrize("value", ["600", "0", None])
def test_collateral_worth_less_than_the_minimum_is_refused(value):
    offer = RiskSharingOffer(kind="collateral", collateral_value=None if value is None else D(value))
    decision = run("D", risk_sharing=offer)  # 600 / 1.25 = 480 -> 400 < 500
    assert decision.action == "reject" and codes(decision) == ["collateral_insufficient"]


def test_guarantor_in_good_standing_who_accepted_is_approved():
    offer = RiskSharingOffer(kind="guarantor", guarantor_customer_id=7, guarantor_accepted=True)
    decision = run("D", risk_sharing=offer, guarantor=GOOD_GUARANTOR)
    assert (decision.action, decision.limit) == ("approve", D("12000.00"))
    assert decision.risk_sharing == {"kind": "guarantor", "guarantor_customer_id": 7, "guarantor_accepted": True}


@pytest.mark.parametrize("accepted", [None, False])
def test_guarantor_who_has_not_accepted_is_awaited(accepted):
    offer = RiskSharingOffer(kind="guarantor", guarantor_customer_id=7, guarantor_accepted=accepted)
    decision = run("D", risk_sharing=offer, guarantor=GOOD_GUARANTOR)
    assert (decision.action, decision.limit, decision.daily_rate) == ("awaiting_guarantor", D("12000.00"),
                                                                      D("0.00035"))
    assert codes(decision) == ["guarantor_acceptance_pending"]
    assert decision.risk_sharing["guarantor_customer_id"] == 7


@pytest.mark.parametrize("standing", [
    None,
    GuarantorStanding(customer_id=7, exists=False, active=False, overdue=False, paused=False, is_applicant=False),
    GuarantorStanding(customer_id=7, exists=True, active=False, overdue=False, paused=False, is_applicant=False),
    GuarantorStanding(customer_id=7, exists=True, active=True, overdue=True, paused=False, is_applicant=False),
    GuarantorStanding(customer_id=7, exists=True, active=True, overdue=False, paused=True, is_applicant=False),
    GuarantorStanding(customer_id=7, exists=True, active=True, overdue=False, paused=False, is_applicant=True),
    GuarantorStanding(customer_id=8, exists=True, active=True, overdue=False, paused=False, is_applicant=False),
])
def test_guarantor_not_in_good_standing_is_refused(standing):
    offer = RiskSharingOffer(kind="guarantor", guarantor_customer_id=7, guarantor_accepted=True)
    decision = run("D", risk_sharing=offer, guarantor=standing)
    assert decision.action == "reject" and codes(decision) == ["guarantor_not_in_good_standing"]


def test_guarantor_standing_good():
    assert GOOD_GUARANTOR.good
    assert not GuarantorStanding(customer_id=7, exists=True, active=True, overdue=True, paused=False,
                                 is_applicant=False).good


@pytest.mark.parametrize(("offer", "kind_zh"), [
    (RiskSharingOffer(kind="collateral", collateral_value=D("50000")), "抵押物"),
    (RiskSharingOffer(kind="guarantor", guarantor_customer_id=7, guarantor_accepted=True), "担保人"),
])
def test_risk_sharing_the_policy_does_not_accept_is_refused(offer, kind_zh):
    decision = run("D", policy=BARE, risk_sharing=offer, guarantor=GOOD_GUARANTOR)
    assert decision.action == "reject" and codes(decision) == ["risk_sharing_not_accepted"]
    assert kind_zh in decision.reasons[0].zh
    insured = run("D", policy=BARE, risk_sharing=RiskSharingOffer(kind="insurance", insurer="picc"))
    assert codes(insured) == ["insurer_not_configured"]


def test_risk_sharing_on_a_band_that_does_not_need_it_is_ignored():
    decision = run("A", risk_sharing=RiskSharingOffer(kind="insurance", insurer="nobody"))
    assert (decision.action, decision.limit, decision.risk_sharing) == ("approve", D("30000.00"), None)
    ignored = step(decision, "risk_sharing")
    assert ignored.outcome == "ignored" and ignored.detail == {"band_action": "approve", "kind": "insurance"}


# --- shape and inputs ---------------------------------------------------------------------------------------------

def test_to_dict_is_json_ready_with_decimals_as_strings():
    offer = RiskSharingOffer(kind="insurance", insurer="picc")
    data = run("D", risk_sharing=offer, verified=None).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert (data["action"], data["limit"], data["daily_rate"]) == ("approve", "8400.00", "0.00035000")
    assert data["risk_sharing"]["cover_share"] == "0.6"
    assert data["band"] == "D" and data["policy"] == "test-policy@1"
    assert [s["name"] for s in data["steps"]] == ["band", "downturn", "cutoff", "income", "debt_burden", "prudence",
                                                  "limit", "rate", "risk_sharing"]
    refused = run("E").to_dict()
    assert refused["reasons"][0]["code"] == "band_below_cutoff" and refused["limit"] is None


def test_every_reason_has_english_and_chinese_text():
    for code, (en, zh) in REASONS.items():
        assert en and zh and en != zh, code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code


def test_inputs_must_be_decimal():
    with pytest.raises(TypeError):
        decide(POLICY, band="A", score=1, declared_income=10000.0, verified_income=None, debt_monthly=None,
               region=None, industry=None, product=TERMS)
    with pytest.raises(ValidationError) as info:
        run(declared="-1")
    assert info.value.field == "declared_income"
    with pytest.raises(TypeError):
        ProductTerms(line_min=500.0, line_max=D("1000"), line_step=D("100"), daily_rate_min=D("0"),
                     daily_rate_max=D("0.001"), daily_rate_cap=D("0.001"))
    with pytest.raises(ValidationError):
        ProductTerms(line_min=D("500"), line_max=D("1000"), line_step=D("0"), daily_rate_min=D("0"),
                     daily_rate_max=D("0.001"), daily_rate_cap=D("0.001"))
    with pytest.raises(ValidationError) as info:
        RiskSharingOffer(kind="pledge")
    assert info.value.field == "risk_sharing.kind"
    with pytest.raises(TypeError):
        RiskSharingOffer(kind="collateral", collateral_value=1000.0)
    with pytest.raises(ValidationError) as info:  # absurd, but refused rather than left to overflow
        run(declared="1E+31")
    assert info.value.field == "declared_income"
    with pytest.raises(ValidationError) as info:
        RiskSharingOffer(kind="collateral", collateral_value=D("1E+999999"))
    assert info.value.field == "risk_sharing.collateral_value"


@pytest.mark.parametrize(("changes", "field"), [
    ({"line_max": D("1E+16")}, "line_max"),
    ({"line_max": D("1E+30")}, "line_max"),
    ({"line_step": D("0.001")}, "line_step"),
    ({"line_step": D("1E-999990")}, "line_step"),
    ({"line_min": D("500.005")}, "line_min"),
    ({"daily_rate_max": D("1")}, "daily_rate_max"),
    ({"daily_rate_min": D("1E+25"), "daily_rate_max": D("1E+25")}, "daily_rate_min"),
])
def test_product_terms_are_bounded_so_rounding_cannot_overflow(changes, field):
    values = {"line_min": D("500"), "line_max": D("200000"), "line_step": D("100"), "daily_rate_min": D("0.0002"),
              "daily_rate_max": D("0.0005"), "daily_rate_cap": D("0.00065"), **changes}
    with pytest.raises(ValidationError) as info:
        ProductTerms(**values)
    assert (info.value.code, info.value.field) == ("invalid_product", field)


def test_product_terms_from_a_product():
    terms = ProductTerms.from_product(REFERENCE_PRODUCT, daily_rate_cap=D("0.00065"))
    assert (terms.line_min, terms.line_max, terms.line_step) == (D("500"), D("200000"), D("100"))
    assert (terms.daily_rate_min, terms.daily_rate_max, terms.daily_rate_cap) == (D("0.0002"), D("0.0005"),
                                                                                 D("0.00065"))


# --- invariants -----------------------------------------------------------------------------------------------------

def _amounts(high: int):
    fen = st.one_of(st.integers(min_value=0, max_value=high * 100), st.integers(min_value=high, max_value=high * 100))
    return fen.map(lambda n: D(n) / 100)


@st.composite
def _terms(draw):
    step = draw(st.sampled_from([D("1"), D("50"), D("100"), D("500"), D("0.01")]))
    line_min = draw(st.integers(min_value=1, max_value=5000).map(D))
    line_max = line_min + draw(st.integers(min_value=0, max_value=300000).map(D))
    rate_min = draw(st.integers(min_value=0, max_value=5000).map(lambda n: D(n) / 10_000_000))
    rate_max = rate_min + draw(st.integers(min_value=0, max_value=5000).map(lambda n: D(n) / 10_000_000))
    # the cap has many places (it comes from an annualized-rate search); mostly above the product floor
    cap = draw(st.one_of(st.integers(min_value=0, max_value=10**12).map(lambda n: rate_min + D(n) / 10**15),
                         st.integers(min_value=0, max_value=10**12).map(lambda n: D(n) / 10**15)))
    return ProductTerms(line_min=line_min, line_max=line_max, line_step=step, daily_rate_min=rate_min,
                        daily_rate_max=rate_max, daily_rate_cap=cap)


_OFFERS = st.one_of(
    st.none(),
    st.builds(RiskSharingOffer, kind=st.just("insurance"), insurer=st.sampled_from(["picc", "other", None])),
    st.builds(RiskSharingOffer, kind=st.just("collateral"), collateral_value=st.one_of(st.none(), _amounts(400000))),
    st.builds(RiskSharingOffer, kind=st.just("guarantor"), guarantor_customer_id=st.sampled_from([7, 8, None]),
              guarantor_accepted=st.sampled_from([True, False, None])),
)
_STANDINGS = st.one_of(st.none(), st.builds(GuarantorStanding, customer_id=st.sampled_from([7, 8]),
                                            exists=st.booleans(), active=st.booleans(), overdue=st.booleans(),
                                            paused=st.booleans(), is_applicant=st.booleans()))


@settings(max_examples=400, deadline=None)
@given(band=st.sampled_from(["A", "B", "C", "D", "D", "E", "Z", None]), downturn=st.booleans(),
       declared=_amounts(500000), verified=st.one_of(st.none(), _amounts(500000)),
       debt=st.one_of(st.none(), _amounts(20000)), region=st.sampled_from([None, "44", "11"]),
       industry=st.sampled_from([None, "construction", "Retail"]), product=_terms(), offer=_OFFERS,
       standing=_STANDINGS)
def test_an_approved_limit_and_rate_always_fit_the_product(band, downturn, declared, verified, debt, region,
                                                          industry, product, offer, standing):
    policy = with_downturn(POLICY, downturn)
    decision = decide(policy, band=band, score=None, declared_income=declared, verified_income=verified,
                      debt_monthly=debt, region=region, industry=industry, product=product, risk_sharing=offer,
                      guarantor=standing)
    assert decision.action in DECISIONS
    assert all(r.en and r.zh for r in decision.reasons)
    if decision.action in ("approve", "awaiting_guarantor"):
        _assert_fits(decision, product)
        assert all(r.code == "guarantor_acceptance_pending" for r in decision.reasons)
    else:
        assert decision.limit is None and decision.daily_rate is None and decision.reasons
    json.dumps(decision.to_dict())


@settings(max_examples=300, deadline=None)
@given(band=st.sampled_from(["A", "B", "C"]), income=st.integers(min_value=2000, max_value=10**7).map(D),
       industry=st.sampled_from([None, "construction"]), product=_terms())
def test_approvals_on_the_plain_path_fit_the_product(band, income, industry, product):
    """The same invariant where nearly every draw approves (income covers any minimum, the cap allows a price)."""
    decision = decide(POLICY, band=band, score=None, declared_income=income, verified_income=income,
                      debt_monthly=None, region="44", industry=industry, product=product)
    raw_ok = (income * D("2") * D("0.8") * D("0.5") >= product.line_min + product.line_step
              and round_to_step(product.line_max, product.line_step) >= product.line_min)  # a whole step fits
    price_ok = min(product.daily_rate_max, product.daily_rate_cap).quantize(D("0.00000001"), rounding="ROUND_DOWN") \
        >= product.daily_rate_min
    if raw_ok and price_ok:
        assert decision.action == "approve"
    if decision.action == "approve":
        _assert_fits(decision, product)


def _assert_fits(decision, product: ProductTerms) -> None:
    limit, rate = decision.limit, decision.daily_rate
    assert limit % product.line_step == 0
    assert product.line_min <= limit <= product.line_max
    assert product.daily_rate_min <= rate <= min(product.daily_rate_max, product.daily_rate_cap)
    assert rate == rate.quantize(D("0.00000001"))


# --- any accepted policy document, any input in range: decide never raises -----------------------------------------

def _places_value(low: Decimal, high: Decimal, *, low_open: bool = False, high_open: bool = False,
                  places: int = 10, whole: bool = False):
    """Decimals in the range with up to ``places`` decimal places, the bounds themselves drawn often."""
    def bounds(p: int) -> tuple[int, int]:
        scale = D(10) ** p
        first = (low * scale).to_integral_value(rounding="ROUND_CEILING")
        last = (high * scale).to_integral_value(rounding="ROUND_FLOOR")
        first += 1 if low_open and first == low * scale else 0
        last -= 1 if high_open and last == high * scale else 0
        return int(first), int(last)

    def at(p: int):
        first, last = bounds(p)
        ints = st.one_of(st.integers(min_value=first, max_value=last), st.sampled_from([first, last]))
        return ints.map(lambda n: D(n) / D(10) ** p)
    feasible = [p for p in ([0] if whole else range(places + 1)) if bounds(p)[0] <= bounds(p)[1]]
    return st.sampled_from(feasible).flatmap(at)


@st.composite
def _spelled(draw, value_strategy):
    """The number as a document may spell it: plain, with trailing zeros, in E notation, or as a Decimal/int."""
    value = draw(value_strategy)
    text = format(value, "f")
    how = draw(st.sampled_from(["plain", "zeros", "sci", "decimal", "int"]))
    if how == "zeros":
        return text + ("000" if "." in text else ".000")
    if how == "sci":
        return format(value, "E")
    if how == "decimal":
        return value
    if how == "int" and value == value.to_integral_value():
        return int(value)
    return text


def _num(*args, **kwargs):
    return _spelled(_places_value(*args, **kwargs))


_ZERO, _ONE_D = D(0), D(1)
_FACTOR = _num(_ZERO, _ONE_D)
_TEXT_CHARS = st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S"), include_characters=" ")
_PRINTABLE = st.text(_TEXT_CHARS, min_size=1, max_size=80).filter(lambda t: t.isprintable() and t.strip())


@st.composite
def _band_fields(draw, *, override: bool):
    fields = {}
    keys = ["action", "income_multiple", "daily_rate", "limit_factor"]
    wanted = draw(st.sets(st.sampled_from(keys))) if override else set(keys)
    if "action" in wanted:
        fields["action"] = draw(st.sampled_from(BAND_ACTIONS))
    if "income_multiple" in wanted and draw(st.booleans() if override else st.just(True)):
        fields["income_multiple"] = draw(_num(_ZERO, D(100), low_open=True))
    if "daily_rate" in wanted:
        fields["daily_rate"] = draw(_num(_ZERO, D("0.01"), low_open=True, high_open=True))
    if "limit_factor" in wanted and draw(st.booleans()):
        fields["limit_factor"] = draw(_FACTOR)
    return fields


@st.composite
def _documents(draw):
    band_names = draw(st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,15}", fullmatch=True), min_size=1,
                               max_size=5, unique=True))
    bands = {name: draw(_band_fields(override=False)) for name in band_names}
    overrides = {}
    for name in draw(st.lists(st.sampled_from(band_names), unique=True)):
        fields = draw(_band_fields(override=True))
        if fields.get("action", bands[name]["action"]) != "reject":  # an overridden band must stay whole
            for key in ("income_multiple", "daily_rate"):
                fields.setdefault(key, bands[name][key])
        overrides[name] = fields
    industries = draw(st.dictionaries(st.sampled_from(["construction", "Retail", " Mining ", "餐饮", "x" * 40]),
                                      _FACTOR, max_size=3))
    insurers = draw(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_-]{0,31}", fullmatch=True),
                                    st.fixed_dictionaries({"name": _PRINTABLE,
                                                           "cover_share": _num(_ZERO, _ONE_D, low_open=True,
                                                                               places=4)}), max_size=2))
    sharing = {"insurers": insurers, "guarantor": {"enabled": draw(st.booleans())}}
    if draw(st.booleans()):
        sharing["collateral"] = {"min_value_ratio": draw(_num(D("0.1"), D(10)))}
    return {
        "name": draw(_PRINTABLE), "version": draw(st.integers(min_value=1, max_value=MAX_VERSION)),
        "description": draw(st.text(_TEXT_CHARS | st.sampled_from("\n\t"), max_size=50)),
        "bands": bands,
        "unverified_income_factor": draw(_FACTOR),
        "debt_burden": {"max_ratio": draw(_num(_ZERO, _ONE_D, low_open=True)),
                        "capacity_months": draw(_num(_ZERO, D(360), low_open=True, whole=True))},
        "prudence": {"regions": draw(st.dictionaries(st.sampled_from(["11", "44", "65"]), _FACTOR, max_size=2)),
                     "industries": industries},
        "risk_sharing": sharing,
        "downturn": {"on": draw(st.booleans()), "bands": overrides},
    }


@st.composite
def _wide_terms(draw):
    """Product terms anywhere a product can be stored: limits in whole fen up to just under 1e16."""
    step = draw(st.sampled_from([D("0.01"), D("1"), D("100"), D("10000")]))
    line_min = draw(st.integers(min_value=1, max_value=10**8).map(lambda n: D(n) / 100))
    line_max = draw(st.one_of(st.integers(min_value=0, max_value=10**17),
                              st.just(10**18 - 1)).map(lambda n: max(line_min, D(n) / 100)))
    line_max = min(line_max, D("9999999999999999.99"))
    rate_min = draw(st.integers(min_value=0, max_value=99).map(lambda n: D(n) / 10_000))
    rate_max = rate_min + draw(st.integers(min_value=0, max_value=99).map(lambda n: D(n) / 10_000))
    cap = draw(st.sampled_from([D(0), rate_min, rate_max, D("1E+30"), D("0.000649999999999999999999999999")]))
    return ProductTerms(line_min=line_min, line_max=line_max, line_step=step, daily_rate_min=rate_min,
                        daily_rate_max=rate_max, daily_rate_cap=cap)


_INCOMES = st.one_of(st.integers(min_value=0, max_value=10**9), st.sampled_from([0, 1, 10**9])).map(
    lambda n: D(n) / 100)  # 0 to 10,000,000 in fen
_BIG = st.one_of(st.integers(min_value=0, max_value=10**15 - 1), st.just(10**15 - 1)).map(
    lambda n: D(n) / 100)  # 0 to just under 1e13 in fen


@settings(max_examples=200, deadline=None)
@given(document=_documents(), data=st.data())
def test_decide_never_raises_for_any_accepted_document(document, data):
    """Review 5: a policy that loads must never crash a decision. Any document within the bounds parses, and
    every decision on it, for any input in range, finishes with the limit and rate inside the product."""
    policy = parse_policy(document)
    assert parse_policy(policy.to_document()) == policy
    assert len(policy.fingerprint) == 64 and len(policy.name) <= 80  # storable: UTF-8, fits String(80)
    band = data.draw(st.sampled_from([*policy.bands, "Z", None]), label="band")
    product = data.draw(st.one_of(_terms(), _wide_terms()), label="product")
    insurers = [*policy.risk_sharing.insurers, "other", None]
    offer = data.draw(st.one_of(
        st.none(),
        st.builds(RiskSharingOffer, kind=st.just("insurance"), insurer=st.sampled_from(insurers)),
        st.builds(RiskSharingOffer, kind=st.just("collateral"), collateral_value=st.one_of(st.none(), _BIG)),
        st.builds(RiskSharingOffer, kind=st.just("guarantor"), guarantor_customer_id=st.sampled_from([7, 8]),
                  guarantor_accepted=st.sampled_from([True, False, None]))), label="offer")
    industry = data.draw(st.sampled_from([None, "retail", " CONSTRUCTION ", *policy.prudence.industries]),
                         label="industry")
    with localcontext() as ctx:  # the default traps (InvalidOperation, Overflow, ...) and no float mixed in
        ctx.traps[FloatOperation] = True
        decision = decide(policy, band=band, score=None, declared_income=data.draw(_INCOMES, label="declared"),
                          verified_income=data.draw(st.one_of(st.none(), _INCOMES), label="verified"),
                          debt_monthly=data.draw(st.one_of(st.none(), _BIG), label="debt"),
                          region=data.draw(st.sampled_from([None, "11", "44", "65"]), label="region"),
                          industry=industry, product=product, risk_sharing=offer,
                          guarantor=data.draw(_STANDINGS, label="guarantor"))
    assert decision.action in DECISIONS
    if decision.action in ("approve", "awaiting_guarantor"):
        _assert_fits(decision, product)
    else:
        assert decision.limit is None and decision.daily_rate is None and decision.reasons
    text = json.dumps(decision.to_dict(), ensure_ascii=False)
    text.encode("utf-8")
    assert len(text) < 100_000  # no number is spelled out as a huge run of zeros
