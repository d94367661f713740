"""The credit policy document: parsing, canonical form and fingerprint, downturn versions, errors by JSON path."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest

from microlend.errors import ValidationError
from microlend.rules.policy import default_policy, parse_policy, with_downturn
from microlend.rules.policy_document import MAX_POLICY_BYTES, MAX_VERSION, Band, BandOverride

DOC = {
    "name": "test-policy", "version": 3, "description": "for tests",
    "bands": {
        "A": {"action": "approve", "income_multiple": "3.0", "daily_rate": "0.0002"},
        "D": {"action": "risk_share", "income_multiple": "1.5", "daily_rate": "0.00035", "limit_factor": "0.8"},
        "E": {"action": "reject"},
    },
    "unverified_income_factor": "0.7",
    "debt_burden": {"max_ratio": "0.5", "capacity_months": "12"},
    "prudence": {"regions": {"44": "0.8"}, "industries": {"Construction": "0.8"}},
    "risk_sharing": {"insurers": {"picc": {"name": "PICC", "cover_share": "0.6"}},
                     "collateral": {"min_value_ratio": "1.0"}, "guarantor": {"enabled": True}},
    "downturn": {"on": False, "bands": {"A": {"limit_factor": "0.9"}, "D": {"action": "reject"}}},
}


def doc(**changes) -> dict:
    data = copy.deepcopy(DOC)
    data.update(changes)
    return data


def error(source) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_policy(source)
    assert info.value.code == "invalid_policy"
    assert info.value.field == info.value.extra["path"]
    return info.value


# --- parsing -----------------------------------------------------------------------------------------------------

def test_parses_every_section_as_decimal():
    policy = parse_policy(json.dumps(DOC))
    assert (policy.name, policy.version, policy.description, policy.label) == ("test-policy", 3, "for tests",
                                                                                "test-policy@3")
    assert policy.bands["A"] == Band("approve", Decimal("3.0"), Decimal("0.0002"), Decimal(1))
    assert policy.bands["D"].limit_factor == Decimal("0.8")
    assert policy.bands["E"] == Band("reject")
    assert policy.unverified_income_factor == Decimal("0.7")
    assert (policy.debt_burden.max_ratio, policy.debt_burden.capacity_months) == (Decimal("0.5"), Decimal(12))
    assert dict(policy.prudence.regions) == {"44": Decimal("0.8")}
    assert dict(policy.prudence.industries) == {"construction": Decimal("0.8")}  # normalised to lower case
    assert policy.risk_sharing.insurers["picc"].cover_share == Decimal("0.6")
    assert policy.risk_sharing.collateral.min_value_ratio == Decimal("1.0")
    assert policy.risk_sharing.guarantor_enabled is True
    assert policy.downturn.on is False
    assert policy.downturn.bands["D"] == BandOverride(action="reject")
    for value in (policy.bands["A"].income_multiple, policy.unverified_income_factor):
        assert type(value) is Decimal


def test_json_numbers_are_read_as_decimal_not_float():
    text = json.dumps(DOC).replace('"0.7"', "0.7").replace('"12"', "12")
    policy = parse_policy(text)
    assert policy.unverified_income_factor == Decimal("0.7") and type(policy.unverified_income_factor) is Decimal
    assert policy.debt_burden.capacity_months == 12


def test_optional_sections_default_to_nothing_accepted():
    data = doc()
    for key in ("prudence", "risk_sharing", "downturn", "description"):
        del data[key]
    policy = parse_policy(data)
    assert not policy.prudence.regions and not policy.prudence.industries
    assert not policy.risk_sharing.insurers and policy.risk_sharing.collateral is None
    assert policy.risk_sharing.guarantor_enabled is False
    assert policy.downturn.on is False and not policy.downturn.bands
    assert policy.description == ""


def test_default_policy_is_the_reference_document():
    policy = default_policy()
    assert policy.name == "default-policy" and policy.version == 1
    assert list(policy.bands) == ["A", "B", "C", "D", "E"]
    assert [policy.bands[b].action for b in "ABCDE"] == ["approve", "approve", "approve", "risk_share", "reject"]
    assert [policy.bands[b].income_multiple for b in "ABCD"] == [Decimal("3"), Decimal("2.5"), Decimal("2"),
                                                                 Decimal("1.5")]
    assert [policy.bands[b].daily_rate for b in "ABCD"] == [Decimal("0.0002"), Decimal("0.00025"),
                                                            Decimal("0.0003"), Decimal("0.00035")]
    assert policy.bands["D"].limit_factor == Decimal("0.8")
    assert policy.unverified_income_factor == Decimal("0.7")
    assert policy.debt_burden.max_ratio == Decimal("0.5") and policy.debt_burden.capacity_months == 12
    assert policy.risk_sharing.insurers["picc"].cover_share == Decimal("0.6")
    assert policy.downturn.on is False
    assert policy.downturn.bands["C"] == BandOverride(action="risk_share", limit_factor=Decimal("0.7"))
    assert default_policy() is policy  # parsed once


# --- canonical form, fingerprint, downturn versions -------------------------------------------------------------

def test_to_document_round_trips_and_is_plain_json():
    policy = parse_policy(DOC)
    document = policy.to_document()
    assert parse_policy(document) == policy
    assert parse_policy(json.dumps(document)) == policy
    assert document["bands"]["A"] == {"action": "approve", "income_multiple": "3", "daily_rate": "0.0002"}
    assert document["bands"]["D"]["limit_factor"] == "0.8"
    assert document["prudence"]["industries"] == {"construction": "0.8"}
    assert document["downturn"] == {"on": False, "bands": {"A": {"limit_factor": "0.9"}, "D": {"action": "reject"}}}


def test_fingerprint_ignores_spelling_but_not_meaning():
    policy = parse_policy(DOC)
    respelled = doc(bands={**DOC["bands"], "A": {"daily_rate": "0.00020", "income_multiple": 3, "action": "approve",
                                                 "limit_factor": "1"}})
    assert parse_policy(respelled).fingerprint == policy.fingerprint
    assert len(policy.fingerprint) == 64
    changed = doc(unverified_income_factor="0.6")
    assert parse_policy(changed).fingerprint != policy.fingerprint


def test_with_downturn_is_the_next_version_with_the_flag_flipped():
    policy = parse_policy(DOC)
    on = with_downturn(policy, True)
    assert (on.version, on.downturn.on) == (4, True)
    assert on.bands == policy.bands and on.downturn.bands == policy.downturn.bands
    assert on.fingerprint != policy.fingerprint
    assert on.band("A").limit_factor == Decimal("0.9") and policy.band("A").limit_factor == 1
    assert on.band("D").action == "reject" and on.band("D").income_multiple == Decimal("1.5")
    assert on.band("E") == policy.band("E")
    off = with_downturn(on, False)
    assert (off.version, off.downturn.on) == (5, False)
    assert policy.version == 3 and policy.downturn.on is False  # the original is unchanged


# --- errors, each naming the JSON path --------------------------------------------------------------------------

def _set(path: tuple, value) -> dict:
    data = doc()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "field"), [
    (("surprise",), 1, "$.surprise"),
    (("bands", "A", "multiple"), "3", "$.bands.A.multiple"),
    (("bands", "A", "action"), "approve_maybe", "$.bands.A.action"),
    (("bands", "A", "income_multiple"), "0", "$.bands.A.income_multiple"),
    (("bands", "A", "income_multiple"), "-1", "$.bands.A.income_multiple"),
    (("bands", "A", "income_multiple"), "NaN", "$.bands.A.income_multiple"),
    (("bands", "A", "income_multiple"), "Infinity", "$.bands.A.income_multiple"),
    (("bands", "A", "income_multiple"), "three", "$.bands.A.income_multiple"),
    (("bands", "A", "income_multiple"), 3.0, "$.bands.A.income_multiple"),
    (("bands", "A", "income_multiple"), True, "$.bands.A.income_multiple"),
    (("bands", "A", "daily_rate"), "0.01", "$.bands.A.daily_rate"),
    (("bands", "A", "daily_rate"), "0", "$.bands.A.daily_rate"),
    (("bands", "D", "limit_factor"), "1.2", "$.bands.D.limit_factor"),
    (("bands", "D", "limit_factor"), "-0.1", "$.bands.D.limit_factor"),
    (("bands", "A"), {"action": "approve", "income_multiple": "3"}, "$.bands.A.daily_rate"),
    (("bands", "A"), {"income_multiple": "3", "daily_rate": "0.0002"}, "$.bands.A.action"),
    (("bands", "A"), "approve", "$.bands.A"),
    (("bands", "a b"), {"action": "reject"}, '$.bands["a b"]'),
    (("bands",), {}, "$.bands"),
    (("unverified_income_factor",), "1.1", "$.unverified_income_factor"),
    (("debt_burden", "max_ratio"), "0", "$.debt_burden.max_ratio"),
    (("debt_burden", "capacity_months"), "12.5", "$.debt_burden.capacity_months"),
    (("debt_burden", "grace"), "1", "$.debt_burden.grace"),
    (("prudence", "regions", "44"), "1.5", '$.prudence.regions["44"]'),
    (("prudence", "regions", "guangdong"), "0.5", "$.prudence.regions.guangdong"),
    (("prudence", "industries", "mining"), "-0.2", "$.prudence.industries.mining"),
    (("prudence", "industries", "construction"), "0.5", "$.prudence.industries.construction"),  # twice, by case
    (("prudence", "sectors"), {}, "$.prudence.sectors"),
    (("risk_sharing", "insurers", "picc", "cover_share"), "0", "$.risk_sharing.insurers.picc.cover_share"),
    (("risk_sharing", "insurers", "picc", "cover_share"), "1.01", "$.risk_sharing.insurers.picc.cover_share"),
    (("risk_sharing", "insurers", "picc"), {"cover_share": "0.5"}, "$.risk_sharing.insurers.picc.name"),
    (("risk_sharing", "insurers", "PICC!"), {"name": "x", "cover_share": "0.5"}, '$.risk_sharing.insurers["PICC!"]'),
    (("risk_sharing", "collateral", "min_value_ratio"), "0", "$.risk_sharing.collateral.min_value_ratio"),
    (("risk_sharing", "guarantor", "enabled"), "yes", "$.risk_sharing.guarantor.enabled"),
    (("downturn", "on"), "true", "$.downturn.on"),
    (("downturn", "bands", "Z"), {"limit_factor": "0.5"}, "$.downturn.bands.Z"),
    (("downturn", "bands", "A", "limit_factor"), "2", "$.downturn.bands.A.limit_factor"),
    (("downturn", "bands", "A", "action"), "maybe", "$.downturn.bands.A.action"),
    (("downturn", "bands", "E"), {"action": "approve"}, "$.downturn.bands.E.income_multiple"),
    (("version",), 0, "$.version"),
    (("version",), "1", "$.version"),
    (("version",), True, "$.version"),
    (("name",), "  ", "$.name"),
    # numbers are bounded so that no decision can overflow (review 5)
    (("bands", "A", "income_multiple"), "100.01", "$.bands.A.income_multiple"),
    (("bands", "A", "income_multiple"), "1e30", "$.bands.A.income_multiple"),
    (("downturn", "bands", "A", "income_multiple"), "101", "$.downturn.bands.A.income_multiple"),
    (("risk_sharing", "collateral", "min_value_ratio"), "1e-30", "$.risk_sharing.collateral.min_value_ratio"),
    (("risk_sharing", "collateral", "min_value_ratio"), "0.09", "$.risk_sharing.collateral.min_value_ratio"),
    (("risk_sharing", "collateral", "min_value_ratio"), "10.5", "$.risk_sharing.collateral.min_value_ratio"),
    (("risk_sharing", "collateral", "min_value_ratio"), "1e30", "$.risk_sharing.collateral.min_value_ratio"),
    (("bands", "A", "daily_rate"), "0.00012345678901", "$.bands.A.daily_rate"),  # more than 10 places
    (("unverified_income_factor",), "1e-400", "$.unverified_income_factor"),
    # cover_share is stored as NUMERIC(6, 4): a fifth place would be rounded away on PostgreSQL
    (("risk_sharing", "insurers", "picc", "cover_share"), "0.12345", "$.risk_sharing.insurers.picc.cover_share"),
    (("risk_sharing", "insurers", "picc", "cover_share"), Decimal("0.00001"),
     "$.risk_sharing.insurers.picc.cover_share"),
    # version is a 32-bit integer in the tables
    (("version",), MAX_VERSION + 1, "$.version"),
    (("version",), 10**30, "$.version"),
    (("version",), -1, "$.version"),
    # text must be storable: valid UTF-8, bounded, the name on one printable line
    (("name",), "\ud800", "$.name"),
    (("name",), "x\ud800y", "$.name"),
    (("name",), "n" * 81, "$.name"),
    (("name",), "two\nlines", "$.name"),
    (("description",), "\udfff", "$.description"),
    (("description",), "d" * 2001, "$.description"),
    (("description",), 7, "$.description"),
    (("description",), "nul\x00byte", "$.description"),  # PostgreSQL text cannot hold NUL
    (("name",), "nul\x00byte", "$.name"),
    (("risk_sharing", "insurers", "picc", "name"), "PICC\ud800", "$.risk_sharing.insurers.picc.name"),
    (("risk_sharing", "insurers", "picc", "name"), "P" * 101, "$.risk_sharing.insurers.picc.name"),
    (("prudence", "industries", "m" * 41), "0.5", f"$.prudence.industries.{'m' * 41}"),
    (("prudence", "industries", "bad\tname"), "0.5", '$.prudence.industries["bad\\tname"]'),
    # a trailing newline does not slip past a key pattern
    (("prudence", "regions", "44\n"), "0.5", '$.prudence.regions["44\\n"]'),
    (("risk_sharing", "insurers", "picc\n"), {"name": "x", "cover_share": "0.5"},
     '$.risk_sharing.insurers["picc\\n"]'),
    (("bands", "A\n"), {"action": "reject"}, '$.bands["A\\n"]'),
])
def test_each_invalid_value_is_refused_at_its_path(path, value, field):
    assert error(_set(path, value)).field == field


@pytest.mark.parametrize(("path", "field"), [
    (("prudence", "industries", "\ud800"), '$.prudence.industries["\\ud800"]'),
    (("prudence", "regions", "\ud800"), '$.prudence.regions["\\ud800"]'),
    (("risk_sharing", "insurers", "\ud800"), '$.risk_sharing.insurers["\\ud800"]'),
    (("bands", "\ud800"), '$.bands["\\ud800"]'),
    (("\ud800",), '$["\\ud800"]'),
])
def test_a_key_that_is_not_valid_unicode_is_refused_at_an_escaped_path(path, field):
    value = {"action": "reject"} if path[0] == "bands" else {"name": "x", "cover_share": "0.5"} \
        if path[0] == "risk_sharing" else "0.5"
    err = error(_set(path, value))
    assert err.field == field
    err.field.encode("utf-8")  # the error itself can be sent
    err.message.encode("utf-8")


def test_a_lone_surrogate_in_json_text_is_refused_at_its_path():
    text = json.dumps(doc(name="policy-\ud800"))  # ASCII JSON spelling "\\ud800", decoded to a lone surrogate
    assert "\\ud800" in text
    err = error(text)
    assert err.field == "$.name" and "surrogate" in err.message
    err.message.encode("utf-8")


def test_the_limits_themselves_are_accepted():
    policy = parse_policy(doc(name="n" * 80, version=MAX_VERSION, description="line one\nline two\t" + "d" * 1980,
                              bands={**DOC["bands"], "A": {"action": "approve", "income_multiple": "100",
                                                           "daily_rate": "0.0099999999"}},
                              prudence={"industries": {"  " + "M" * 40 + " ": "0.5", "餐饮": "0.9"}},
                              risk_sharing={"insurers": {"picc": {"name": "中国人民财产保险 " + "P" * 91,
                                                                  "cover_share": "0.1234"}},
                                            "collateral": {"min_value_ratio": "0.1"}}))
    assert policy.version == MAX_VERSION and len(policy.name) == 80
    assert policy.bands["A"].income_multiple == 100
    assert dict(policy.prudence.industries) == {"m" * 40: Decimal("0.5"), "餐饮": Decimal("0.9")}
    assert policy.risk_sharing.insurers["picc"].cover_share == Decimal("0.1234")
    assert policy.risk_sharing.collateral.min_value_ratio == Decimal("0.1")
    assert parse_policy(policy.to_document()) == policy
    assert len(policy.fingerprint) == 64
    high = parse_policy(doc(risk_sharing={"collateral": {"min_value_ratio": "10"}}))
    assert high.risk_sharing.collateral.min_value_ratio == 10


def test_trailing_zeros_and_exponents_are_accepted_and_kept_short():
    policy = parse_policy(_set(("risk_sharing", "insurers", "picc", "cover_share"), "0.60000000"))
    assert policy.risk_sharing.insurers["picc"].cover_share == Decimal("0.6")  # five zeros beyond 4 places: fine
    policy = parse_policy(doc(unverified_income_factor="0.5" + "0" * 100_000,
                              bands={**DOC["bands"], "D": {**DOC["bands"]["D"], "limit_factor": "0E-100000000",
                                                           "income_multiple": "1.5E+1"}}))
    assert policy.unverified_income_factor == Decimal("0.5")
    assert policy.bands["D"].limit_factor == 0 and policy.bands["D"].income_multiple == 15
    for value in (policy.unverified_income_factor, policy.bands["D"].limit_factor,
                  policy.bands["D"].income_multiple):
        assert -10 <= value.as_tuple().exponent <= 0  # never spelled out as a huge run of zeros
        assert len(format(value, "f")) <= 12
    assert len(json.dumps(policy.to_document())) < 2000


def test_with_downturn_refuses_to_pass_the_largest_version():
    top = parse_policy(doc(version=MAX_VERSION))
    with pytest.raises(ValidationError) as info:
        with_downturn(top, True)
    assert (info.value.code, info.value.field) == ("invalid_policy", "$.version")
    assert with_downturn(parse_policy(doc(version=MAX_VERSION - 1)), True).version == MAX_VERSION


@pytest.mark.parametrize("key", ["name", "version", "bands", "unverified_income_factor", "debt_burden"])
def test_required_sections(key):
    data = doc()
    del data[key]
    assert error(data).field == f"$.{key}"


def test_parse_errors_say_what_is_wrong():
    err = error(_set(("bands", "D", "limit_factor"), "1.2"))
    assert "at most 1" in err.message and "$.bands.D.limit_factor" in err.message
    err = error(_set(("bands", "A", "income_multiple"), 3.0))
    assert "float" in err.message


@pytest.mark.parametrize(("text", "needle"), [
    ("{", "JSON syntax error"),
    ('{"name": "x", "name": "y"}', "duplicate key"),
    ("[1, 2]", "must be an object"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    (" " * (MAX_POLICY_BYTES + 1), "larger than"),
])
def test_malformed_text_is_refused_at_the_root(text, needle):
    err = error(text)
    assert err.field == "$" and needle in err.message


def test_json_nan_and_infinity_constants_are_refused_at_their_path():
    text = json.dumps(DOC).replace('"0.7"', "NaN")
    assert error(text).field == "$.unverified_income_factor"
    text = json.dumps(DOC).replace('"3.0"', "Infinity")
    assert error(text).field == "$.bands.A.income_multiple"
