"""Buckets and classification at every boundary of PRODUCT.md's defaults."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microlend.lending.delinquency import DEFAULT_POLICY, Bucket, DelinquencyPolicy, LoanClass


@pytest.mark.parametrize("dpd,bucket", [
    (0, Bucket.CURRENT), (1, Bucket.M1), (30, Bucket.M1), (31, Bucket.M2), (60, Bucket.M2),
    (61, Bucket.M3), (90, Bucket.M3), (91, Bucket.M3_PLUS), (1000, Bucket.M3_PLUS),
])
def test_buckets(dpd, bucket):
    assert DEFAULT_POLICY.bucket(dpd) is bucket


@pytest.mark.parametrize("dpd,cls", [
    (0, LoanClass.NORMAL), (1, LoanClass.SPECIAL_MENTION), (90, LoanClass.SPECIAL_MENTION),
    (91, LoanClass.SUBSTANDARD), (270, LoanClass.SUBSTANDARD), (271, LoanClass.DOUBTFUL),
    (360, LoanClass.DOUBTFUL), (361, LoanClass.LOSS),
])
def test_classification(dpd, cls):
    assert DEFAULT_POLICY.classification(dpd) is cls


def test_write_off_at_180():
    assert not DEFAULT_POLICY.due_for_write_off(179) and DEFAULT_POLICY.due_for_write_off(180)


@given(st.integers(0, 2000), st.integers(0, 2000))
def test_both_scales_never_improve_as_dpd_grows(a, b):
    lo, hi = sorted((a, b))
    order_b, order_c = list(Bucket), list(LoanClass)
    assert order_b.index(DEFAULT_POLICY.bucket(lo)) <= order_b.index(DEFAULT_POLICY.bucket(hi))
    assert order_c.index(DEFAULT_POLICY.classification(lo)) <= order_c.index(DEFAULT_POLICY.classification(hi))


@pytest.mark.parametrize("kwargs", [
    {"bucket_upper_bounds": (30, 30, 90)}, {"class_upper_bounds": (0, 10, 20)}, {"bucket_upper_bounds": (60, 30, 90)},
    {"write_off_dpd": 0},
])
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        DelinquencyPolicy(**kwargs)


def test_negative_dpd_is_a_bug():
    with pytest.raises(ValueError):
        DEFAULT_POLICY.bucket(-1)
