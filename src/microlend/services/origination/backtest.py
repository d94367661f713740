"""Backtests and shadow reports: what a candidate rule set would have decided.

Why: a rule change is judged on real traffic before it decides anything. A backtest
re-evaluates a candidate over stored decision records: each record keeps the facts and
every window aggregate the live rules read, so the candidate sees exactly what the live
decision saw (a window only the candidate asks for is answered by ``fallback_store`` at the
record's time, or becomes a rule error). The candidate's rules decision is recombined with
the record's other parts (data sources, policy) into the final outcome, so the report says
how many decisions would move, and where. A shadow report reads the verdicts a shadow set
gave on live traffic (``shadow_results``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from microlend.errors import MicrolendError, NotFoundError, ValidationError
from microlend.rules.engine import evaluate, most_severe
from microlend.rules.language import OUTCOMES, RuleSet
from microlend.rules.velocity import VelocityStore
from microlend.services.origination.outcome import combine
from microlend.services.origination.rule_sets import check_name, check_version, compiled_by_id
from microlend.store.origination_tables import decision_records, rule_sets, shadow_results
from microlend.store.uow import UnitOfWork

#: The most records one backtest reads; the most moved decisions listed.
MAX_LIMIT = 100_000
SAMPLE_SIZE = 20
_BATCH = 500


def _matrix() -> dict[str, dict[str, int]]:
    return {live: {other: 0 for other in OUTCOMES} for live in OUTCOMES}


@dataclass
class RuleStats:
    """One candidate rule over the records: its hits and errors, and the live hits of the rule with the same id."""

    id: str
    outcome: str
    hits: int = 0
    errors: int = 0
    #: Records whose live rule set had a rule with this id (the base of the comparison), and its hits there.
    compared: int = 0
    live_hits: int = 0
    #: Among the compared records: hit by the candidate and not live, and the other way round.
    new_hits: int = 0
    lost_hits: int = 0

    def to_dict(self) -> dict:
        return {"id": self.id, "outcome": self.outcome, "hits": self.hits, "errors": self.errors,
                "compared": self.compared, "live_hits": self.live_hits if self.compared else None,
                "new_hits": self.new_hits, "lost_hits": self.lost_hits}


@dataclass
class BacktestReport:
    rule_set: dict
    stage: str
    since: datetime | None
    until: datetime | None
    evaluated: int = 0
    #: Records that could not be replayed (no facts, unreadable JSON): {decision_record_id, error}.
    skipped: list[dict] = field(default_factory=list)
    moved: int = 0
    rule_errors: int = 0
    #: Final outcome, live -> candidate: matrix[live][candidate] = records.
    matrix: dict[str, dict[str, int]] = field(default_factory=_matrix)
    rules: list[RuleStats] = field(default_factory=list)
    #: The first moved decisions: {decision_record_id, application_id, live, candidate}.
    moved_sample: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rule_set": self.rule_set, "stage": self.stage,
                "since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "evaluated": self.evaluated, "skipped": self.skipped, "moved": self.moved,
                "rule_errors": self.rule_errors, "matrix": self.matrix,
                "rules": [r.to_dict() for r in self.rules], "moved_sample": self.moved_sample}


def _check_period(since: datetime | None, until: datetime | None, limit: int | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ValidationError(f"{name} must be a timezone-aware time", code="invalid_period", field=name)
    if since is not None and until is not None and since >= until:
        raise ValidationError("since must be before until", code="invalid_period", field="until")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT):
        raise ValidationError(f"limit is a whole number from 1 to {MAX_LIMIT}", code="invalid_limit", field="limit")


def final_outcome(kind: str, rules: str, parts: dict) -> str:
    """The decision's outcome with ``rules`` in place of the live rules decision. Drawdowns have no
    credit policy: their outcome is the rules and the data sources only."""
    sources = parts.get("sources") or "approve"
    if kind == "drawdown" and parts.get("policy") is None:
        return most_severe((rules, sources))
    outcome = combine(rules=rules, sources=sources, policy_action=parts.get("policy"))
    # A grant the store refused (the line appeared in a race) referred the application: a part of its own.
    return most_severe((outcome, parts["grant"])) if parts.get("grant") else outcome


def backtest(*, uow: UnitOfWork, candidate: RuleSet, stage: str | None = None, since: datetime | None = None,
             until: datetime | None = None, limit: int | None = None,
             fallback_store: VelocityStore | None = None) -> BacktestReport:
    """Re-evaluate ``candidate`` over the stored decision records of its stage (``since <= created_at < until``,
    oldest first, at most ``limit``) and compare with what was decided."""
    from microlend.services.origination.replay import RecordedWindows, facts_from_record

    stage = candidate.stage if stage is None else stage
    if stage != candidate.stage:
        raise ValidationError(f"{candidate.label} is a {candidate.stage} rule set, not {stage}",
                              code="stage_mismatch", field="stage")
    _check_period(since, until, limit)
    report = BacktestReport(rule_set={"name": candidate.name, "version": candidate.version, "stage": candidate.stage,
                                      "fingerprint": candidate.fingerprint}, stage=stage, since=since, until=until)
    stats = {rule.id: RuleStats(rule.id, rule.outcome) for rule in candidate.rules}
    report.rules = list(stats.values())
    t = decision_records
    query = select(t.c.id, t.c.application_id, t.c.record).where(t.c.kind == stage)
    if since is not None:
        query = query.where(t.c.created_at >= since)
    if until is not None:
        query = query.where(t.c.created_at < until)
    query = query.order_by(t.c.created_at, t.c.id).limit(limit or MAX_LIMIT)
    with uow:
        for row in uow.session.execute(query.execution_options(yield_per=_BATCH)):
            try:
                record = json.loads(row.record)
                facts = facts_from_record(record)
                at = datetime.fromisoformat(record["at"])
                store = RecordedWindows(record.get("windows") or [], at=at, fallback=fallback_store)
                live = record["decision"]["outcome"]
                parts = record["decision"].get("parts") or {}
                live_results = {r["id"]: r for r in (record.get("rules") or {}).get("results") or ()}
                evaluation = evaluate(candidate, facts, store, at)
                outcome = final_outcome(record.get("kind", stage), evaluation.decision, parts)
                if live not in report.matrix:
                    raise ValueError(f"unknown recorded outcome {live!r}")
            except (MicrolendError, ValueError, KeyError, TypeError, AttributeError) as exc:
                report.skipped.append({"decision_record_id": row.id, "error": f"{type(exc).__name__}: {exc}"})
                continue
            report.evaluated += 1
            report.matrix[live][outcome] += 1
            if outcome != live:
                report.moved += 1
                if len(report.moved_sample) < SAMPLE_SIZE:
                    report.moved_sample.append({"decision_record_id": row.id, "application_id": row.application_id,
                                                "live": live, "candidate": outcome})
            for result in evaluation.results:
                rule = stats[result.id]
                rule.hits += result.hit
                if result.error is not None:
                    rule.errors += 1
                    report.rule_errors += 1
                before = live_results.get(result.id)
                if before is not None:
                    rule.compared += 1
                    was_hit = bool(before.get("hit"))
                    rule.live_hits += was_hit
                    rule.new_hits += result.hit and not was_hit
                    rule.lost_hits += was_hit and not result.hit
    return report


@dataclass
class ShadowReport:
    rule_set: dict
    count: int = 0
    agreed: int = 0
    #: Live decision -> shadow decision, as stored beside each live decision.
    matrix: dict[str, dict[str, int]] = field(default_factory=_matrix)
    #: Per shadow rule, in the set's order: {id, hits, errors}.
    rules: list[dict] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.count if self.count else None

    def to_dict(self) -> dict:
        return {"rule_set": self.rule_set, "count": self.count, "agreed": self.agreed,
                "agreement": None if self.agreement is None else round(self.agreement, 6),
                "matrix": self.matrix, "rules": self.rules}


def _shadow_rule_results(text: str) -> list[dict[str, Any]]:
    """A stored shadow verdict's rule results: an ``Evaluation.to_dict()`` or its ``results`` list."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if isinstance(data, dict):
        data = data.get("results")
    return [r for r in data if isinstance(r, dict) and isinstance(r.get("id"), str)] if isinstance(data, list) else []


def shadow_report(*, uow: UnitOfWork, name: str, version: int) -> ShadowReport:
    """How a shadow set's verdicts on live traffic compare with the live decisions (``rule_set_not_found``
    when no such set is stored)."""
    name, version = check_name(name), check_version(version)
    s = shadow_results
    with uow:
        stored = uow.session.execute(select(rule_sets.c.id, rule_sets.c.stage, rule_sets.c.fingerprint,
                                            rule_sets.c.status)
                                     .where(rule_sets.c.name == name, rule_sets.c.version == version)).first()
        if stored is None:
            raise NotFoundError(f"rule set {name}@{version} not found", code="rule_set_not_found", field="version")
        report = ShadowReport(rule_set={"name": name, "version": version, "stage": stored.stage,
                                        "fingerprint": stored.fingerprint, "status": stored.status})
        # every rule of the set, in file order (stored results may keep only the hits and errors)
        compiled = compiled_by_id(uow.session, stored.id, stored.fingerprint)
        per_rule = {rule.id: {"id": rule.id, "hits": 0, "errors": 0} for rule in compiled.rules}
        query = (select(s.c.live_decision, s.c.shadow_decision, s.c.results)
                 .where(s.c.rule_set == name, s.c.rule_set_version == version).order_by(s.c.id)
                 .execution_options(yield_per=_BATCH))
        for row in uow.session.execute(query):
            report.count += 1
            report.agreed += row.live_decision == row.shadow_decision
            report.matrix.setdefault(row.live_decision, {}).setdefault(row.shadow_decision, 0)
            report.matrix[row.live_decision][row.shadow_decision] += 1
            for result in _shadow_rule_results(row.results):
                entry = per_rule.setdefault(result["id"], {"id": result["id"], "hits": 0, "errors": 0})
                entry["hits"] += bool(result.get("hit"))
                entry["errors"] += result.get("error") is not None
        report.rules = list(per_rule.values())
    return report
