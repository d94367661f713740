"""The rule language: rule sets as YAML or JSON, and a safe expression compiler.

Rules are data that risk staff edit, so a mistake must be caught when the set is
loaded (with the line and the reason), never when a customer is waiting. Expressions
are parsed with :mod:`ast` and only a small whitelist of node types is accepted;
each accepted node is turned into a Python closure once, at load. Nothing the rule
author writes is ever passed to ``eval``/``exec`` or compiled to byte code.

Evaluation semantics (see ``docs/rules.md``):

* a fact that is missing is ``None``; any comparison (``< <= > >= == != in not in``)
  with ``None`` on either side is False, except ``x == null`` / ``x != null``, which
  test presence;
* arithmetic with ``None`` gives ``None``; division by zero gives ``None``;
* numbers written in rules are :class:`~decimal.Decimal`; float facts are converted
  to Decimal for arithmetic;
* ``and``/``or``/``not`` use Python truthiness (``None`` is false) and give booleans;
* a window function whose key is absent from ``keys`` gives ``None``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from microlend.errors import ValidationError
from microlend.rules.velocity import EVENT_KINDS, KEY_KINDS, MAX_WINDOW

#: Outcomes in ascending severity: the decision is the most severe outcome among hits.
OUTCOMES = ("approve", "review", "step_up", "reject")
SEVERITY = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
STAGES = ("application", "drawdown")

_SET_FIELDS = ("name", "version", "stage", "description", "rules")
_SET_REQUIRED = ("name", "version", "stage", "rules")
_RULE_FIELDS = ("id", "when", "outcome", "reason", "reason_zh", "points", "description")
_RULE_REQUIRED = ("id", "when", "outcome", "reason")
_RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

#: The facts an expression may name, and the fields of each. ``None``: a collection
#: with no fields (``"income_mismatch" in findings``). The origination code that
#: builds the facts keeps this list in step; a typo in a rule is refused at load.
FACT_FIELDS: dict[str, frozenset[str] | None] = {
    "application": frozenset({
        "income", "industry", "region", "amount", "age", "province", "channel", "product", "term", "customer_id",
        "is_returning", "declared_income", "gender",
    }),
    "keys": frozenset(KEY_KINDS),
    "bureau": frozenset({
        "overdue_now", "overdue_amount", "max_dpd_24m", "enquiries_1m", "enquiries_3m", "enquiries_6m",
        "enquiries_12m", "loans_open", "cards_open", "utilisation", "debt_monthly", "history_months",
        "loans_closed", "defaults", "overdue_count_24m", "has_record", "thin_file",
    }),
    "statements": frozenset({
        "months", "income_monthly_avg", "income_monthly_min", "outflow_monthly_avg", "balance_avg",
        "salary_months", "bounced", "gambling", "income_volatility",
    }),
    "findings": None,
    "line": frozenset({
        "limit", "available", "granted_days_ago", "devices_seen", "drawn", "outstanding", "drawdowns",
        "days_past_due", "status",
    }),
    "lists": frozenset({f"blocked_{kind}" for kind in KEY_KINDS}),
}

_CONSTANT_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_WINDOW_FUNCTIONS = ("count", "distinct", "sum", "max")
_DURATION = re.compile(r"^\s*([0-9]{1,6})\s*(m|h|d|w)\s*$", re.ASCII)
#: Limits that keep a hostile or broken rule file from exhausting the process at load time.
MAX_EXPRESSION_CHARS = 4000
MAX_EXPRESSION_NODES = 400
MAX_EXPRESSION_DEPTH = 40
MAX_RULE_SET_BYTES = 1_000_000
MAX_RULE_SET_DEPTH = 20
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_NOT_CONST = object()


class RuleSyntaxError(Exception):
    """An expression problem, located by line offset within the expression; turned into a ValidationError."""

    def __init__(self, reason: str, offset: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


def _invalid(source: str, line: int | None, reason: str) -> ValidationError:
    where = f"{source}, line {line}" if line else source
    return ValidationError(f"{where}: {reason}", code="invalid_rule_set", field="rules",
                           extra={"line": line, "reason": reason, "source": source})


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"1h"``, ``"24h"``, ``"1d"``, ``"7d"``, ``"1w"``: positive and at most seven days."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"bad duration {text!r}: use a number and a unit m, h, d or w, e.g. '1h' or '7d'")
    span = int(match.group(1)) * _UNITS[match.group(2)]
    if span <= timedelta(0):
        raise ValueError(f"bad duration {text!r}: must be positive")
    if span > MAX_WINDOW:
        raise ValueError(f"bad duration {text!r}: windows are at most 7 days")
    return span


# ---------------------------------------------------------------------------------------------------------------
# Expressions


class _Context:
    """What one evaluation sees: the facts, the velocity store, the time, and a per-evaluation aggregate cache."""

    __slots__ = ("facts", "keys", "store", "now", "cache")

    def __init__(self, facts: Mapping[str, Any], store: Any, now: Any):
        self.facts = facts
        keys = facts.get("keys")
        self.keys = keys if type(keys) is dict or isinstance(keys, Mapping) else {}
        self.store = store
        self.now = now
        self.cache: dict = {}


@dataclass(frozen=True)
class Window:
    """One window aggregate an expression asks for."""

    function: str
    kind: str
    by: str
    within: timedelta
    field: str | None


@dataclass(frozen=True)
class CompiledExpression:
    """An expression compiled to a closure ``fn(context)``; ``windows`` and ``facts`` list what it reads."""

    text: str
    fn: Callable[[_Context], Any] = field(repr=False, compare=False)
    windows: tuple[Window, ...] = ()
    facts: tuple[str, ...] = ()

    def __call__(self, facts: Mapping[str, Any], store: Any = None, now: Any = None) -> Any:
        """Evaluate alone (tests, tools); the engine calls ``fn`` with a shared context."""
        return self.fn(_Context(facts, store, now))


def _num(value: Any) -> Decimal:
    """Arithmetic is on numbers only, as Decimal: text or lists would let a rule build huge values
    (``industry * age``), so they are a rule error (the decision goes to review), never a result."""
    if type(value) is Decimal:
        return value
    if type(value) is int or type(value) is float:
        return Decimal(repr(value)) if type(value) is float else Decimal(value)
    raise TypeError(f"arithmetic needs numbers, not {type(value).__name__}")


def _fact(value: Any) -> Any:
    """A fact as rules see it: floats become Decimal (so 0.7 >= 0.7 holds), non-finite numbers are missing."""
    if type(value) is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if type(value) is Decimal and not value.is_finite():
        return None
    return value


def _add(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _num(a) + _num(b)


def _sub(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _num(a) - _num(b)


def _mul(a: Any, b: Any) -> Any:
    return None if a is None or b is None else _num(a) * _num(b)


def _div(a: Any, b: Any) -> Any:
    if a is None or b is None or b == 0:
        return None
    return Decimal(_num(a)) / Decimal(_num(b))


_BINOPS = {ast.Add: _add, ast.Sub: _sub, ast.Mult: _mul, ast.Div: _div}


def _eq(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a == b


def _ne(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a != b


def _lt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a < b


def _le(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a <= b


def _gt(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a > b


def _ge(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a >= b


def _in(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a in b


def _not_in(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a not in b


_COMPARE = {ast.Eq: _eq, ast.NotEq: _ne, ast.Lt: _lt, ast.LtE: _le, ast.Gt: _gt, ast.GtE: _ge, ast.In: _in,
            ast.NotIn: _not_in}

_FAST_OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
             ast.Gt: operator.gt, ast.GtE: operator.ge}


def _fast_compare(op_type: type, left: Callable[[_Context], Any], right_compiled: tuple) -> Callable[[_Context], Any]:
    """A single comparison as one closure (the hot path: most rules are ``fact_or_window >= number``)."""
    right, constant = right_compiled
    op = _FAST_OPS[op_type]
    if constant is not _NOT_CONST and constant is not None:
        return lambda ctx: (a := left(ctx)) is not None and op(a, constant)
    return lambda ctx: (a := left(ctx)) is not None and (b := right(ctx)) is not None and op(a, b)


_REFUSED = {
    ast.Subscript: "subscripts (x[...]) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Await: "await is not allowed",
}


class _Compiler:
    def __init__(self, fact_fields: Mapping[str, frozenset[str] | None]):
        self.fact_fields = fact_fields
        self.windows: list[Window] = []
        self.facts: list[str] = []

    def fail(self, node: ast.AST, reason: str) -> RuleSyntaxError:
        return RuleSyntaxError(reason, getattr(node, "lineno", 1) - 1)

    def compile(self, node: ast.AST) -> tuple[Callable[[_Context], Any], Any]:
        """Return (closure, constant value or _NOT_CONST)."""
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            reason = _REFUSED.get(type(node)) or f"{type(node).__name__} is not allowed in rule expressions"
            raise self.fail(node, reason)
        return method(node)

    @staticmethod
    def _const(value: Any) -> tuple[Callable[[_Context], Any], Any]:
        return (lambda ctx: value), value

    def _Constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return self._const(value)
        if isinstance(value, int):
            return self._const(Decimal(value))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(node, f"number {value!r} is not finite")
            return self._const(Decimal(repr(value)))
        raise self.fail(node, f"constant {value!r} is not allowed")

    def _Name(self, node: ast.Name):
        if node.id in _CONSTANT_NAMES:
            return self._const(_CONSTANT_NAMES[node.id])
        if node.id in _WINDOW_FUNCTIONS:
            raise self.fail(node, f"{node.id} is a window function: call it, e.g. {node.id}(...)")
        if node.id not in self.fact_fields:
            raise self.fail(node, f"unknown fact {node.id!r} (known: {', '.join(sorted(self.fact_fields))})")
        return self._path((node.id,)), _NOT_CONST

    def _Attribute(self, node: ast.Attribute):
        parts: list[str] = []
        cur: ast.AST = node
        while isinstance(cur, ast.Attribute):
            if cur.attr.startswith("_"):
                raise self.fail(node, f"attribute {cur.attr!r} is not allowed (names may not start with '_')")
            parts.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name):
            raise self.fail(node, "attributes are allowed only on fact names, e.g. bureau.enquiries_3m")
        root = cur.id
        if root not in self.fact_fields:
            raise self.fail(node, f"unknown fact {root!r} (known: {', '.join(sorted(self.fact_fields))})")
        parts.append(root)
        parts.reverse()
        allowed = self.fact_fields[root]
        if allowed is None:
            raise self.fail(node, f"{root!r} has no fields; use it as a collection, e.g. \"code\" in {root}")
        if parts[1] not in allowed:
            raise self.fail(node, f"unknown field {'.'.join(parts[:2])!r} (known: {', '.join(sorted(allowed))})")
        return self._path(tuple(parts)), _NOT_CONST

    def _path(self, parts: tuple[str, ...]) -> Callable[[_Context], Any]:
        self.facts.append(".".join(parts))
        if len(parts) == 1:
            (root,) = parts

            def get_root(ctx: _Context) -> Any:
                return ctx.facts.get(root)

            return get_root
        if len(parts) == 2:
            root, name = parts

            def get_field(ctx: _Context) -> Any:
                value = ctx.facts.get(root)
                if type(value) is dict or isinstance(value, Mapping):
                    return _fact(value.get(name))
                return None

            return get_field

        def get_path(ctx: _Context) -> Any:
            value: Any = ctx.facts
            for part in parts:
                if type(value) is dict or isinstance(value, Mapping):
                    value = value.get(part)
                else:
                    return None
            return _fact(value)

        return get_path

    def _seq(self, node: ast.List | ast.Tuple | ast.Set):
        items = [self.compile(element) for element in node.elts]
        if all(const is not _NOT_CONST for _, const in items):
            values = tuple(const for _, const in items)
            try:
                return self._const(frozenset(values))
            except TypeError:
                return self._const(values)
        fns = [fn for fn, _ in items]
        return (lambda ctx: [fn(ctx) for fn in fns]), _NOT_CONST

    _List = _Tuple = _Set = _seq

    def _BoolOp(self, node: ast.BoolOp):
        fns = [self.compile(value)[0] for value in node.values]
        if isinstance(node.op, ast.And):
            if len(fns) == 2:
                a, b = fns
                return (lambda ctx: bool(a(ctx)) and bool(b(ctx))), _NOT_CONST

            def all_of(ctx: _Context) -> bool:
                for fn in fns:
                    if not fn(ctx):
                        return False
                return True

            return all_of, _NOT_CONST
        if len(fns) == 2:
            a, b = fns
            return (lambda ctx: bool(a(ctx)) or bool(b(ctx))), _NOT_CONST

        def any_of(ctx: _Context) -> bool:
            for fn in fns:
                if fn(ctx):
                    return True
            return False

        return any_of, _NOT_CONST

    def _UnaryOp(self, node: ast.UnaryOp):
        fn, _ = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            return (lambda ctx: not fn(ctx)), _NOT_CONST
        if isinstance(node.op, ast.USub):
            if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)) \
                    and not isinstance(node.operand.value, bool):
                return self._const(-fn(None))

            def negate(ctx: _Context) -> Any:
                value = fn(ctx)
                return None if value is None else -_num(value)

            return negate, _NOT_CONST
        if isinstance(node.op, ast.UAdd):
            return fn, _NOT_CONST
        raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")

    def _BinOp(self, node: ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed (use + - * /)")
        (left, left_const), (right, right_const) = self.compile(node.left), self.compile(node.right)
        for side, constant in ((node.left, left_const), (node.right, right_const)):
            if constant is not _NOT_CONST and not (isinstance(constant, Decimal) and not isinstance(constant, bool)):
                raise self.fail(side, "arithmetic (+ - * /) is on numbers only")
        return (lambda ctx: op(left(ctx), right(ctx))), _NOT_CONST

    def _Compare(self, node: ast.Compare):
        operands = [node.left, *node.comparators]
        compiled = [self.compile(operand) for operand in operands]
        steps = []
        for i, op in enumerate(node.ops):
            (left, left_const), (right, right_const) = compiled[i], compiled[i + 1]
            is_null_test = isinstance(op, (ast.Eq, ast.NotEq)) and (
                (left_const is None and _is_null(operands[i])) or (right_const is None and _is_null(operands[i + 1])))
            if is_null_test:
                if isinstance(op, ast.Eq):
                    steps.append((left, right, lambda a, b: a is None and b is None))
                else:
                    steps.append((left, right, lambda a, b: (a is None) != (b is None)))
                continue
            check = _COMPARE.get(type(op))
            if check is None:
                raise self.fail(node, f"comparison {type(op).__name__} is not allowed")
            steps.append((left, right, check))
        if len(steps) == 1 and type(node.ops[0]) in _FAST_OPS and steps[0][2] is _COMPARE[type(node.ops[0])]:
            return _fast_compare(type(node.ops[0]), compiled[0][0], compiled[1]), _NOT_CONST
        if len(steps) == 1:
            left, right, check = steps[0]
            return (lambda ctx: check(left(ctx), right(ctx))), _NOT_CONST
        fns = [fn for fn, _ in compiled]
        checks = [check for _, _, check in steps]

        def chained(ctx: _Context) -> bool:
            left_value = fns[0](ctx)
            for check, fn in zip(checks, fns[1:]):
                right_value = fn(ctx)
                if not check(left_value, right_value):
                    return False
                left_value = right_value
            return True

        return chained, _NOT_CONST

    def _Call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only the window functions count, distinct, sum and max may be called")
        name = node.func.id
        if name not in _WINDOW_FUNCTIONS:
            raise self.fail(node, f"unknown function {name!r} (allowed: count, distinct, sum, max)")
        args: dict[str, str] = {}
        positional = ("kind",) if name == "count" else ("kind", "field")
        allowed = {"kind", "by", "within"} | ({"field"} if name != "count" else set())
        if len(node.args) > len(positional):
            raise self.fail(node, f"{name}() takes at most {len(positional)} positional argument(s)")
        pairs = list(zip(positional, node.args)) + [(kw.arg, kw.value) for kw in node.keywords]
        for key, value in pairs:
            if key is None:
                raise self.fail(node, f"{name}(): ** arguments are not allowed")
            if key not in allowed:
                raise self.fail(node, f"{name}(): unknown keyword {key!r} (allowed: {', '.join(sorted(allowed))})")
            if key in args:
                raise self.fail(node, f"{name}(): {key} given twice")
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                raise self.fail(node, f"{name}(): {key} must be a quoted string")
            args[key] = value.value
        for key in ("kind", "by", "within"):
            if key not in args:
                raise self.fail(node, f"{name}(): {key} is required")
        if args["kind"] not in EVENT_KINDS:
            raise self.fail(node, f"{name}(): unknown event kind {args['kind']!r} (known: {', '.join(EVENT_KINDS)})")
        if args["by"] not in KEY_KINDS:
            raise self.fail(node, f"{name}(): unknown key {args['by']!r} for by= (known: {', '.join(KEY_KINDS)})")
        try:
            within = parse_duration(args["within"])
        except ValueError as exc:
            raise self.fail(node, f"{name}(): {exc}") from None
        field_name: str | None = None
        if name == "distinct":
            field_name = args.get("field")
            if field_name not in KEY_KINDS:
                raise self.fail(node, f"distinct(): field must be one of {', '.join(KEY_KINDS)}, not {field_name!r}")
        elif name in ("sum", "max"):
            field_name = args.get("field", "amount")
            if field_name != "amount":
                raise self.fail(node, f"{name}(): field must be 'amount', not {field_name!r}")
        window = Window(name, args["kind"], args["by"], within, field_name)
        self.windows.append(window)
        return _window_fn(window), _NOT_CONST

    def _Expression(self, node: ast.Expression):
        return self.compile(node.body)


def _is_null(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Name) and node.id in ("null", "None"))


def _window_fn(window: Window) -> Callable[[_Context], Any]:
    function, kind, by, within, field_name = window.function, window.kind, window.by, window.within, window.field
    cache_key = (function, kind, by, within, field_name)

    def aggregate(ctx: _Context) -> Any:
        value = ctx.keys.get(by)
        if not value:
            return None
        cache = ctx.cache
        result = cache.get(cache_key)
        if result is None:
            extra = {"include": ctx.keys.get(field_name)} if function == "distinct" else {}  # the asker counts too
            result = cache[cache_key] = ctx.store.aggregate(function=function, kind=kind, by=by, value=value,
                                                            within=within, now=ctx.now, field=field_name, **extra)
        return result

    return aggregate


def _check_size(tree: ast.AST) -> None:
    """Refuse expressions too big or too deep to compile and evaluate safely (counted without recursion)."""
    count, stack = 0, [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_EXPRESSION_NODES:
            raise RuleSyntaxError(f"the expression has more than {MAX_EXPRESSION_NODES} parts")
        if depth > MAX_EXPRESSION_DEPTH:
            raise RuleSyntaxError(f"the expression is nested more than {MAX_EXPRESSION_DEPTH} deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def compile_expression(text: str, *, fact_fields: Mapping[str, frozenset[str] | None] | None = None
                       ) -> CompiledExpression:
    """Compile one expression; raises :class:`RuleSyntaxError` (with a line offset) when refused."""
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError("the expression is empty")
    source = text.strip()
    if len(source) > MAX_EXPRESSION_CHARS:
        raise RuleSyntaxError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse("(" + source + "\n)", mode="eval")
    except SyntaxError as exc:
        raise RuleSyntaxError(f"syntax error: {exc.msg}", max((exc.lineno or 1) - 1, 0)) from None
    except (RecursionError, MemoryError, ValueError):
        raise RuleSyntaxError("the expression is too deeply nested") from None
    _check_size(tree)
    compiler = _Compiler(FACT_FIELDS if fact_fields is None else fact_fields)
    fn, _ = compiler.compile(tree)
    return CompiledExpression(source, fn, tuple(dict.fromkeys(compiler.windows)), tuple(dict.fromkeys(compiler.facts)))


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


def _json_tree(text: str, source: str) -> _Node:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen[key] = value
        return seen

    if len(text.encode("utf-8", errors="replace")) > MAX_RULE_SET_BYTES:
        raise _invalid(source, None, f"the rule set is larger than {MAX_RULE_SET_BYTES} bytes")
    try:
        json.loads(text, object_pairs_hook=no_duplicates, parse_float=Decimal)
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
