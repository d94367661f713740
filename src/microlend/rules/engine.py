"""Evaluating a compiled rule set: every rule's result, the decision, the points.

Rule sets are compiled once (``language``); evaluation only calls closures, so the
engine stays cheap enough to run on every application and every drawdown. The
engine evaluates BEFORE the current event is recorded in the velocity store: window
functions count the previous events.

Decision: the most severe outcome among the rules that hit (reject > step_up >
review > approve; approve when nothing hits). A rule that fails while evaluating
(a fact of the wrong type, a velocity store that is down) does not hit; its error is
reported, and the decision is raised to at least ``error_outcome`` (review by
default): a broken anti-fraud rule must never let an application through quietly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from microlend.errors import ValidationError
from microlend.rules.expressions import _Context
from microlend.rules.language import OUTCOMES, SEVERITY, RuleSet
from microlend.rules.velocity import VelocityStore


class RuleResult(NamedTuple):
    """One rule's result in one evaluation."""

    id: str
    hit: bool
    outcome: str
    reason: str
    reason_zh: str
    points: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "hit": self.hit, "outcome": self.outcome, "reason": self.reason,
                "reason_zh": self.reason_zh, "points": self.points, "error": self.error}


class Evaluation(NamedTuple):
    """A rule set's verdict on one set of facts."""

    rule_set: str
    version: int
    stage: str
    fingerprint: str
    decision: str
    points: int
    results: tuple[RuleResult, ...]

    @property
    def hits(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.results if result.hit)

    @property
    def errors(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.results if result.error is not None)

    def reasons(self, language: str = "en") -> list[str]:
        """The reasons of the rules that hit, most severe first (``language``: ``en`` or ``zh``)."""
        hits = sorted(self.hits, key=lambda r: -SEVERITY[r.outcome])
        return [r.reason_zh if language == "zh" else r.reason for r in hits]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_set": self.rule_set, "version": self.version, "stage": self.stage,
                "fingerprint": self.fingerprint, "decision": self.decision, "points": self.points,
                "results": [result.to_dict() for result in self.results]}


def most_severe(outcomes: Iterable[str]) -> str:
    """The most severe of ``outcomes`` (approve when there are none)."""
    worst = 0
    for outcome in outcomes:
        rank = SEVERITY[outcome]
        if rank > worst:
            worst = rank
    return OUTCOMES[worst]


def evaluate(rule_set: RuleSet, facts: Mapping[str, Any], store: VelocityStore, now: datetime, *,
             error_outcome: str | None = "review") -> Evaluation:
    """Evaluate every rule of ``rule_set`` against ``facts`` and the velocity windows ending at ``now``."""
    if now.tzinfo is None:
        raise ValidationError("evaluation time must be timezone-aware", code="invalid_input", field="now")
    if error_outcome is not None and error_outcome not in SEVERITY:
        raise ValidationError(f"unknown outcome {error_outcome!r}", code="invalid_input", field="error_outcome")
    ctx = _Context(facts, store, now)
    results: list[RuleResult] = []
    append = results.append
    worst = 0
    points = 0
    for fn, rank, rule_points, hit_result, miss_result in _plan(rule_set):
        try:
            hit = fn(ctx)
        except Exception as exc:  # noqa: BLE001 - one failing rule must not stop the others; reported below
            append(miss_result._replace(error=f"{type(exc).__name__}: {exc}"))
            if error_outcome is not None and SEVERITY[error_outcome] > worst:
                worst = SEVERITY[error_outcome]
            continue
        if hit:
            append(hit_result)
            points += rule_points
            if rank > worst:
                worst = rank
        else:
            append(miss_result)
    return Evaluation(rule_set.name, rule_set.version, rule_set.stage, rule_set.fingerprint, OUTCOMES[worst],
                      points, tuple(results))


def _plan(rule_set: RuleSet) -> tuple:
    """Per rule: (closure, severity, points, result when hit, result when not) -- results are immutable, so
    they are built once per rule set and shared by every evaluation."""
    plan = rule_set.__dict__.get("_engine_plan")
    if plan is None:
        plan = tuple(
            (rule.expression.fn, SEVERITY[rule.outcome], rule.points,
             RuleResult(rule.id, True, rule.outcome, rule.reason, rule.reason_zh, rule.points),
             RuleResult(rule.id, False, rule.outcome, rule.reason, rule.reason_zh, rule.points))
            for rule in rule_set.rules)
        rule_set.__dict__["_engine_plan"] = plan
    return plan
