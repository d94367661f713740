"""The credit policy as a versioned JSON document: parsing, validation, canonical form.

A policy is data that credit staff edit, like a rule set, so every mistake is
refused when the document is loaded, naming the JSON path that is wrong
(``$.bands.D.limit_factor``), never when a customer is waiting. Numbers are
Decimal from first to last: JSON numbers are read as Decimal and floats handed
in as Python objects are refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cache, cached_property
from importlib import resources
from types import MappingProxyType
from typing import Any

from microlend.errors import ValidationError
from microlend.rules.language import no_duplicate_keys

__all__ = ["BAND_ACTIONS", "MAX_COVER_SHARE_PLACES", "MAX_DESCRIPTION_CHARS", "MAX_INCOME_MULTIPLE",
           "MAX_INDUSTRY_CHARS", "MAX_INSURER_NAME_CHARS", "MAX_NAME_CHARS", "MAX_PLACES", "MAX_POLICY_BYTES",
           "MAX_VALUE_RATIO", "MAX_VERSION", "MIN_VALUE_RATIO", "Band", "BandOverride", "Collateral", "DebtBurden",
           "Downturn", "Insurer", "Policy", "Prudence", "RiskSharingTerms", "default_policy", "parse_policy",
           "with_downturn"]

#: What a score band leads to: a plain approval, an approval only with risk sharing, or a decline.
BAND_ACTIONS = ("approve", "risk_share", "reject")
#: A hostile or broken document must not exhaust the process at load time.
MAX_POLICY_BYTES = 1_000_000
#: Versions are stored as 32-bit integers (policy_versions.version, decision_records.policy_version).
MAX_VERSION = 2_147_483_647
#: Text limits: the name fits policy_versions.name (String(80)); an industry key must be one an application can
#: carry (applications.industry, 1-40 printable characters in lower case).
MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 2000
MAX_INSURER_NAME_CHARS = 100
MAX_INDUSTRY_CHARS = 40
#: Number limits. Every policy number is bounded, so no decision can overflow the Decimal context: a band lends
#: at most 100 times income, collateral must be worth 0.1 to 10 times the limit it backs, and no number has more
#: than 10 decimal places (a cover share at most 4: risk_sharing_arrangements.cover_share is NUMERIC(6, 4)).
MAX_INCOME_MULTIPLE = Decimal(100)
MIN_VALUE_RATIO = Decimal("0.1")
MAX_VALUE_RATIO = Decimal(10)
MAX_PLACES = 10
MAX_COVER_SHARE_PLACES = 4

# Used with fullmatch: "$" alone would let a trailing newline through ("44\n").
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BAND = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,15}")
_REGION = re.compile(r"[0-9]{2}")
_INSURER = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ONE = Decimal(1)


@dataclass(frozen=True)
class Band:
    """What one score band gets; ``limit_factor`` scales the limit (1 = none)."""

    action: str
    income_multiple: Decimal | None = None
    daily_rate: Decimal | None = None
    limit_factor: Decimal = _ONE


@dataclass(frozen=True)
class BandOverride:
    """A downturn change to one band: the fields given replace the band's own."""

    action: str | None = None
    income_multiple: Decimal | None = None
    daily_rate: Decimal | None = None
    limit_factor: Decimal | None = None

    def apply(self, band: Band) -> Band:
        changes = {k: getattr(self, k) for k in ("action", "income_multiple", "daily_rate", "limit_factor")
                   if getattr(self, k) is not None}
        return replace(band, **changes)


@dataclass(frozen=True)
class DebtBurden:
    """Repayments may take at most ``max_ratio`` of income; the room left, times the months, caps the limit."""

    max_ratio: Decimal
    capacity_months: Decimal


@dataclass(frozen=True)
class Prudence:
    """Factors (0..1) that shrink limits in regions and industries the lender is wary of."""

    regions: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    industries: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Insurer:
    name: str
    cover_share: Decimal


@dataclass(frozen=True)
class Collateral:
    """Collateral worth ``min_value_ratio`` times the limit is needed (1.0: value covers the limit)."""

    min_value_ratio: Decimal


@dataclass(frozen=True)
class RiskSharingTerms:
    """Which risk sharing the lender accepts for a marginal band; absent means not accepted."""

    insurers: Mapping[str, Insurer] = field(default_factory=lambda: MappingProxyType({}))
    collateral: Collateral | None = None
    guarantor_enabled: bool = False


@dataclass(frozen=True)
class Downturn:
    """Band overrides that apply only while ``on`` (flipped by :func:`with_downturn`)."""

    on: bool = False
    bands: Mapping[str, BandOverride] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Policy:
    """A named, versioned, validated credit policy."""

    name: str
    version: int
    bands: Mapping[str, Band]
    unverified_income_factor: Decimal
    debt_burden: DebtBurden
    prudence: Prudence = field(default_factory=Prudence)
    risk_sharing: RiskSharingTerms = field(default_factory=RiskSharingTerms)
    downturn: Downturn = field(default_factory=Downturn)
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def band(self, name: str) -> Band | None:
        """The band as it applies now: with its downturn override when the downturn is on."""
        band = self.bands.get(name)
        if band is not None and self.downturn.on and name in self.downturn.bands:
            band = self.downturn.bands[name].apply(band)
        return band

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON-ready document (numbers as plain strings); parses back to an equal policy."""
        rs = self.risk_sharing
        sharing: dict[str, Any] = {"insurers": {k: {"name": v.name, "cover_share": _num(v.cover_share)}
                                                for k, v in rs.insurers.items()},
                                   "guarantor": {"enabled": rs.guarantor_enabled}}
        if rs.collateral is not None:
            sharing["collateral"] = {"min_value_ratio": _num(rs.collateral.min_value_ratio)}
        return {
            "name": self.name, "version": self.version, "description": self.description,
            "bands": {k: _band_doc(v) for k, v in self.bands.items()},
            "unverified_income_factor": _num(self.unverified_income_factor),
            "debt_burden": {"max_ratio": _num(self.debt_burden.max_ratio),
                            "capacity_months": _num(self.debt_burden.capacity_months)},
            "prudence": {"regions": {k: _num(v) for k, v in self.prudence.regions.items()},
                         "industries": {k: _num(v) for k, v in self.prudence.industries.items()}},
            "risk_sharing": sharing,
            "downturn": {"on": self.downturn.on, "bands": {k: _band_doc(v) for k, v in self.downturn.bands.items()}},
        }

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: equal for the same policy however it was written."""
        canonical = json.dumps(self.to_document(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _band_doc(band: Band | BandOverride) -> dict[str, str]:
    doc = {"action": band.action} if band.action is not None else {}
    for key in ("income_multiple", "daily_rate", "limit_factor"):
        value = getattr(band, key)
        if value is not None and not (key == "limit_factor" and isinstance(band, Band) and value == _ONE):
            doc[key] = _num(value)
    return doc


# ---------------------------------------------------------------------------------------------------------------
# Parsing


def _invalid(path: str, reason: str) -> ValidationError:
    return ValidationError(f"invalid policy at {path}: {reason}", code="invalid_policy", field=path,
                           extra={"path": path, "reason": reason})


def _at(parent: str, key: str) -> str:
    if _IDENT.fullmatch(key):
        return f"{parent}.{key}"
    # A key that is not valid Unicode (a lone surrogate) is escaped, so the path itself can be sent as UTF-8.
    return f"{parent}[{json.dumps(key, ensure_ascii=not _encodable(key))}]"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _mapping(value: Any, path: str, allowed: tuple[str, ...] | None = None,
             required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(path, "must be an object")
    for key in value:
        if not isinstance(key, str):
            raise _invalid(path, f"keys must be strings, not {key!r}")
        if allowed is not None and key not in allowed:
            raise _invalid(_at(path, key), f"unknown key {key!r}; allowed: {', '.join(allowed)}")
    for key in required:
        if key not in value:
            raise _invalid(_at(path, key), "is required")
    return value


def _places(number: Decimal) -> int:
    """Decimal places of the exact value, trailing zeros not counted ("0.500" has 1)."""
    _, digits, exponent = number.as_tuple()
    if not any(digits):
        return 0
    text = "".join(map(str, digits))
    trailing = len(text) - len(text.rstrip("0"))
    return max(0, -(int(exponent) + trailing))


def _decimal(value: Any, path: str, *, low: Decimal = Decimal(0), low_open: bool = False,
             high: Decimal, high_open: bool = False, whole: bool = False, places: int = MAX_PLACES) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise _invalid(path, f"must be a decimal string or an integer, not {type(value).__name__} {value!r}")
    if isinstance(value, (Decimal, int)):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _invalid(path, f"not a number: {value!r}") from None
    else:
        raise _invalid(path, f"must be a decimal string, not {type(value).__name__}")
    if not number.is_finite():
        raise _invalid(path, f"must be a finite number, not {value!r}")
    if number < low or (low_open and number == low):
        raise _invalid(path, f"must be {'above' if low_open else 'at least'} {low}, not {value}")
    if number > high or (high_open and number == high):
        raise _invalid(path, f"must be {'below' if high_open else 'at most'} {high}, not {value}")
    if whole and number != number.to_integral_value():
        raise _invalid(path, f"must be a whole number, not {value}")
    if _places(number) > places:
        raise _invalid(path, f"must have at most {places} decimal places, not {value}")
    # Within the places, the exponent may still be extreme ("0E-100000000", "0.5" and a million zeros, "1E+2"):
    # bring it to -places..0, so formatting the number never spells out a huge run of zeros.
    exponent = int(number.as_tuple().exponent)
    if exponent < -places or exponent > 0:
        number = number.quantize(Decimal(1).scaleb(-min(places, _places(number))))
    return number


def _factor(value: Any, path: str, *, zero: bool = True, places: int = MAX_PLACES) -> Decimal:
    return _decimal(value, path, low=Decimal(0), low_open=not zero, high=_ONE, places=places)


def _string(value: Any, path: str, *, max_chars: int, empty: bool = False, one_line: bool = True) -> str:
    """A string that can be stored: valid Unicode (no lone surrogate), within ``max_chars``, printable characters
    only (no NUL, which PostgreSQL text cannot hold), and on one line unless ``one_line`` is off (then line breaks
    and tabs are allowed too)."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _invalid(path, "must be a string" if empty else "must be a non-empty string")
    if not _encodable(value):
        raise _invalid(path, "must be valid Unicode text (it holds a lone surrogate)")
    if len(value) > max_chars:
        raise _invalid(path, f"must be at most {max_chars} characters, not {len(value)}")
    if not value.isprintable() and (one_line or not value.translate(_BREAKS).isprintable()):
        raise _invalid(path, "must hold only printable characters (no control characters"
                             f"{' or line breaks' if one_line else ' other than line breaks and tabs'})")
    return value


_BREAKS = str.maketrans("", "", "\n\r\t")


_BAND_KEYS = ("action", "income_multiple", "daily_rate", "limit_factor")


def _band_fields(value: Any, path: str) -> dict[str, Any]:
    data = _mapping(value, path, _BAND_KEYS)
    out: dict[str, Any] = {}
    if "action" in data:
        if data["action"] not in BAND_ACTIONS:
            raise _invalid(_at(path, "action"), f"unknown action {data['action']!r}; known: {', '.join(BAND_ACTIONS)}")
        out["action"] = data["action"]
    if "income_multiple" in data:
        out["income_multiple"] = _decimal(data["income_multiple"], _at(path, "income_multiple"), low_open=True,
                                          high=MAX_INCOME_MULTIPLE)
    if "daily_rate" in data:  # below 1 % a day, the ceiling every product keeps to
        out["daily_rate"] = _decimal(data["daily_rate"], _at(path, "daily_rate"), low_open=True,
                                     high=Decimal("0.01"), high_open=True)
    if "limit_factor" in data:
        out["limit_factor"] = _factor(data["limit_factor"], _at(path, "limit_factor"))
    return out


def _complete(band: Band, path: str) -> Band:
    """A band that approves must say how much and at what price."""
    if band.action != "reject":
        for key in ("income_multiple", "daily_rate"):
            if getattr(band, key) is None:
                raise _invalid(_at(path, key), f"is required when the action is {band.action}")
    return band


def _bands(value: Any, path: str) -> dict[str, Band]:
    data = _mapping(value, path)
    if not data:
        raise _invalid(path, "must name at least one band")
    bands: dict[str, Band] = {}
    for name, item in data.items():
        where = _at(path, name)
        if not _BAND.fullmatch(name):
            raise _invalid(where, f"band name {name!r} must be 1-16 letters, digits, '_', '+' or '-'")
        fields_ = _band_fields(item, where)
        if "action" not in fields_:
            raise _invalid(_at(where, "action"), "is required")
        bands[name] = _complete(Band(**fields_), where)
    return bands


def _prudence(value: Any, path: str) -> Prudence:
    data = _mapping(value, path, ("regions", "industries"))
    regions: dict[str, Decimal] = {}
    for code, factor in _mapping(data.get("regions", {}), _at(path, "regions")).items():
        where = _at(_at(path, "regions"), code)
        if not _REGION.fullmatch(code):
            raise _invalid(where, f"region {code!r} must be a 2-digit province code")
        regions[code] = _factor(factor, where)
    industries: dict[str, Decimal] = {}
    for name, factor in _mapping(data.get("industries", {}), _at(path, "industries")).items():
        where = _at(_at(path, "industries"), name)
        # applications carry industries normalised to lower case: 1-40 printable characters
        key = _string(name, where, max_chars=MAX_POLICY_BYTES, one_line=False).strip().lower()
        if len(key) > MAX_INDUSTRY_CHARS or not key.isprintable():
            raise _invalid(where, f"industry {name!r} must be 1 to {MAX_INDUSTRY_CHARS} printable characters "
                                  "in lower case")
        if key in industries:
            raise _invalid(where, f"industry {name!r} is listed twice (industries are compared in lower case)")
        industries[key] = _factor(factor, where)
    return Prudence(MappingProxyType(regions), MappingProxyType(industries))


def _risk_sharing(value: Any, path: str) -> RiskSharingTerms:
    data = _mapping(value, path, ("insurers", "collateral", "guarantor"))
    insurers: dict[str, Insurer] = {}
    ins_path = _at(path, "insurers")
    for code, item in _mapping(data.get("insurers", {}), ins_path).items():
        where = _at(ins_path, code)
        if not _INSURER.fullmatch(code):
            raise _invalid(where, f"insurer id {code!r} must be lower-case letters, digits, '_' or '-'")
        entry = _mapping(item, where, ("name", "cover_share"), ("name", "cover_share"))
        insurers[code] = Insurer(_string(entry["name"], _at(where, "name"), max_chars=MAX_INSURER_NAME_CHARS),
                                 _factor(entry["cover_share"], _at(where, "cover_share"), zero=False,
                                         places=MAX_COVER_SHARE_PLACES))
    collateral = None
    if "collateral" in data:
        where = _at(path, "collateral")
        entry = _mapping(data["collateral"], where, ("min_value_ratio",), ("min_value_ratio",))
        collateral = Collateral(_decimal(entry["min_value_ratio"], _at(where, "min_value_ratio"),
                                         low=MIN_VALUE_RATIO, high=MAX_VALUE_RATIO))
    enabled = False
    if "guarantor" in data:
        where = _at(path, "guarantor")
        entry = _mapping(data["guarantor"], where, ("enabled",), ("enabled",))
        enabled = entry["enabled"]
        if not isinstance(enabled, bool):
            raise _invalid(_at(where, "enabled"), "must be true or false")
    return RiskSharingTerms(MappingProxyType(insurers), collateral, enabled)


def _downturn(value: Any, path: str, bands: Mapping[str, Band]) -> Downturn:
    data = _mapping(value, path, ("on", "bands"))
    on = data.get("on", False)
    if not isinstance(on, bool):
        raise _invalid(_at(path, "on"), "must be true or false")
    overrides: dict[str, BandOverride] = {}
    bands_path = _at(path, "bands")
    for name, item in _mapping(data.get("bands", {}), bands_path).items():
        where = _at(bands_path, name)
        if name not in bands:
            raise _invalid(where, f"band {name!r} is not one of the policy's bands ({', '.join(bands)})")
        override = BandOverride(**_band_fields(item, where))
        _complete(override.apply(bands[name]), where)  # the band must stay whole once overridden
        overrides[name] = override
    return Downturn(on, MappingProxyType(overrides))


_TOP = ("name", "version", "description", "bands", "unverified_income_factor", "debt_burden", "prudence",
        "risk_sharing", "downturn")
_TOP_REQUIRED = ("name", "version", "bands", "unverified_income_factor", "debt_burden")


def _load_json(text: str) -> Any:
    if len(text.encode("utf-8", errors="replace")) > MAX_POLICY_BYTES:
        raise _invalid("$", f"the policy is larger than {MAX_POLICY_BYTES} bytes")
    try:  # NaN and Infinity become Decimal so the number check names their path
        return json.loads(text, object_pairs_hook=no_duplicate_keys, parse_float=Decimal, parse_constant=Decimal)
    except RecursionError:
        raise _invalid("$", "the policy is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise _invalid("$", f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise _invalid("$", str(exc)) from None


def parse_policy(text: str | Mapping[str, Any]) -> Policy:
    """Parse and validate a policy from JSON text or an already-decoded mapping.

    Raises :class:`~microlend.errors.ValidationError` with code ``invalid_policy`` and ``field`` set to the
    JSON path at fault.
    """
    data = _load_json(text) if isinstance(text, str) else text
    top = _mapping(data, "$", _TOP, _TOP_REQUIRED)
    name = _string(top["name"], "$.name", max_chars=MAX_NAME_CHARS)
    version = top["version"]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise _invalid("$.version", f"must be an integer from 1 to {MAX_VERSION}, not {version!r}")
    bands = _bands(top["bands"], "$.bands")
    burden = _mapping(top["debt_burden"], "$.debt_burden", ("max_ratio", "capacity_months"),
                      ("max_ratio", "capacity_months"))
    return Policy(
        name=name, version=version,
        description=_string(top.get("description", ""), "$.description", max_chars=MAX_DESCRIPTION_CHARS,
                            empty=True, one_line=False),
        bands=MappingProxyType(bands),
        unverified_income_factor=_factor(top["unverified_income_factor"], "$.unverified_income_factor"),
        debt_burden=DebtBurden(
            max_ratio=_factor(burden["max_ratio"], "$.debt_burden.max_ratio", zero=False),
            capacity_months=_decimal(burden["capacity_months"], "$.debt_burden.capacity_months", low_open=True,
                                     high=Decimal(360), whole=True)),
        prudence=_prudence(top.get("prudence", {}), "$.prudence"),
        risk_sharing=_risk_sharing(top.get("risk_sharing", {}), "$.risk_sharing"),
        downturn=_downturn(top.get("downturn", {}), "$.downturn", bands),
    )


@cache
def default_policy() -> Policy:
    """The policy the platform ships with (package data ``rules/builtin/policy.json``), parsed once."""
    text = resources.files("microlend.rules").joinpath("builtin", "policy.json").read_text(encoding="utf-8")
    return parse_policy(text)


def with_downturn(policy: Policy, on: bool) -> Policy:
    """The same policy with the downturn switched ``on`` or off, as the next version (stored as a new row)."""
    if not isinstance(on, bool):
        raise ValidationError("on must be true or false", code="invalid_policy", field="$.downturn.on")
    if policy.version >= MAX_VERSION:
        raise _invalid("$.version", f"version {policy.version} has no next version (at most {MAX_VERSION})")
    return replace(policy, version=policy.version + 1, downturn=replace(policy.downturn, on=on))
