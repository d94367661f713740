"""Synthetic but valid identities (ID numbers with correct check characters,
Luhn-valid cards) for demo data, tests and benchmarks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from microlend.lending.identity import PROVINCES, id_check_character, luhn_check_digit

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
#: County-level codes inside each province used for the first six digits.
_AREAS = ["110105", "310104", "440305", "330106", "320102", "510107", "420106", "370202", "350203", "610113"]


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    phone: str
    bank_card: str
    birth_date: date


def make_id_number(rng: random.Random, birth: date, area: str | None = None, male: bool | None = None) -> str:
    area = area or rng.choice(_AREAS)
    assert area[:2] in PROVINCES
    if male is None:
        male = rng.random() < 0.5
    sequence = rng.randrange(0, 500) * 2 + (1 if male else 0)  # odd 17th digit: male
    body = f"{area}{birth:%Y%m%d}{sequence:03d}"
    return body + id_check_character(body)


def make_card(rng: random.Random, bin_prefix: str = "622202") -> str:
    body = bin_prefix + "".join(str(rng.randrange(10)) for _ in range(12))
    return body + luhn_check_digit(body)


def make_person(rng: random.Random, *, on: date, min_age: int = 22, max_age: int = 50) -> Person:
    age_days = rng.randrange(min_age * 366, max_age * 365)
    birth = on - timedelta(days=age_days)
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
    phone = "1" + rng.choice("3578") + "".join(str(rng.randrange(10)) for _ in range(9))
    return Person(name, make_id_number(rng, birth), phone, make_card(rng), birth)
