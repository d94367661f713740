"""The rule language: rule sets as YAML or JSON, each rule's expression compiled by ``expressions.py``.

Rules are data that risk staff edit, so a mistake must be caught when the set is
loaded (with the line and the reason), never when a customer is waiting.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from microlend.errors import ValidationError
from microlend.rules.expressions import (
    FACT_FIELDS,
    CompiledExpression,
    RuleSyntaxError,
    compile_expression,
    parse_duration,
)

#: Outcomes in ascending severity: the decision is the most severe outcome among hits.
OUTCOMES = ("approve", "review", "step_up", "reject")
SEVERITY = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
STAGES = ("application", "drawdown")

_SET_FIELDS = ("name", "version", "stage", "description", "rules")
_SET_REQUIRED = ("name", "version", "stage", "rules")
_RULE_FIELDS = ("id", "when", "outcome", "reason", "reason_zh", "points", "description")
_RULE_REQUIRED = ("id", "when", "outcome", "reason")
_RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Limits that keep a hostile or broken rule file from exhausting the process at load time.
MAX_RULE_SET_BYTES = 1_000_000
MAX_RULE_SET_DEPTH = 20

__all__ = ["FACT_FIELDS", "OUTCOMES", "SEVERITY", "STAGES", "CompiledExpression", "Rule", "RuleSet", "RuleSyntaxError",
           "compile_expression", "load_rule_set", "parse_duration", "parse_rule_set"]

def _invalid(source: str, line: int | None, reason: str) -> ValidationError:
    where = f"{source}, line {line}" if line else source
    return ValidationError(f"{where}: {reason}", code="invalid_rule_set", field="rules",
                           extra={"line": line, "reason": reason, "source": source})


# ---------------------------------------------------------------------------------------------------------------
# Rule sets


@dataclass(frozen=True)
class Rule:
    """One compiled rule."""

    id: str
    when: str
    outcome: str
    reason: str
    reason_zh: str
    points: int
    line: int | None
    expression: CompiledExpression = field(repr=False, compare=False)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "when": self.when, "outcome": self.outcome, "reason": self.reason,
                                "reason_zh": self.reason_zh, "points": self.points}
        if self.description:
            data["description"] = self.description
        return data


@dataclass(frozen=True)
class RuleSet:
    """A named, versioned, compiled rule set for one stage; ``text`` is the source as loaded (to store)."""

    name: str
    version: int
    stage: str
    rules: tuple[Rule, ...]
    description: str = ""
    text: str = field(default="", repr=False, compare=False)
    format: str = "yaml"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version, "stage": self.stage}
        if self.description:
            data["description"] = self.description
        data["rules"] = [rule.to_dict() for rule in self.rules]
        return data

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON form: equal for the same rules however they were written."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


@dataclass
class _Node:
    """A parsed value with the (1-based) line it starts on; mappings keep their keys' lines."""

    value: Any
    line: int | None
    key_lines: dict[str, int | None] = field(default_factory=dict)
    block: bool = False  # a YAML block scalar (| or >): its text starts on the next line


def _yaml_tree(text: str, source: str) -> _Node:
    if len(text.encode("utf-8", errors="replace")) > MAX_RULE_SET_BYTES:
        raise _invalid(source, None, f"the rule set is larger than {MAX_RULE_SET_BYTES} bytes")
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        if root is None:
            raise _invalid(source, 1, "the rule set is empty")
        return _convert(root, loader, source, set(), 0)
    except RecursionError:
        raise _invalid(source, None, "the rule set is nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise _invalid(source, line, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise _invalid(source, None, f"YAML error: {str(exc)[:200]}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _convert(node: yaml.Node, loader: yaml.SafeLoader, source: str, seen: set[int], depth: int) -> _Node:
    line = node.start_mark.line + 1
    if id(node) in seen:  # an alias: shared nodes could expand without bound ("billion laughs")
        raise _invalid(source, line, "anchors and aliases (& and *) are not allowed")
    seen.add(id(node))
    if depth > MAX_RULE_SET_DEPTH:
        raise _invalid(source, line, f"the rule set is nested more than {MAX_RULE_SET_DEPTH} deep")
    if isinstance(node, yaml.MappingNode):
        values: dict[str, _Node] = {}
        key_lines: dict[str, int | None] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise _invalid(source, key_line, f"keys must be strings, not {key!r}")
            if key in values:
                raise _invalid(source, key_line, f"duplicate key {key!r} (first on line {key_lines[key]})")
            values[key] = _convert(value_node, loader, source, seen, depth + 1)
            key_lines[key] = key_line
        return _Node(values, line, key_lines)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_convert(item, loader, source, seen, depth + 1) for item in node.value], line)
    value = loader.construct_object(node, deep=True)
    return _Node(value, line, block=getattr(node, "style", None) in ("|", ">"))


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` object hook: a key given twice is an error (JSON would silently keep the last)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _json_tree(text: str, source: str) -> _Node:
    if len(text.encode("utf-8", errors="replace")) > MAX_RULE_SET_BYTES:
        raise _invalid(source, None, f"the rule set is larger than {MAX_RULE_SET_BYTES} bytes")
    try:
        json.loads(text, object_pairs_hook=no_duplicate_keys, parse_float=Decimal)
    except RecursionError:
        raise _invalid(source, None, "the rule set is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _invalid(source, exc.lineno, f"JSON syntax error: {exc.msg}") from None
    except ValueError as exc:
        raise _invalid(source, None, str(exc)) from None
    try:  # JSON is YAML: the YAML parser gives the line of every value
        return _yaml_tree(text, source)
    except ValidationError:
        return _plain_tree(json.loads(text))


def _plain_tree(value: Any) -> _Node:
    if isinstance(value, dict):
        return _Node({k: _plain_tree(v) for k, v in value.items()}, None, {k: None for k in value})
    if isinstance(value, list):
        return _Node([_plain_tree(v) for v in value], None)
    return _Node(value, None)


def _fields(node: _Node, allowed: tuple[str, ...], required: tuple[str, ...], what: str, source: str) -> None:
    for key in node.value:
        if key not in allowed:
            hint = _closest(key, allowed)
            raise _invalid(source, node.key_lines.get(key),
                           f"unknown field {key!r} in {what}" + (f" (did you mean {hint!r}?)" if hint else "")
                           + f"; allowed: {', '.join(allowed)}")
    for key in required:
        if key not in node.value:
            raise _invalid(source, node.line, f"{what} has no {key!r}")


def _closest(word: str, choices: tuple[str, ...]) -> str | None:
    import difflib

    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def _string(node: _Node, what: str, source: str, *, empty: bool = False) -> str:
    if not isinstance(node.value, str) or (not empty and not node.value.strip()):
        raise _invalid(source, node.line, f"{what} must be a non-empty string" if not empty else f"{what} must be a string")
    return node.value


def parse_rule_set(text: str, *, source: str = "<rules>", format: str | None = None,
                   fact_fields: Mapping[str, frozenset[str] | None] | None = None) -> RuleSet:
    """Parse and compile a rule set from YAML or JSON text; refuses problems with the line and the reason.

    ``format`` is ``"yaml"`` or ``"json"``; by default JSON when the text starts with ``{``.
    Raises :class:`~microlend.errors.ValidationError` with code ``invalid_rule_set``.
    """
    if not isinstance(text, str):
        raise _invalid(source, None, "the rule set must be text")
    if format is None:
        format = "json" if text.lstrip().startswith("{") else "yaml"
    if format not in ("yaml", "json"):
        raise _invalid(source, None, f"unknown format {format!r} (yaml or json)")
    tree = _json_tree(text, source) if format == "json" else _yaml_tree(text, source)
    if not isinstance(tree.value, dict):
        raise _invalid(source, tree.line, "a rule set must be a mapping with name, version, stage and rules")
    _fields(tree, _SET_FIELDS, _SET_REQUIRED, "the rule set", source)
    top = tree.value
    name = _string(top["name"], "name", source)
    version = top["version"].value
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _invalid(source, top["version"].line, f"version must be a positive integer, not {version!r}")
    stage = top["stage"].value
    if stage not in STAGES:
        raise _invalid(source, top["stage"].line, f"unknown stage {stage!r} (known: {', '.join(STAGES)})")
    description = _string(top["description"], "description", source, empty=True) if "description" in top else ""
    rules_node = top["rules"]
    if not isinstance(rules_node.value, list) or not rules_node.value:
        raise _invalid(source, rules_node.line, "rules must be a non-empty list")
    rules: list[Rule] = []
    first_line: dict[str, int | None] = {}
    for item in rules_node.value:
        rules.append(_rule(item, source, first_line, fact_fields))
    return RuleSet(name=name, version=version, stage=stage, rules=tuple(rules), description=description, text=text,
                   format=format)


def _rule(item: _Node, source: str, first_line: dict[str, int | None],
          fact_fields: Mapping[str, frozenset[str] | None] | None) -> Rule:
    if not isinstance(item.value, dict):
        raise _invalid(source, item.line, "each rule must be a mapping with id, when, outcome and reason")
    _fields(item, _RULE_FIELDS, _RULE_REQUIRED, "a rule", source)
    data = item.value
    rule_id = data["id"].value
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise _invalid(source, data["id"].line,
                       f"rule id {rule_id!r} must be lower-case letters, digits and underscores, starting with a letter")
    if rule_id in first_line:
        raise _invalid(source, data["id"].line, f"duplicate rule id {rule_id!r} (first on line {first_line[rule_id]})")
    first_line[rule_id] = data["id"].line
    what = f"rule {rule_id!r}"
    when_node = data["when"]
    if not isinstance(when_node.value, str):
        raise _invalid(source, when_node.line, f"{what}: when must be an expression in a string")
    try:
        expression = compile_expression(when_node.value, fact_fields=fact_fields)
    except RuleSyntaxError as exc:
        line = None if when_node.line is None else when_node.line + exc.offset + (1 if when_node.block else 0)
        raise _invalid(source, line, f"{what}: {exc.reason}") from None
    outcome = data["outcome"].value
    if outcome not in OUTCOMES:
        raise _invalid(source, data["outcome"].line,
                       f"{what}: unknown outcome {outcome!r} (known: {', '.join(OUTCOMES)})")
    reason = _string(data["reason"], f"{what}: reason", source)
    reason_zh = _string(data["reason_zh"], f"{what}: reason_zh", source) if "reason_zh" in data else reason
    points = data["points"].value if "points" in data else 0
    if isinstance(points, bool) or not isinstance(points, int) or not -1000 <= points <= 1000:
        raise _invalid(source, data["points"].line,
                       f"{what}: points must be a whole number from -1000 to 1000, not {points!r}")
    description = _string(data["description"], f"{what}: description", source, empty=True) \
        if "description" in data else ""
    return Rule(id=rule_id, when=expression.text, outcome=outcome, reason=reason, reason_zh=reason_zh,
                points=points, line=data["id"].line, expression=expression, description=description)


def load_rule_set(path: str | Path, *, fact_fields: Mapping[str, frozenset[str] | None] | None = None) -> RuleSet:
    """Read and compile a rule set file (``.json`` is JSON, anything else YAML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _invalid(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    return parse_rule_set(text, source=path.name, format="json" if path.suffix.lower() == ".json" else None,
                          fact_fields=fact_fields)
