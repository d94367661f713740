"""Borrower SMS texts: both languages carry the lender, amount, date and the annualized IRR."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from microlend.lending.notices import LANGUAGES, MAX_LENGTH, render_sms
from microlend.lending.reminders import ReminderKind

DUE = date(2026, 3, 10)
APR = Decimal("0.182500")


def sms(kind, language, **kw):
    args = {"lender": "微贷", "amount": Decimal("1234.50"), "due_date": DUE, "apr": APR, "dpd": 14, **kw}
    return render_sms(kind, language, **args)


@pytest.mark.parametrize("kind", list(ReminderKind))
def test_chinese_texts(kind):
    text = sms(kind, "zh")
    assert text.startswith("【微贷】")
    assert "1,234.50元" in text and "2026年3月10日" in text and "年化利率（IRR）18.25%" in text


@pytest.mark.parametrize("kind", list(ReminderKind))
def test_english_texts(kind):
    text = sms(kind, "en", lender="Microlend")
    assert text.startswith("[Microlend]")
    assert "CNY 1,234.50" in text and "2026-03-10" in text and "annualized rate (IRR) 18.25%" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_overdue_texts_say_days_penalty_and_frozen_line(language):
    for kind in (ReminderKind.OVERDUE, ReminderKind.OVERDUE_WEEKLY):
        text = sms(kind, language, dpd=21)
        assert "21" in text
        if language == "zh":
            assert "逾期21天" in text and "罚息" in text and "冻结" in text
        else:
            assert "21 days overdue" in text and "Penalty interest" in text and "frozen" in text


def test_due_text_names_the_card_only_by_its_last_four_digits():
    assert "尾号6789" in sms(ReminderKind.DUE, "zh", card_last4="6789")
    assert "card ending 6789" in sms(ReminderKind.DUE, "en", card_last4="6789")
    assert "尾号" not in sms(ReminderKind.DUE, "zh")
    assert "6789" not in sms(ReminderKind.PRE_DUE, "en", card_last4="6789")
    with pytest.raises(ValueError):
        sms(ReminderKind.DUE, "zh", card_last4="6222021234566789")


def test_rounding_of_amount_and_rate():
    text = sms(ReminderKind.PRE_DUE, "en", amount=Decimal("1000"), apr=Decimal("0.2399995"))
    assert "CNY 1,000.00" in text and "24.00%" in text
    assert "0.50元" in sms(ReminderKind.PRE_DUE, "zh", amount=Decimal("0.5"))


@pytest.mark.parametrize("language", ["fr", "ZH", "", "zh-CN"])
def test_unknown_language_refused(language):
    with pytest.raises(ValueError):
        sms(ReminderKind.DUE, language)


@pytest.mark.parametrize("kw", [
    {"lender": " "}, {"amount": Decimal("-1")}, {"apr": 0.18}, {"amount": Decimal("NaN")}, {"dpd": 0},
])
def test_bad_arguments_refused(kw):
    with pytest.raises(ValueError):
        sms(ReminderKind.OVERDUE, "zh", **kw)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(ReminderKind))
def test_length_bound(kind, language):
    text = sms(kind, language, lender="小微贷款科技有限公司", amount=Decimal("200000.00"),
               due_date=date(2026, 12, 31), dpd=180, card_last4="1234")
    assert len(text) <= MAX_LENGTH, (len(text), text)
