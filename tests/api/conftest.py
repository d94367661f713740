"""Fixtures for the HTTP tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff(auth):
    """Headers of an operator key."""
    return auth("operator")
