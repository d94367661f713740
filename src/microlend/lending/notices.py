"""The texts of the SMS reminders borrowers read, in Chinese and English.

Every message names the lender first (【lender】 / [lender], as Chinese SMS
rules require a signature), the amount to the fen, the date, and the loan's
annualized rate by the IRR method (the disclosure rule: a rate shown to a
borrower is always the annualized IRR). Messages are kept short so they fit
one or two SMS segments; ``MAX_LENGTH`` is the bound the tests hold them to.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from microlend.lending.reminders import ReminderKind
from microlend.money import to_fen

LANGUAGES = ("zh", "en")
#: Longest message (in characters) for a lender name of up to 10 characters and amounts up to 200,000 CNY.
MAX_LENGTH = 160

_PERCENT = Decimal("0.01")

_TEMPLATES: dict[str, dict[ReminderKind, str]] = {
    "zh": {
        ReminderKind.PRE_DUE: "【{lender}】您的借款将于{date}到期，应还{amount}，年化利率（IRR）{apr}。请按时还款。",
        ReminderKind.DUE: "【{lender}】您的借款今日（{date}）到期，应还{amount}{debit}，年化利率（IRR）{apr}。",
        ReminderKind.OVERDUE: "【{lender}】您的借款已逾期{dpd}天（到期日{date}），应还{amount}，正按日计收罚息，"
                              "额度已冻结，年化利率（IRR）{apr}。请尽快还款。",
        ReminderKind.OVERDUE_WEEKLY: "【{lender}】您的借款仍逾期未还，已逾期{dpd}天（到期日{date}），应还{amount}，"
                                     "罚息持续计收，额度已冻结，年化利率（IRR）{apr}。请尽快还款。",
    },
    "en": {
        ReminderKind.PRE_DUE: "[{lender}] {amount} is due on {date}, annualized rate (IRR) {apr}. "
                              "Please repay on time.",
        ReminderKind.DUE: "[{lender}] {amount} is due today ({date}), annualized rate (IRR) {apr}.{debit}",
        ReminderKind.OVERDUE: "[{lender}] {amount} due {date} is {dpd} days overdue. Penalty interest accrues; "
                              "credit line frozen; annualized rate (IRR) {apr}. Please repay now.",
        ReminderKind.OVERDUE_WEEKLY: "[{lender}] {amount} due {date} is still unpaid, {dpd} days overdue. Penalty "
                                     "interest accrues; line frozen; annualized rate (IRR) {apr}. Repay now.",
    },
}

_DEBIT = {
    "zh": "，将从尾号{last4}的银行卡自动扣款",
    "en": " It will be debited from your card ending {last4}.",
}


def format_amount(amount: Decimal, language: str) -> str:
    """``1,234.50元`` (zh) or ``CNY 1,234.50`` (en), rounded half up to the fen."""
    text = f"{to_fen(amount):,.2f}"
    return f"{text}元" if language == "zh" else f"CNY {text}"


def format_date(day: date, language: str) -> str:
    """``2026年3月10日`` (zh) or ISO ``2026-03-10`` (en): neither can be misread as day/month."""
    return f"{day.year}年{day.month}月{day.day}日" if language == "zh" else day.isoformat()


def format_apr(apr: Decimal) -> str:
    """A rate held as a fraction (0.1825) shown as a percent with two decimals (18.25%)."""
    return f"{(apr * 100).quantize(_PERCENT, rounding=ROUND_HALF_UP)}%"


def render_sms(
    kind: ReminderKind, language: str, *, lender: str, amount: Decimal, due_date: date, apr: Decimal,
    dpd: int = 0, card_last4: str | None = None,
) -> str:
    """The reminder text of ``kind`` in ``language``.

    ``amount`` is what the borrower owes now (for overdue reminders, the amount
    overdue) and ``due_date`` the due date it belongs to (for overdue
    reminders, the oldest unpaid one); ``apr`` is the loan's annualized IRR as
    a fraction. ``card_last4`` (only the last four digits, never the number)
    adds the auto-debit notice to the DUE reminder.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unsupported SMS language {language!r}; expected one of {LANGUAGES}")
    kind = ReminderKind(kind)
    if not lender or not lender.strip():
        raise ValueError("the lender's name is required: every SMS must be signed")
    for name, value in (("amount", amount), ("apr", apr)):
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            raise ValueError(f"{name} must be a non-negative Decimal, got {value!r}")
    if kind in (ReminderKind.OVERDUE, ReminderKind.OVERDUE_WEEKLY) and dpd < 1:
        raise ValueError(f"an overdue reminder needs days past due of at least 1, got {dpd}")
    if card_last4 is not None and (len(card_last4) != 4 or not card_last4.isascii() or not card_last4.isdigit()):
        raise ValueError("card_last4 must be exactly four digits")
    debit = _DEBIT[language].format(last4=card_last4) if card_last4 and kind is ReminderKind.DUE else ""
    return _TEMPLATES[language][kind].format(
        lender=lender.strip(), amount=format_amount(amount, language), date=format_date(due_date, language),
        apr=format_apr(apr), dpd=dpd, debit=debit,
    )


__all__ = ["LANGUAGES", "MAX_LENGTH", "format_amount", "format_apr", "format_date", "render_sms"]
