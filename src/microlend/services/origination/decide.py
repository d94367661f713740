"""Making one application decision: facts, rules, score, policy, outcome, and the record that explains it.

Nothing here writes: :func:`decide_application` reads the sources (outside any transaction)
and the platform's configuration (rule sets, block list, policy, champion) and returns a
:class:`Decision` holding the record to store. The caller stores it with the status change
in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from microlend.errors import MicrolendError
from microlend.rules.crosschecks import CrossCheckInput, Finding, cross_check
from microlend.rules.engine import Evaluation, evaluate, most_severe
from microlend.rules.policy import GuarantorStanding, PolicyDecision, RiskSharingOffer, decide
from microlend.rules.velocity_db import DatabaseVelocityStore
from microlend.scoring.applicant_features import applicant_features
from microlend.services import config_cache, models
from microlend.services.origination import block_list, rule_sets
from microlend.services.origination.outcome import combine, status_for
from microlend.services.origination.policies import active_policy
from microlend.services.origination.replay import RecordingWindows, jsonable
from microlend.services.origination.sources import Identity, Sources, bureau_facts, gather, statements_facts
from microlend.services.origination.terms import product_terms


@dataclass(frozen=True)
class Applicant:
    """A validated application as the decision needs it (identity normalised; hashes computed)."""

    application_id: int
    identity: Identity
    keys: dict[str, str]
    declared_income: Decimal
    industry: str
    region: str
    product_code: str
    age: int
    id_province: str
    sex: str
    channel: str
    masked: dict[str, Any]
    risk_sharing: RiskSharingOffer | None = None


@dataclass
class Decision:
    outcome: str
    status: str
    record: dict[str, Any]
    evaluation: Evaluation | None
    policy: PolicyDecision
    score: dict[str, Any] | None
    reasons: list[dict[str, str]]
    shadow: Evaluation | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decide_application(platform, applicant: Applicant, *, existing_customer_id: int | None,
                       guarantor: GuarantorStanding | None) -> Decision:
    now = platform.clock.now()
    today = platform.clock.business_date()
    sources = gather(platform, applicant.identity, reference=f"APP{applicant.application_id:010d}")
    findings = _findings(applicant, sources)
    bureau, statements = bureau_facts(sources.bureau), statements_facts(sources.statements)
    ttl = platform.settings.config_cache_seconds
    windows = RecordingWindows(platform.velocity)
    with platform.reader() as reader:
        session = reader.session
        rule_set = config_cache.cached(platform.config_cache, ("rule_set", "application"), ttl,
                                       lambda: rule_sets.active_rule_set(session, "application"))
        shadow_set = config_cache.cached(platform.config_cache, ("shadow_set", "application"), ttl,
                                         lambda: rule_sets.shadow_rule_set(session, "application"))
        policy = config_cache.cached(platform.config_cache, ("policy",), ttl, lambda: active_policy(session))
        product = config_cache.cached(platform.config_cache, ("product", applicant.product_code), ttl,
                                      lambda: reader.products.get(applicant.product_code))
        lists = block_list.blocked_sets(session, applicant.keys)
        # Every window the rules will read, in one statement on this connection (database store).
        same_database = isinstance(platform.velocity, DatabaseVelocityStore)
        windows.prefetch([s for s in (rule_set, shadow_set) if s is not None], applicant.keys, now,
                         connection=session.connection() if same_database else None)
    facts = {
        "application": {
            "income": applicant.declared_income, "declared_income": applicant.declared_income,
            "industry": applicant.industry, "region": applicant.region, "age": applicant.age,
            "province": applicant.id_province, "channel": applicant.channel, "product": applicant.product_code,
            "customer_id": existing_customer_id, "is_returning": existing_customer_id is not None,
            "gender": applicant.sex,
        },
        "keys": dict(applicant.keys), "bureau": bureau, "statements": statements,
        "findings": frozenset(f.code for f in findings), "line": None, "lists": lists,
    }
    evaluation = evaluate(rule_set, facts, windows, now)
    shadow = evaluate(shadow_set, facts, windows, now) if shadow_set is not None else None
    score = _score(platform, applicant, bureau, statements, sources.errors)
    verified_income = (sources.statements.summary.income_monthly_avg
                       if sources.statements is not None and sources.statements.summary.months >= 3 else None)
    policy_decision = decide(
        policy, band=score.get("band"), score=score.get("score"), declared_income=applicant.declared_income,
        verified_income=verified_income, debt_monthly=bureau.get("debt_monthly") if bureau else None,
        region=applicant.region, industry=applicant.industry, product=product_terms(product),
        risk_sharing=applicant.risk_sharing, guarantor=guarantor)
    outcome = combine(rules=evaluation.decision, sources=sources.vote, policy_action=policy_decision.action)
    after_step_up = None
    if outcome == "step_up":
        others = most_severe(r.outcome for r in evaluation.hits if r.outcome != "step_up")
        after_step_up = combine(rules=others, sources=sources.vote, policy_action=policy_decision.action)
    status = status_for(outcome, policy_decision.action)
    reasons = _reasons(outcome, evaluation, sources, policy_decision)
    record = {
        "kind": "application", "application_id": applicant.application_id, "customer_id": existing_customer_id,
        "credit_line_id": None, "at": now.isoformat(), "business_date": today.isoformat(),
        "inputs": applicant.masked, "sources": sources.to_record(),
        "findings": [f.to_dict() for f in findings],
        "facts": jsonable(facts), "windows": windows.to_json(), "rules": evaluation.to_dict(),
        "score": score,
        "policy": {**policy_decision.to_dict(), "name": policy.name, "version": policy.version,
                   "fingerprint": policy.fingerprint},
        "decision": {"outcome": outcome, "status": status,
                     "parts": {"rules": evaluation.decision, "sources": sources.vote,
                               "policy": policy_decision.action},
                     "after_step_up": after_step_up, "reasons": reasons},
        "versions": {"rule_set": {"name": rule_set.name, "version": rule_set.version,
                                  "fingerprint": rule_set.fingerprint},
                     "model": score.get("model"),
                     "policy": {"name": policy.name, "version": policy.version, "fingerprint": policy.fingerprint}},
    }
    return Decision(outcome=outcome, status=status, record=jsonable(record), evaluation=evaluation,
                    policy=policy_decision, score=score, reasons=reasons, shadow=shadow)


def failed_decision(platform, applicant: Applicant, error: str) -> Decision:
    """What is stored when the decision itself could not be made (a defect, a configuration that breaks at
    run time): a referral to review with the error, never an approval, never an application left half-done."""
    now, today = platform.clock.now(), platform.clock.business_date()
    reasons = [{"code": "decision_failed", "en": "The application could not be assessed automatically; it is "
                "being reviewed", "zh": "申请暂无法自动审批，已转人工审核"}]
    policy = PolicyDecision(action="review", limit=None, daily_rate=None, risk_sharing=None, steps=(), reasons=())
    record = {
        "kind": "application", "application_id": applicant.application_id, "customer_id": None,
        "credit_line_id": None, "at": now.isoformat(), "business_date": today.isoformat(),
        "inputs": applicant.masked, "sources": {}, "findings": [], "facts": {}, "windows": [], "rules": None,
        "score": None, "policy": None,
        "decision": {"outcome": "review", "status": "review",
                     "parts": {"rules": "review", "sources": "review", "policy": "review"},
                     "after_step_up": None, "reasons": reasons, "error": error},
        "versions": {"rule_set": {"name": "none", "version": 0, "fingerprint": ""}, "model": None,
                     "policy": {"name": "none", "version": 0, "fingerprint": ""}},
    }
    return Decision(outcome="review", status="review", record=jsonable(record), evaluation=None, policy=policy,
                    score=None, reasons=reasons)


def _findings(applicant: Applicant, sources: Sources) -> list[Finding]:
    report, statements = sources.bureau, sources.statements
    findings = cross_check(CrossCheckInput(
        declared_income=applicant.declared_income, id_province=applicant.id_province,
        declared_region=applicant.region,
        statement_income=statements.summary.income_monthly_avg if statements is not None else None,
        statement_months=statements.summary.months if statements is not None else None,
        phone_province=sources.phone_province, ip_province=sources.ip_province,
        bureau_name_matches=(report.identity.name == applicant.identity.name) if report is not None else None,
        bureau_id_matches=(report.identity.id_number == applicant.identity.id_number) if report is not None else None,
    ))
    if sources.kyc is not None:
        findings.insert(0, Finding(sources.kyc.finding(), "info" if sources.kyc.matched else "serious"))
    for name, code in sources.errors.items():
        findings.append(Finding(code, "warning", {"source": name, "fallback": "review"}))
    return findings


def _score(platform, applicant: Applicant, bureau, statements, failed: dict[str, str]) -> dict[str, Any]:
    features = applicant_features(age=applicant.age, declared_income=applicant.declared_income,
                                  industry=applicant.industry, bureau=bureau, statements=statements)
    if "bureau" in failed or "statements" in failed:
        # Missing data scores in the riskiest bins: a timeout would read as a bad applicant. No score instead,
        # so the policy refers the application to review (never a rejection or approval on missing data).
        return {"error": "source_unavailable", "features": features}
    try:
        record, model = config_cache.cached(platform.config_cache, ("champion",), platform.settings.config_cache_seconds,
                                            lambda: models.champion_loaded(platform.reader()))
        result = models.score_with(record, model, features, reasons=4)
    except MicrolendError as exc:  # no champion, or a champion that cannot read these features
        return {"error": exc.code, "features": features}
    return {"model": {"name": result.model.name, "version": result.model.version, "digest": result.model.digest},
            "features": features, "score": result.score, "band": result.band, "pd": format(result.pd, ".6f"),
            "reasons": result.reasons}


_SOURCE_REASON = {
    "kyc": ("identity_not_verified", "We could not verify your identity", "无法核实您的身份信息"),
    "unavailable": ("data_unavailable", "A data source was unavailable; your application is being reviewed",
                    "部分数据暂不可用，您的申请正在人工审核"),
}


def _reasons(outcome: str, evaluation: Evaluation, sources: Sources, policy: PolicyDecision) -> list[dict[str, str]]:
    """The plain reasons the applicant sees for the outcome (English and Chinese)."""
    reasons: list[dict[str, str]] = []
    if sources.kyc is not None and not sources.kyc.matched:
        code, en, zh = _SOURCE_REASON["kyc"]
        reasons.append({"code": code, "en": en, "zh": zh})
    if sources.errors:
        code, en, zh = _SOURCE_REASON["unavailable"]
        reasons.append({"code": code, "en": en, "zh": zh})
    for hit in sorted(evaluation.hits, key=lambda r: r.outcome != outcome):
        if hit.outcome != "approve":
            reasons.append({"code": hit.id, "en": hit.reason, "zh": hit.reason_zh})
    for reason in policy.reasons:
        reasons.append({"code": reason.code, "en": reason.en, "zh": reason.zh})
    if outcome == "approve" and not reasons:
        reasons.append({"code": "approved", "en": "Approved", "zh": "审批通过"})
    return reasons

