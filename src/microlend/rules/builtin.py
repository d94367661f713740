"""The rule sets the platform ships with, so a new installation has working fraud controls.

They live as YAML next to this module (package data) and are loaded and compiled
once. Lenders copy them, change thresholds, bump the version and store their own.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from microlend.errors import ValidationError
from microlend.rules.language import STAGES, RuleSet, parse_rule_set

__all__ = ["BUILTIN_STAGES", "builtin_rule_set", "builtin_text"]

BUILTIN_STAGES = STAGES


def builtin_text(stage: str) -> str:
    """The YAML source of the built-in rule set for ``stage`` (application or drawdown)."""
    if stage not in BUILTIN_STAGES:
        raise ValidationError(f"unknown stage {stage!r} (known: {', '.join(BUILTIN_STAGES)})",
                              code="invalid_input", field="stage")
    return resources.files("microlend.rules").joinpath("builtin", f"{stage}.yaml").read_text(encoding="utf-8")


@cache
def builtin_rule_set(stage: str) -> RuleSet:
    """The compiled built-in rule set for ``stage`` (compiled once per process)."""
    return parse_rule_set(builtin_text(stage), source=f"builtin/{stage}.yaml", format="yaml")
