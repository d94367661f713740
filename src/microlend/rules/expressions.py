"""Rule expressions: a safe compiler from a whitelisted subset of Python syntax to closures.

Rules are data that risk staff edit, so an expression is parsed with :mod:`ast` and only a small
whitelist of node types is accepted; each accepted node is turned into a Python closure once, at load.
Nothing the rule author writes is ever passed to ``eval``/``exec`` or compiled to byte code.

Evaluation semantics (see ``docs/rules.md``):

* a fact that is missing is ``None``; any comparison (``< <= > >= == != in not in``)
  with ``None`` on either side is False, except ``x == null`` / ``x != null``, which
  test presence;
* arithmetic is on numbers only, as Decimal; with ``None`` it gives ``None``; division by zero gives ``None``;
* numbers written in rules are :class:`~decimal.Decimal`; float facts are read as Decimal;
* ``and``/``or``/``not`` use Python truthiness (``None`` is false) and give booleans;
* a window function whose key is absent from ``keys`` gives ``None``.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from microlend.rules.velocity import EVENT_KINDS, KEY_KINDS, MAX_WINDOW

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
        "salary_months", "income_volatility",
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
#: Limits that keep a hostile or broken expression from exhausting the process at load time.
MAX_EXPRESSION_CHARS = 4000
MAX_EXPRESSION_NODES = 400
MAX_EXPRESSION_DEPTH = 40
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_NOT_CONST = object()


class RuleSyntaxError(Exception):
    """An expression problem, located by line offset within the expression; turned into a ValidationError."""

    def __init__(self, reason: str, offset: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


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
