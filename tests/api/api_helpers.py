"""Helpers shared by the HTTP tests."""

from __future__ import annotations


def assert_error(resp, status: int, code: str, field: str | None) -> dict:
    """The response is the JSON error shape with this status, code and field."""
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code, resp.text
    assert error["field"] == field, resp.text
    assert error["message"]
    return error
