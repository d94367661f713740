"""Which SMS reminders a loan gets on a given day.

PRODUCT.md defaults: 3 days before and on each due date, then on DPD 1, 3 and 7
and weekly after that (DPD 14, 21, 28, ...), and nothing once the loan is
written off (180 DPD). The numbers are configuration (``ReminderPolicy``); the
rule that turns them into reminders is here, free of I/O, so the close of
business can apply it loan by loan or turn it into a set-based SQL selection
(``reminder_due_offsets`` and ``reminder_dpd_days``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

#: Weekly reminders come every this many days.
WEEK = 7


class ReminderKind(str, Enum):
    #: Some days before a due date.
    PRE_DUE = "pre_due"
    #: On the due date itself.
    DUE = "due"
    #: On one of the policy's DPD milestones.
    OVERDUE = "overdue"
    #: Every week after the last milestone, until write-off.
    OVERDUE_WEEKLY = "overdue_weekly"


def _day_counts(name: str, values: tuple[int, ...], *, minimum: int) -> None:
    """Refuse anything but a tuple of distinct whole day counts of at least ``minimum``."""
    if not isinstance(values, tuple):
        raise ValueError(f"{name} must be a tuple of day counts, got {type(values).__name__}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"{name} must hold whole day counts of at least {minimum}: {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a day: {values}")


@dataclass(frozen=True)
class ReminderPolicy:
    #: Send a PRE_DUE reminder this many days before each due date.
    days_before_due: tuple[int, ...] = (3,)
    #: Send a DUE reminder on each due date.
    on_due_date: bool = True
    #: Days past due on which an OVERDUE reminder is sent.
    overdue_days: tuple[int, ...] = (1, 3, 7)
    #: After this DPD, an OVERDUE_WEEKLY reminder every 7 days (None: no weekly reminders).
    weekly_after: int | None = 7
    #: No reminders at all once the loan is past this DPD (it has been written off).
    stop_after_dpd: int = 180

    def __post_init__(self) -> None:
        _day_counts("days_before_due", self.days_before_due, minimum=1)
        _day_counts("overdue_days", self.overdue_days, minimum=1)
        if not isinstance(self.on_due_date, bool):
            raise ValueError("on_due_date must be True or False")
        for name in ("stop_after_dpd", "weekly_after"):
            value = getattr(self, name)
            if value is None and name == "weekly_after":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of days of at least 1, got {value!r}")
        if any(d > self.stop_after_dpd for d in self.overdue_days):
            raise ValueError(f"overdue_days {self.overdue_days} go past stop_after_dpd {self.stop_after_dpd}")
        if self.weekly_after is not None and self.weekly_after >= self.stop_after_dpd:
            raise ValueError(f"weekly_after {self.weekly_after} must be below stop_after_dpd {self.stop_after_dpd}")


DEFAULT_REMINDER_POLICY = ReminderPolicy()


def _is_weekly_day(policy: ReminderPolicy, dpd: int) -> bool:
    """A weekly day, unless a milestone reminder already goes out that day (one overdue SMS a day)."""
    return (policy.weekly_after is not None and policy.weekly_after < dpd <= policy.stop_after_dpd
            and (dpd - policy.weekly_after) % WEEK == 0 and dpd not in policy.overdue_days)


def reminders_due(policy: ReminderPolicy, *, on: date, due_dates: list[date], dpd: int) -> list[ReminderKind]:
    """The reminders a loan gets on ``on``, at most one of each kind, in ReminderKind order.

    ``due_dates`` are the due dates of the installments not yet fully paid (any
    order); ``dpd`` is the loan's days past due on ``on``. A loan past
    ``stop_after_dpd`` gets nothing: it has been written off and collections,
    not reminders, deal with it.
    """
    if dpd < 0:
        raise ValueError("days past due cannot be negative")
    if dpd > policy.stop_after_dpd:
        return []
    unpaid = set(due_dates)
    kinds: list[ReminderKind] = []
    if any(on + timedelta(days=d) in unpaid for d in policy.days_before_due):
        kinds.append(ReminderKind.PRE_DUE)
    if policy.on_due_date and on in unpaid:
        kinds.append(ReminderKind.DUE)
    if dpd in policy.overdue_days:
        kinds.append(ReminderKind.OVERDUE)
    if _is_weekly_day(policy, dpd):
        kinds.append(ReminderKind.OVERDUE_WEEKLY)
    return kinds


def reminder_due_offsets(policy: ReminderPolicy) -> tuple[int, ...]:
    """Days between today and an unpaid due date that trigger a reminder (0: the due date), sorted.

    For set-based selection: ``due_date IN (today + offset ...)``.
    """
    offsets = set(policy.days_before_due) | ({0} if policy.on_due_date else set())
    return tuple(sorted(offsets))


def reminder_dpd_days(policy: ReminderPolicy, max_dpd: int) -> tuple[int, ...]:
    """Every DPD up to ``max_dpd`` (and ``stop_after_dpd``) on which an overdue or weekly reminder goes out, sorted.

    For set-based selection: ``dpd IN (...)`` instead of evaluating the policy loan by loan.
    """
    limit = min(max_dpd, policy.stop_after_dpd)
    days = {d for d in policy.overdue_days if d <= limit}
    if policy.weekly_after is not None:
        days.update(range(policy.weekly_after + WEEK, limit + 1, WEEK))
    return tuple(sorted(days))


def overdue_kind(policy: ReminderPolicy, dpd: int) -> ReminderKind | None:
    """The overdue reminder (milestone or weekly) sent at ``dpd``, if any: the companion of ``reminder_dpd_days``."""
    if dpd > policy.stop_after_dpd:
        return None
    if dpd in policy.overdue_days:
        return ReminderKind.OVERDUE
    if _is_weekly_day(policy, dpd):
        return ReminderKind.OVERDUE_WEEKLY
    return None


__all__ = [
    "DEFAULT_REMINDER_POLICY", "ReminderKind", "ReminderPolicy", "overdue_kind", "reminder_dpd_days",
    "reminder_due_offsets", "reminders_due",
]
