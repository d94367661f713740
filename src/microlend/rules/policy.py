"""The credit policy decision: from a score band and the applicant's money to a limit and a price.

Pure domain, no I/O: the service gathers the facts (band, incomes, debts, the
product's terms, a guarantor's standing) and stores what comes back. Every step
records its inputs and result and every refusal carries a reason in English and
Chinese, so a decision can be explained to the borrower and to an auditor.
Parsing and validating the policy document lives in ``policy_document``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from microlend.errors import ValidationError
from microlend.money import FEN
from microlend.rules.policy_document import (
    BAND_ACTIONS,
    Band,
    Policy,
    default_policy,
    parse_policy,
    with_downturn,
)

if TYPE_CHECKING:
    from microlend.lending.products import LoanProduct

__all__ = ["BAND_ACTIONS", "DECISIONS", "LIMIT_ROUNDING", "RATE_QUANTUM", "RATE_ROUNDING", "REASONS",
           "RISK_SHARING_KINDS", "GuarantorStanding", "Policy", "PolicyDecision", "PolicyStep", "ProductTerms",
           "Reason", "RiskSharingOffer", "decide", "default_policy", "parse_policy", "round_to_step", "with_downturn"]

#: What the policy can decide.
DECISIONS = ("approve", "awaiting_guarantor", "review", "reject")
RISK_SHARING_KINDS = ("guarantor", "collateral", "insurance")
#: Limits round down to the product's step: a limit never exceeds what income and debts support.
LIMIT_ROUNDING = ROUND_DOWN
#: Daily rates round down to 8 places: rounding never lifts a rate above the cap.
RATE_ROUNDING = ROUND_DOWN
RATE_QUANTUM = Decimal("0.00000001")

#: code -> (English, Chinese); placeholders are filled from the decision's numbers.
REASONS: dict[str, tuple[str, str]] = {
    "no_score": ("No score band is available, so the application needs a manual review",
                 "无可用评分等级，需人工审核"),
    "band_not_in_policy": ("Score band {band} is not in policy {policy}, so the application needs a manual review",
                           "评分等级 {band} 不在授信政策 {policy} 中，需人工审核"),
    "band_below_cutoff": ("Score band {band} is below the approval cut-off of policy {policy}",
                          "评分等级 {band} 低于授信政策 {policy} 的准入标准"),
    "limit_below_minimum": ("The limit that income and debts support, {limit}, is below the product minimum of "
                            "{line_min}", "收入与负债可支持的额度 {limit} 低于产品最低额度 {line_min}"),
    "price_above_cap": ("No daily rate of at least {daily_rate_min} is within the product maximum and the "
                        "annualized-rate cap", "在产品最高利率与年化利率上限内，无法给出不低于 {daily_rate_min} 的日利率"),
    "risk_sharing_required": ("Score band {band} is approved only with a guarantor, collateral or credit insurance",
                              "评分等级 {band} 须提供担保人、抵押物或信用保证保险方可获批"),
    "risk_sharing_not_accepted": ("Policy {policy} does not accept {kind} as risk sharing",
                                  "授信政策 {policy} 不接受{kind_zh}作为风险分担方式"),
    "insurer_not_configured": ("Insurer {insurer} is not one that policy {policy} accepts",
                               "保险机构 {insurer} 不在授信政策 {policy} 认可的名单中"),
    "collateral_insufficient": ("Collateral worth {value} supports a limit of {cap}, below the product minimum of "
                                "{line_min}", "抵押物价值 {value} 仅可支持额度 {cap}，低于产品最低额度 {line_min}"),
    "guarantor_not_in_good_standing": ("The guarantor is not a customer in good standing",
                                       "担保人不是信用状况良好的客户"),
    "guarantor_acceptance_pending": ("The guarantor has not yet accepted the guarantee", "担保人尚未确认担保"),
}
_KIND_ZH = {"guarantor": "担保人", "collateral": "抵押物", "insurance": "信用保证保险"}


#: No input reaches 1e31 (amounts are stored below 1e16): with the policy's bounded numbers, no product of an
#: input and the policy can then overflow the Decimal context.
_INPUT_LIMIT = Decimal("1e31")
#: Product limits are stored as NUMERIC(18, 2): below this, a limit quantized to the fen always fits the context.
_LINE_LIMIT = Decimal("1e16")


def _decimal_input(value: Any, name: str, *, allow_none: bool = False) -> Decimal | None:
    """Inputs are Decimal (or int): floats cannot hold a fen exactly, so they are refused like in ``money.D``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite() or number < 0 or number >= _INPUT_LIMIT:
        raise ValidationError(f"{name} must be a finite amount from 0 to below {_INPUT_LIMIT}, not {value}",
                              code="invalid_input", field=name)
    return number


@dataclass(frozen=True)
class ProductTerms:
    """The product numbers the policy must respect; ``daily_rate_cap`` is the highest daily rate whose
    annualized rate stays within the cap (computed by the service from the product's dearest price)."""

    line_min: Decimal
    line_max: Decimal
    line_step: Decimal
    daily_rate_min: Decimal
    daily_rate_max: Decimal
    daily_rate_cap: Decimal

    def __post_init__(self) -> None:
        for name in ("line_min", "line_max", "line_step", "daily_rate_min", "daily_rate_max", "daily_rate_cap"):
            object.__setattr__(self, name, _decimal_input(getattr(self, name), name))
        if self.line_step <= 0 or self.line_min > self.line_max:
            raise ValidationError("product terms need line_step > 0 and line_min <= line_max",
                                  code="invalid_product", field="line_step")
        for name in ("line_min", "line_max", "line_step"):  # whole fen below 1e16, as products are stored
            amount = getattr(self, name)
            if amount >= _LINE_LIMIT or amount != amount.quantize(FEN, rounding=LIMIT_ROUNDING):
                raise ValidationError(f"{name} must be an amount in whole fen below {_LINE_LIMIT}, not {amount}",
                                      code="invalid_product", field=name)
        for name in ("daily_rate_min", "daily_rate_max"):  # a daily rate of 100 % is no product's
            if getattr(self, name) >= 1:
                raise ValidationError(f"{name} must be below 1, not {getattr(self, name)}", code="invalid_product",
                                      field=name)

    @classmethod
    def from_product(cls, product: LoanProduct, *, daily_rate_cap: Decimal) -> ProductTerms:
        return cls(line_min=product.line_min, line_max=product.line_max, line_step=product.line_step,
                   daily_rate_min=product.daily_rate_min, daily_rate_max=product.daily_rate_max,
                   daily_rate_cap=daily_rate_cap)


@dataclass(frozen=True)
class RiskSharingOffer:
    """What the applicant offers to make a marginal band acceptable."""

    kind: str
    guarantor_customer_id: int | None = None
    guarantor_accepted: bool | None = None
    collateral_kind: str | None = None
    collateral_value: Decimal | None = None
    collateral_description: str | None = None
    insurer: str | None = None
    policy_number: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in RISK_SHARING_KINDS:
            raise ValidationError(f"unknown risk sharing kind {self.kind!r}; known: {', '.join(RISK_SHARING_KINDS)}",
                                  code="invalid_input", field="risk_sharing.kind")
        object.__setattr__(self, "collateral_value", _decimal_input(self.collateral_value,
                                                                    "risk_sharing.collateral_value", allow_none=True))


@dataclass(frozen=True)
class GuarantorStanding:
    """What the service found out about the proposed guarantor."""

    customer_id: int
    exists: bool
    active: bool
    overdue: bool
    paused: bool
    is_applicant: bool

    @property
    def good(self) -> bool:
        """An existing, active customer, not overdue, not paused, and not the applicant guaranteeing themself."""
        return self.exists and self.active and not self.overdue and not self.paused and not self.is_applicant


@dataclass(frozen=True)
class PolicyStep:
    name: str
    outcome: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Reason:
    code: str
    en: str
    zh: str


@dataclass(frozen=True)
class PolicyDecision:
    action: str
    limit: Decimal | None
    daily_rate: Decimal | None
    risk_sharing: Mapping[str, Any] | None
    steps: tuple[PolicyStep, ...]
    reasons: tuple[Reason, ...]
    band: str | None = None
    policy: str | None = None  # name@version

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as plain strings."""
        return _jsonable({
            "action": self.action, "limit": self.limit, "daily_rate": self.daily_rate,
            "risk_sharing": self.risk_sharing, "band": self.band, "policy": self.policy,
            "steps": [{"name": s.name, "outcome": s.outcome, "detail": s.detail} for s in self.steps],
            "reasons": [{"code": r.code, "en": r.en, "zh": r.zh} for r in self.reasons],
        })


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _fmt(value: Any) -> Any:
    return format(value, "f") if isinstance(value, Decimal) else value


def round_to_step(amount: Decimal, step: Decimal) -> Decimal:
    """``amount`` rounded down (``LIMIT_ROUNDING``) to a whole number of ``step``, in whole fen."""
    return ((amount / step).to_integral_value(rounding=LIMIT_ROUNDING) * step).quantize(FEN, rounding=LIMIT_ROUNDING)


@dataclass
class _Trail:
    """The steps and reasons of one decision as it is made."""

    policy: Policy
    band: str | None
    steps: list[PolicyStep] = field(default_factory=list)
    rejects: list[Reason] = field(default_factory=list)
    others: list[Reason] = field(default_factory=list)

    def step(self, name: str, outcome: str, **detail: Any) -> None:
        self.steps.append(PolicyStep(name, outcome, detail))

    def reason(self, code: str, *, reject: bool = True, **values: Any) -> None:
        values = {"band": self.band, "policy": self.policy.label, **{k: _fmt(v) for k, v in values.items()}}
        en, zh = REASONS[code]
        (self.rejects if reject else self.others).append(Reason(code, en.format(**values), zh.format(**values)))

    def finish(self, action: str, limit: Decimal | None = None, rate: Decimal | None = None,
               sharing: Mapping[str, Any] | None = None) -> PolicyDecision:
        if self.rejects:
            action, limit, rate, sharing = "reject", None, None, None
        reasons = self.rejects if self.rejects else self.others
        return PolicyDecision(action, limit, rate, sharing, tuple(self.steps), tuple(reasons), self.band,
                              self.policy.label)


def decide(policy: Policy, *, band: str | None, score: int | None, declared_income: Decimal,
           verified_income: Decimal | None, debt_monthly: Decimal | None, region: str | None,
           industry: str | None, product: ProductTerms, risk_sharing: RiskSharingOffer | None = None,
           guarantor: GuarantorStanding | None = None) -> PolicyDecision:
    """Decide approve / reject / review / awaiting_guarantor with the limit and daily rate, step by step."""
    declared = _decimal_input(declared_income, "declared_income")
    verified = _decimal_input(verified_income, "verified_income", allow_none=True)
    debt = _decimal_input(debt_monthly, "debt_monthly", allow_none=True)
    trail = _Trail(policy, band)
    if band is None:
        trail.step("band", "missing", band=None, score=score)
        trail.reason("no_score", reject=False)
        return trail.finish("review")
    base = policy.bands.get(band)
    if base is None:
        trail.step("band", "not_in_policy", band=band, score=score, bands=list(policy.bands))
        trail.reason("band_not_in_policy", reject=False)
        return trail.finish("review")
    trail.step("band", "found", band=band, score=score, **_band_detail(base))
    effective = policy.band(band)
    if not policy.downturn.on:
        trail.step("downturn", "off", on=False)
    elif band in policy.downturn.bands:
        trail.step("downturn", "applied", on=True, before=_band_detail(base), after=_band_detail(effective))
    else:
        trail.step("downturn", "no_override", on=True)
    trail.step("cutoff", "reject" if effective.action == "reject" else "pass", action=effective.action)
    if effective.action == "reject":
        trail.reason("band_below_cutoff")
        return trail.finish("reject")

    limit = _limit(trail, policy, effective, product, declared=declared, verified=verified, debt=debt,
                   region=region, industry=industry)
    rate = _rate(trail, effective, product)
    action, sharing = "approve", None
    if effective.action == "risk_share":
        action, limit, sharing = _risk_sharing(trail, policy, product, limit, risk_sharing, guarantor)
    elif risk_sharing is not None:
        trail.step("risk_sharing", "ignored", band_action=effective.action, kind=risk_sharing.kind)
    return trail.finish(action, limit, rate, sharing)


def _band_detail(band: Band) -> dict[str, Any]:
    return {"action": band.action, "income_multiple": band.income_multiple, "daily_rate": band.daily_rate,
            "limit_factor": band.limit_factor}


def _limit(trail: _Trail, policy: Policy, band: Band, product: ProductTerms, *, declared: Decimal,
           verified: Decimal | None, debt: Decimal | None, region: str | None, industry: str | None) -> Decimal:
    factor = policy.unverified_income_factor
    income = min(declared, verified) if verified is not None else declared * factor
    trail.step("income", "verified" if verified is not None else "unverified", declared_income=declared,
               verified_income=verified, unverified_income_factor=None if verified is not None else factor,
               income=income)

    burden = policy.debt_burden
    room = max(Decimal(0), income * burden.max_ratio - (debt or Decimal(0)))
    capacity = room * burden.capacity_months
    trail.step("debt_burden", "room" if room > 0 else "no_room", income=income, max_ratio=burden.max_ratio,
               debt_monthly=debt, monthly_room=room, capacity_months=burden.capacity_months, capacity=capacity)

    region_key = region.strip() if region else None
    industry_key = industry.strip().lower() if industry else None
    region_factor = policy.prudence.regions.get(region_key, Decimal(1)) if region_key else Decimal(1)
    industry_factor = policy.prudence.industries.get(industry_key, Decimal(1)) if industry_key else Decimal(1)
    trail.step("prudence", "applied" if region_factor != 1 or industry_factor != 1 else "none", region=region_key,
               region_factor=region_factor, industry=industry_key, industry_factor=industry_factor)

    by_income = income * band.income_multiple
    raw = min(by_income, capacity) * band.limit_factor * region_factor * industry_factor
    # Rounding min(raw, line_max) down equals clamping the rounded limit to the largest whole step within
    # line_max, and keeps an absurd income from overflowing the quantize. (No product here overflows: inputs are
    # below 1e31 and the policy multiplies by at most 100 x 360.)
    limit = round_to_step(min(raw, product.line_max), product.line_step)
    outcome = "below_minimum" if limit < product.line_min else "clamped_to_max" if raw > product.line_max else "ok"
    trail.step("limit", outcome, income_multiple=band.income_multiple, by_income=by_income, by_debt_burden=capacity,
               limit_factor=band.limit_factor, region_factor=region_factor, industry_factor=industry_factor,
               raw=raw, rounding=LIMIT_ROUNDING, line_step=product.line_step, line_min=product.line_min,
               line_max=product.line_max, limit=limit)
    if limit < product.line_min:
        trail.reason("limit_below_minimum", limit=limit, line_min=product.line_min)
    return limit


def _rate(trail: _Trail, band: Band, product: ProductTerms) -> Decimal:
    ceiling = min(product.daily_rate_max, product.daily_rate_cap)
    # The band's price, lifted to the product's floor, held under the product maximum and the rate cap.
    rate = min(max(band.daily_rate, product.daily_rate_min), ceiling).quantize(RATE_QUANTUM, rounding=RATE_ROUNDING)
    ok = rate >= product.daily_rate_min
    trail.step("rate", "ok" if ok else "price_above_cap", band_rate=band.daily_rate,
               daily_rate_min=product.daily_rate_min, daily_rate_max=product.daily_rate_max,
               daily_rate_cap=product.daily_rate_cap, rounding=RATE_ROUNDING, daily_rate=rate)
    if not ok:
        trail.reason("price_above_cap", daily_rate_min=product.daily_rate_min)
    return rate


def _risk_sharing(trail: _Trail, policy: Policy, product: ProductTerms, limit: Decimal,
                  offer: RiskSharingOffer | None, guarantor: GuarantorStanding | None,
                  ) -> tuple[str, Decimal, dict[str, Any] | None]:
    """A marginal band is approved only with a guarantor, collateral or insurance the policy accepts."""
    terms = policy.risk_sharing
    if offer is None:
        trail.step("risk_sharing", "required", kind=None)
        trail.reason("risk_sharing_required")
        return "approve", limit, None
    kind = offer.kind
    if (kind == "collateral" and terms.collateral is None) or (kind == "guarantor" and not terms.guarantor_enabled):
        trail.step("risk_sharing", "not_accepted", kind=kind)
        trail.reason("risk_sharing_not_accepted", kind=kind, kind_zh=_KIND_ZH[kind])
        return "approve", limit, None
    if kind == "insurance":
        insurer = terms.insurers.get(offer.insurer) if offer.insurer else None
        if insurer is None:
            trail.step("risk_sharing", "insurer_not_configured", kind=kind, insurer=offer.insurer,
                       configured=sorted(terms.insurers))
            trail.reason("insurer_not_configured", insurer=offer.insurer or "-")
            return "approve", limit, None
        sharing = {"kind": kind, "insurer": offer.insurer, "insurer_name": insurer.name,
                   "cover_share": insurer.cover_share, "policy_number": offer.policy_number}
        trail.step("risk_sharing", "accepted", **sharing)
        return "approve", limit, sharing
    if kind == "collateral":
        value = offer.collateral_value or Decimal(0)
        ratio = terms.collateral.min_value_ratio
        # Capped at line_max before rounding, as in _limit: a high value over a low ratio never reaches the quantize.
        cap = round_to_step(min(value / ratio, product.line_max), product.line_step)
        sharing = {"kind": kind, "collateral_kind": offer.collateral_kind, "collateral_value": offer.collateral_value,
                   "collateral_description": offer.collateral_description, "min_value_ratio": ratio,
                   "limit_cap": cap}
        if cap < product.line_min:
            trail.step("risk_sharing", "collateral_insufficient", **sharing)
            trail.reason("collateral_insufficient", value=value, cap=cap, line_min=product.line_min)
            return "approve", limit, None
        capped = min(limit, cap)
        trail.step("risk_sharing", "accepted", limit_before=limit, limit=capped, **sharing)
        return "approve", capped, sharing
    sharing = {"kind": kind, "guarantor_customer_id": offer.guarantor_customer_id,
               "guarantor_accepted": offer.guarantor_accepted}
    standing = None if guarantor is None else {
        "customer_id": guarantor.customer_id, "exists": guarantor.exists, "active": guarantor.active,
        "overdue": guarantor.overdue, "paused": guarantor.paused, "is_applicant": guarantor.is_applicant}
    if guarantor is None or not guarantor.good or guarantor.customer_id != offer.guarantor_customer_id:
        trail.step("risk_sharing", "guarantor_not_in_good_standing", standing=standing, **sharing)
        trail.reason("guarantor_not_in_good_standing")
        return "approve", limit, None
    if offer.guarantor_accepted is True:
        trail.step("risk_sharing", "accepted", standing=standing, **sharing)
        return "approve", limit, sharing
    trail.step("risk_sharing", "pending", standing=standing, **sharing)
    trail.reason("guarantor_acceptance_pending", reject=False)
    return "awaiting_guarantor", limit, sharing
