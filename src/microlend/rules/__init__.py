"""Anti-fraud and risk rules as versioned data, evaluated safely against facts and velocity windows.

``language`` parses rule sets (YAML or JSON) and ``expressions`` compiles their expressions
into closures once, at load; ``engine`` evaluates a compiled set; ``velocity`` is the
interface to the windowed counters; ``builtin`` ships the default rule sets.
"""

from __future__ import annotations

from microlend.rules.engine import Evaluation, RuleResult, evaluate, most_severe
from microlend.rules.language import (
    OUTCOMES,
    STAGES,
    CompiledExpression,
    Rule,
    RuleSet,
    compile_expression,
    load_rule_set,
    parse_duration,
    parse_rule_set,
)
from microlend.rules.velocity import InMemoryVelocityStore, VelocityEvent, VelocityStore

__all__ = [
    "OUTCOMES",
    "STAGES",
    "CompiledExpression",
    "Evaluation",
    "InMemoryVelocityStore",
    "Rule",
    "RuleResult",
    "RuleSet",
    "VelocityEvent",
    "VelocityStore",
    "compile_expression",
    "evaluate",
    "load_rule_set",
    "most_severe",
    "parse_duration",
    "parse_rule_set",
]
