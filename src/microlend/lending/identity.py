"""Applicant identity checks: ID number, mobile phone, bank card and name.

Pure functions (no I/O) so the API, the services and the simulator share one
definition of "valid", and a typo is refused before it reaches a bureau or a
payment rail. Every refusal is a ``ValidationError`` (or ``BusinessRuleError``
for the age policy) with a stable code and the field to blame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from microlend.errors import BusinessRuleError, ValidationError

__all__ = [
    "PROVINCES",
    "IdNumberInfo",
    "check_applicant_age",
    "id_check_character",
    "luhn_check_digit",
    "luhn_valid",
    "normalize_bank_card",
    "normalize_name",
    "normalize_phone",
    "parse_id_number",
]

#: GB/T 2260 province-level codes (first two digits of an ID number).
PROVINCES: dict[str, str] = {
    "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi",
    "15": "Inner Mongolia", "21": "Liaoning", "22": "Jilin", "23": "Heilongjiang",
    "31": "Shanghai", "32": "Jiangsu", "33": "Zhejiang", "34": "Anhui",
    "35": "Fujian", "36": "Jiangxi", "37": "Shandong", "41": "Henan",
    "42": "Hubei", "43": "Hunan", "44": "Guangdong", "45": "Guangxi",
    "46": "Hainan", "50": "Chongqing", "51": "Sichuan", "52": "Guizhou",
    "53": "Yunnan", "54": "Tibet", "61": "Shaanxi", "62": "Gansu",
    "63": "Qinghai", "64": "Ningxia", "65": "Xinjiang", "71": "Taiwan",
    "81": "Hong Kong", "82": "Macau",
}

# GB 11643-1999, ISO 7064 MOD 11-2.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_MIN_BIRTH_DATE = date(1900, 1, 1)

# [0-9] rather than \d: \d also matches full-width and other Unicode digits.
_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
_CARD_RE = re.compile(r"[0-9]{16,19}")
_SEPARATORS_RE = re.compile(r"[\s\-]+")

# CJK unified ideographs incl. extension A, compatibility and extensions B+
# (rare characters do occur in registered names).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CN_NAME_RE = re.compile(rf"[{_CJK}]+(?:·[{_CJK}]+)*")
# Latin letters incl. Latin-1/Extended-A/B accents, minus the signs × and ÷.
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
# Starts with a letter, ends with a letter or a period ("Jr.").
_LATIN_NAME_RE = re.compile(rf"[{_LATIN}](?:[{_LATIN} .'\-]*[{_LATIN}.])?")


@dataclass(frozen=True)
class IdNumberInfo:
    """What an 18-character resident ID number says about its holder."""

    number: str
    birth_date: date
    sex: str
    province_code: str
    province: str

    def age_on(self, on: date) -> int:
        """Completed years on ``on``; a Feb 29 birthday counts from Mar 1 in common years."""
        if on < self.birth_date:
            raise ValueError("date is before the birth date")
        before_birthday = (on.month, on.day) < (self.birth_date.month, self.birth_date.day)
        return on.year - self.birth_date.year - int(before_birthday)


def id_check_character(first17: str) -> str:
    """Check character for the first 17 digits (MOD 11-2), catching any single typo."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK_CHARS[total % 11]


def parse_id_number(value: str) -> IdNumberInfo:
    """Validate an ID number and extract birth date, sex and province.

    Checks run format, checksum, province, birth date, so a typo is always
    reported as a checksum error rather than as a confusing date error.
    """
    number = value.strip().upper()
    if not _ID_RE.fullmatch(number):
        raise ValidationError(
            "ID number must be 17 digits followed by a digit or X",
            code="invalid_id_number", field="id_number",
        )
    if id_check_character(number[:17]) != number[17]:
        raise ValidationError(
            "ID number check character does not match", code="invalid_id_checksum", field="id_number"
        )
    province_code = number[:2]
    province = PROVINCES.get(province_code)
    if province is None:
        raise ValidationError(
            "ID number has an unknown province code", code="invalid_id_province", field="id_number"
        )
    birth_date: date | None
    try:
        birth_date = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth_date = None
    if birth_date is None or birth_date < _MIN_BIRTH_DATE:
        raise ValidationError(
            "ID number has an invalid birth date", code="invalid_id_birth_date", field="id_number"
        )
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return IdNumberInfo(
        number=number, birth_date=birth_date, sex=sex, province_code=province_code, province=province
    )


def check_applicant_age(
    info: IdNumberInfo, *, on: date, min_age: int = 18, max_age: int = 55
) -> int:
    """Return the applicant's age on ``on``, refusing ages outside the lending policy."""
    if info.birth_date > on:
        raise ValidationError(
            "birth date in the ID number is in the future", code="invalid_id_birth_date", field="id_number"
        )
    age = info.age_on(on)
    if age < min_age:
        raise BusinessRuleError(
            f"applicant must be at least {min_age} years old", code="applicant_too_young", field="id_number"
        )
    if age > max_age:
        raise BusinessRuleError(
            f"applicant must be at most {max_age} years old", code="applicant_too_old", field="id_number"
        )
    return age


def normalize_phone(value: str) -> str:
    """Canonical 11-digit mainland mobile number, so one person has one phone key."""
    digits = _SEPARATORS_RE.sub("", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _PHONE_RE.fullmatch(digits):
        raise ValidationError(
            "phone must be a mainland mobile number (11 digits starting 13-19)",
            code="invalid_phone", field="phone",
        )
    return digits


def _luhn_sum(digits: str, *, double_first: bool) -> int:
    """Luhn sum over ``digits`` read right to left."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if (index % 2 == 0) == double_first:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total


def luhn_check_digit(partial: str) -> str:
    """Digit that makes ``partial + digit`` Luhn-valid (used to build test cards)."""
    if not partial or not partial.isascii() or not partial.isdigit():
        raise ValueError("expected ASCII digits")
    return str((10 - _luhn_sum(partial, double_first=True) % 10) % 10)


def luhn_valid(number: str) -> bool:
    """True when ``number`` is all ASCII digits and passes the Luhn check."""
    if not number or not number.isascii() or not number.isdigit():
        return False
    return _luhn_sum(number, double_first=False) % 10 == 0


def normalize_bank_card(value: str) -> str:
    """Canonical card number; Luhn catches most typos before a payout is attempted."""
    digits = _SEPARATORS_RE.sub("", value)
    if not _CARD_RE.fullmatch(digits):
        raise ValidationError(
            "bank card number must be 16 to 19 digits", code="invalid_bank_card", field="bank_card"
        )
    if not luhn_valid(digits):
        raise ValidationError(
            "bank card number check digit does not match",
            code="invalid_bank_card_checksum", field="bank_card",
        )
    return digits


def normalize_name(value: str) -> str:
    """Canonical legal name: Chinese (with "·" for minority names) or Latin script."""
    name = value.strip()
    cjk_name = name.replace("•", "·")
    if _CN_NAME_RE.fullmatch(cjk_name):
        if 2 <= len(cjk_name.replace("·", "")) <= 20:
            return cjk_name
    else:
        latin_name = " ".join(name.split())
        letters = sum(1 for char in latin_name if char.isalpha())
        if (
            _LATIN_NAME_RE.fullmatch(latin_name)
            and 2 <= len(latin_name) <= 60
            and letters >= 2
        ):
            return latin_name
    raise ValidationError(
        "name must be 2-20 Chinese characters or 2-60 Latin letters", code="invalid_name", field="name"
    )
