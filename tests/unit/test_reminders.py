"""The SMS reminder policy on hand-built dates (PRODUCT.md: 3 days before, on the due date, DPD 1, 3, 7, weekly)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from microlend.lending.reminders import (
    DEFAULT_REMINDER_POLICY,
    ReminderKind,
    ReminderPolicy,
    overdue_kind,
    reminder_dpd_days,
    reminder_due_offsets,
    reminders_due,
)

P = DEFAULT_REMINDER_POLICY
DUE = date(2026, 4, 10)


def due(on: date, dpd: int = 0, due_dates=(DUE,), policy: ReminderPolicy = P) -> list[ReminderKind]:
    return reminders_due(policy, on=on, due_dates=list(due_dates), dpd=dpd)


def test_pre_due_three_days_before_only():
    assert due(DUE - timedelta(days=3)) == [ReminderKind.PRE_DUE]
    assert due(DUE - timedelta(days=2)) == []
    assert due(DUE - timedelta(days=4)) == []


def test_on_the_due_date():
    assert due(DUE) == [ReminderKind.DUE]
    assert due(DUE, policy=ReminderPolicy(on_due_date=False)) == []


def test_due_dates_in_any_order_and_one_reminder_per_kind():
    dates = [date(2026, 6, 10), DUE, date(2026, 5, 10), DUE]
    assert due(DUE - timedelta(days=3), due_dates=dates) == [ReminderKind.PRE_DUE]
    assert due(DUE, due_dates=dates) == [ReminderKind.DUE]


def test_several_pre_due_days_still_one_reminder():
    policy = ReminderPolicy(days_before_due=(3, 1))
    assert due(DUE - timedelta(days=1), policy=policy) == [ReminderKind.PRE_DUE]
    # Two installments hitting two offsets on the same day: still one PRE_DUE.
    dates = [DUE, DUE + timedelta(days=2)]
    assert due(DUE - timedelta(days=1), due_dates=dates, policy=policy) == [ReminderKind.PRE_DUE]


@pytest.mark.parametrize("dpd", [1, 3, 7])
def test_overdue_milestones(dpd):
    assert due(DUE + timedelta(days=dpd), dpd=dpd) == [ReminderKind.OVERDUE]


@pytest.mark.parametrize("dpd", [14, 21, 28, 35, 175])
def test_weekly_after_day_seven(dpd):
    assert due(DUE + timedelta(days=dpd), dpd=dpd) == [ReminderKind.OVERDUE_WEEKLY]


@pytest.mark.parametrize("dpd", [2, 4, 5, 6, 8, 13, 15, 20, 22])
def test_no_reminder_between_milestones(dpd):
    assert due(DUE + timedelta(days=dpd), dpd=dpd) == []


def test_next_installment_due_while_overdue_gets_both():
    # Installment 1 overdue by 7 days while installment 2 is due in 3 days.
    on = date(2026, 5, 7)
    assert due(on, dpd=7, due_dates=[on - timedelta(days=7), on + timedelta(days=3)]) == [
        ReminderKind.PRE_DUE, ReminderKind.OVERDUE]


def test_stop_after_write_off():
    policy = ReminderPolicy(stop_after_dpd=180)
    assert due(DUE, dpd=175, due_dates=[DUE], policy=policy) == [ReminderKind.DUE, ReminderKind.OVERDUE_WEEKLY]
    assert due(DUE, dpd=181, due_dates=[DUE], policy=policy) == []
    assert due(DUE + timedelta(days=182), dpd=182) == []  # would be a weekly day (7 + 25 x 7)
    assert reminder_dpd_days(P, 400)[-1] == 175


def test_milestone_and_weekly_on_the_same_day_send_one_overdue_sms():
    policy = ReminderPolicy(overdue_days=(1, 3, 7, 14))
    assert due(DUE, dpd=14, due_dates=[], policy=policy) == [ReminderKind.OVERDUE]
    assert overdue_kind(policy, 14) is ReminderKind.OVERDUE and overdue_kind(policy, 21) is ReminderKind.OVERDUE_WEEKLY


def test_no_weekly_reminders_when_disabled():
    policy = ReminderPolicy(weekly_after=None)
    assert due(DUE, dpd=14, due_dates=[], policy=policy) == []
    assert reminder_dpd_days(policy, 400) == (1, 3, 7)


def test_set_based_helpers_agree_with_the_rule():
    assert reminder_due_offsets(P) == (0, 3)
    days = reminder_dpd_days(P, 40)
    assert days == (1, 3, 7, 14, 21, 28, 35)
    for dpd in range(0, 400):
        on_day = bool(due(DUE, dpd=dpd, due_dates=[]))
        assert on_day == (dpd in reminder_dpd_days(P, 400)), dpd
        assert (overdue_kind(P, dpd) is not None) == on_day


def test_negative_dpd_refused():
    with pytest.raises(ValueError):
        due(DUE, dpd=-1)


@pytest.mark.parametrize("kwargs", [
    {"days_before_due": (0,)},
    {"days_before_due": (3, 3)},
    {"days_before_due": [3]},
    {"overdue_days": (-1,)},
    {"overdue_days": (1, 200)},
    {"weekly_after": 0},
    {"weekly_after": 180},
    {"stop_after_dpd": 0},
    {"on_due_date": "yes"},
    {"overdue_days": (True,)},
])
def test_nonsense_policy_refused(kwargs):
    with pytest.raises(ValueError):
        ReminderPolicy(**kwargs)
