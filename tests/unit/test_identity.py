"""Tests for microlend.lending.identity (ID number, phone, bank card, name)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microlend.errors import BusinessRuleError, ValidationError
from microlend.lending.identity import (
    PROVINCES,
    IdNumberInfo,
    check_applicant_age,
    id_check_character,
    luhn_check_digit,
    luhn_valid,
    normalize_bank_card,
    normalize_name,
    normalize_phone,
    parse_id_number,
)


def with_check(first17: str) -> str:
    return first17 + id_check_character(first17)


@st.composite
def id_bodies(draw: st.DrawFn) -> tuple[str, date]:
    """17-digit bodies with a known province and a real birth date."""
    province = draw(st.sampled_from(sorted(PROVINCES)))
    region = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    return province + region + birth.strftime("%Y%m%d") + sequence, birth


def test_provinces_table() -> None:
    assert len(PROVINCES) == 34
    assert PROVINCES["11"] == "Beijing"
    assert PROVINCES["15"] == "Inner Mongolia"
    assert PROVINCES["82"] == "Macau"
    assert all(len(code) == 2 and code.isdigit() for code in PROVINCES)


# --- ID number: hand-checked examples -------------------------------------


def test_known_valid_id_number() -> None:
    info = parse_id_number("11010519491231002X")
    assert info == IdNumberInfo(
        number="11010519491231002X",
        birth_date=date(1949, 12, 31),
        sex="female",
        province_code="11",
        province="Beijing",
    )


def test_id_number_is_stripped_and_uppercased() -> None:
    assert parse_id_number("  11010519491231002x\n").number == "11010519491231002X"


def test_id_check_character_examples() -> None:
    assert id_check_character("11010519491231002") == "X"
    assert id_check_character("44052418800101001") == "4"
    assert id_check_character("11010520000229001") == "3"


def test_id_check_character_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        id_check_character("1101051949123100")
    with pytest.raises(ValueError):
        id_check_character("1101051949123100A")


def test_known_wrong_checksum() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_id_number("110105194912310021")
    assert exc.value.code == "invalid_id_checksum"
    assert exc.value.field == "id_number"


def test_1880_birth_passes_checksum_but_is_before_1900() -> None:
    # The check character of 440524188001010014 is right (so the checksum
    # step passes); the birth date falls before the 1900-01-01 floor.
    assert id_check_character("44052418800101001") == "4"
    with pytest.raises(ValidationError) as exc:
        parse_id_number("440524188001010014")
    assert exc.value.code == "invalid_id_birth_date"


def test_very_old_applicant_is_too_old() -> None:
    old = IdNumberInfo("440524188001010014", date(1880, 1, 1), "male", "44", "Guangdong")
    with pytest.raises(BusinessRuleError) as exc:
        check_applicant_age(old, on=date(2024, 6, 1))
    assert exc.value.code == "applicant_too_old"
    assert exc.value.field == "id_number"


@pytest.mark.parametrize(
    "value",
    ["", "11010519491231002", "11010519491231002X1", "1101051949123100XX",
     "X10105194912310021", "11010519491231002Y", "110105 19491231002X",
     "１10105194912310021"],
)
def test_malformed_id_numbers(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_id_number(value)
    assert exc.value.code == "invalid_id_number"
    assert exc.value.field == "id_number"


def test_unknown_province() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_id_number(with_check("99010519491231002"))
    assert exc.value.code == "invalid_id_province"


@pytest.mark.parametrize("birth", ["19490230", "19491301", "19490000", "18991231", "20230229"])
def test_invalid_birth_dates(birth: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_id_number(with_check("110105" + birth + "002"))
    assert exc.value.code == "invalid_id_birth_date"


def test_earliest_birth_date_accepted() -> None:
    assert parse_id_number(with_check("11010519000101002")).birth_date == date(1900, 1, 1)


def test_checksum_is_checked_before_province_and_date() -> None:
    bad_province = with_check("99010519491231002")
    bad_date = with_check("11010519490230002")
    for number in (bad_province, bad_date):
        wrong = number[:17] + ("0" if number[17] != "0" else "1")
        with pytest.raises(ValidationError) as exc:
            parse_id_number(wrong)
        assert exc.value.code == "invalid_id_checksum"


def test_province_is_checked_before_date() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_id_number(with_check("99010519490230002"))
    assert exc.value.code == "invalid_id_province"


def test_sex_from_17th_digit() -> None:
    assert parse_id_number("110105200808080015").sex == "male"
    assert parse_id_number("510107195510010026").sex == "female"


# --- Ages -------------------------------------------------------------------


def test_feb_29_birthday() -> None:
    info = parse_id_number("110105200002290013")
    assert info.birth_date == date(2000, 2, 29)
    assert info.sex == "male"
    assert info.age_on(date(2018, 2, 28)) == 17
    assert info.age_on(date(2018, 3, 1)) == 18
    assert info.age_on(date(2020, 2, 28)) == 19
    assert info.age_on(date(2020, 2, 29)) == 20
    with pytest.raises(BusinessRuleError) as exc:
        check_applicant_age(info, on=date(2018, 2, 28))
    assert exc.value.code == "applicant_too_young"
    assert check_applicant_age(info, on=date(2018, 3, 1)) == 18


def test_guangdong_feb_29() -> None:
    info = parse_id_number("440306198802291237")
    assert (info.province, info.birth_date, info.sex) == ("Guangdong", date(1988, 2, 29), "male")


def test_age_on_day_before_and_on_birthday() -> None:
    info = parse_id_number("11010519491231002X")
    assert info.age_on(date(2024, 12, 30)) == 74
    assert info.age_on(date(2024, 12, 31)) == 75
    with pytest.raises(ValueError):
        info.age_on(date(1949, 12, 30))


def test_age_bounds() -> None:
    info = parse_id_number("320102196001150036")  # born 1960-01-15
    assert check_applicant_age(info, on=date(2015, 6, 1)) == 55
    with pytest.raises(BusinessRuleError) as exc:
        check_applicant_age(info, on=date(2016, 1, 15))
    assert exc.value.code == "applicant_too_old"
    assert check_applicant_age(info, on=date(2016, 1, 15), max_age=60) == 56
    with pytest.raises(BusinessRuleError) as exc:
        check_applicant_age(info, on=date(1977, 6, 1))
    assert exc.value.code == "applicant_too_young"
    assert check_applicant_age(info, on=date(1978, 1, 15)) == 18


def test_birth_date_in_the_future() -> None:
    info = parse_id_number("110105200808080015")
    with pytest.raises(ValidationError) as exc:
        check_applicant_age(info, on=date(2008, 8, 7))
    assert exc.value.code == "invalid_id_birth_date"
    assert exc.value.field == "id_number"


# --- ID number: properties --------------------------------------------------


@given(id_bodies())
def test_generated_id_numbers_round_trip(body_and_birth: tuple[str, date]) -> None:
    body, birth = body_and_birth
    info = parse_id_number(with_check(body))
    assert info.number == with_check(body)
    assert info.birth_date == birth
    assert info.sex == ("male" if int(body[16]) % 2 else "female")
    assert info.province == PROVINCES[body[:2]]
    assert parse_id_number(with_check(body).lower()) == info


@given(id_bodies(), st.integers(min_value=0, max_value=17), st.integers(min_value=1, max_value=10))
def test_any_single_character_change_fails_checksum(
    body_and_birth: tuple[str, date], position: int, shift: int
) -> None:
    number = with_check(body_and_birth[0])
    alphabet = "0123456789X" if position == 17 else "0123456789"
    current = alphabet.index(number[position])
    replacement = alphabet[(current + shift) % len(alphabet)]
    if replacement == number[position]:  # shift of 10 on the 10-digit alphabet
        replacement = alphabet[(current + 1) % len(alphabet)]
    changed = number[:position] + replacement + number[position + 1:]
    with pytest.raises(ValidationError) as exc:
        parse_id_number(changed)
    assert exc.value.code == "invalid_id_checksum"


# --- Phone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["13812345678", " 13812345678 ", "138 1234 5678", "138-1234-5678", "+86 138-1234-5678",
     "+8613812345678", "8613812345678", "86 138 1234 5678", "0086 13812345678", "+86-138-1234-5678"],
)
def test_valid_phones(value: str) -> None:
    assert normalize_phone(value) == "13812345678"


@pytest.mark.parametrize(
    "value",
    ["", "12812345678", "10812345678", "1381234567", "138123456789", "+87 13812345678",
     "+0086 13812345678", "86 1381234567", "138.1234.5678", "1381234567a", "１3812345678"],
)
def test_invalid_phones(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalize_phone(value)
    assert exc.value.code == "invalid_phone"
    assert exc.value.field == "phone"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_phone_with_prefixes_round_trips(phone: str) -> None:
    for prefix in ("", "+86 ", "86", "0086-"):
        assert normalize_phone(prefix + phone) == phone


# --- Bank card / Luhn -------------------------------------------------------


def test_luhn_examples() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_check_digit("411111111111111") == "1"
    assert not luhn_valid("")
    assert not luhn_valid("4111 1111 1111 1111")
    with pytest.raises(ValueError):
        luhn_check_digit("")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4111 1111 1111 1111", "4111111111111111"),
     ("4111-1111-1111-1111", "4111111111111111"),
     (" 6222021234567890128 ", "6222021234567890128")],
)
def test_valid_bank_cards(value: str, expected: str) -> None:
    assert normalize_bank_card(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [("4111111111111112", "invalid_bank_card_checksum"),
     ("411111111111111", "invalid_bank_card"),
     ("41111111111111111111", "invalid_bank_card"),
     ("4111a11111111111", "invalid_bank_card"),
     ("", "invalid_bank_card")],
)
def test_invalid_bank_cards(value: str, code: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalize_bank_card(value)
    assert exc.value.code == code
    assert exc.value.field == "bank_card"


@given(st.from_regex(r"[0-9]{1,30}", fullmatch=True))
def test_luhn_check_digit_makes_valid_numbers(partial: str) -> None:
    assert luhn_valid(partial + luhn_check_digit(partial))


@given(st.from_regex(r"[0-9]{15,18}", fullmatch=True), st.data())
def test_luhn_detects_single_digit_change(partial: str, data: st.DataObject) -> None:
    number = partial + luhn_check_digit(partial)
    assert normalize_bank_card(number) == number
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    assert not luhn_valid(number[:position] + digit + number[position + 1:])


# --- Names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("张三", "张三"), (" 欧阳娜娜 ", "欧阳娜娜"), ("买买提·艾力", "买买提·艾力"),
     ("买买提•艾力", "买买提·艾力"), ("John O'Neil", "John O'Neil"),
     ("  John   Smith ", "John Smith"), ("Mary-Jane Watson", "Mary-Jane Watson"),
     ("Martin Luther King Jr.", "Martin Luther King Jr."), ("José Núñez", "José Núñez"),
     ("张" * 20, "张" * 20)],
)
def test_valid_names(value: str, expected: str) -> None:
    assert normalize_name(value) == expected


@pytest.mark.parametrize(
    "value",
    ["张3", "A", "", "   ", "张", "张" * 21, "·张三", "张三·", "张··三", "张三John", "John3",
     "A" * 61, ".John", "John-", "张 三", "John_Smith"],
)
def test_invalid_names(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        normalize_name(value)
    assert exc.value.code == "invalid_name"
    assert exc.value.field == "name"
