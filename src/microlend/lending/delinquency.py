"""Delinquency buckets and the five-tier loan classification, from days past due.

PRODUCT.md defaults: buckets M1 (1-30 DPD), M2 (31-60), M3 (61-90), M3+ (over
90); classification normal (current), special mention (1-90), substandard
(91-270), doubtful (271-360), loss (over 360); write-off at 180 DPD. The bounds
are configuration (``DelinquencyPolicy``), the mapping is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Bucket(str, Enum):
    CURRENT = "current"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M3_PLUS = "M3+"


class LoanClass(str, Enum):
    NORMAL = "normal"
    SPECIAL_MENTION = "special_mention"
    SUBSTANDARD = "substandard"
    DOUBTFUL = "doubtful"
    LOSS = "loss"


@dataclass(frozen=True)
class DelinquencyPolicy:
    #: Last DPD of M1, M2 and M3; above the last one is M3+.
    bucket_upper_bounds: tuple[int, int, int] = (30, 60, 90)
    #: Last DPD of special mention, substandard and doubtful; above the last one is loss.
    class_upper_bounds: tuple[int, int, int] = (90, 270, 360)
    write_off_dpd: int = 180

    def __post_init__(self) -> None:
        for bounds in (self.bucket_upper_bounds, self.class_upper_bounds):
            if len(bounds) != 3 or bounds[0] < 1 or list(bounds) != sorted(set(bounds)):
                raise ValueError(f"bounds must be three increasing day counts from 1: {bounds}")
        if self.write_off_dpd < 1:
            raise ValueError("write-off DPD must be positive")

    def bucket(self, dpd: int) -> Bucket:
        return _tier(dpd, self.bucket_upper_bounds, list(Bucket))

    def classification(self, dpd: int) -> LoanClass:
        return _tier(dpd, self.class_upper_bounds, list(LoanClass))

    def due_for_write_off(self, dpd: int) -> bool:
        return dpd >= self.write_off_dpd


def _tier(dpd: int, upper_bounds: tuple[int, ...], tiers: list):
    """tiers[0] when current (0 DPD); then the first tier whose upper bound holds ``dpd``; else the last."""
    if dpd < 0:
        raise ValueError("days past due cannot be negative")
    if dpd == 0:
        return tiers[0]
    for bound, tier in zip(upper_bounds, tiers[1:]):
        if dpd <= bound:
            return tier
    return tiers[-1]


DEFAULT_POLICY = DelinquencyPolicy()
