"""One error hierarchy for the whole platform.

Every error carries a stable machine ``code`` (part of the public API: clients
switch on it), a human ``message`` and, where one field is to blame, ``field``.
The HTTP layer maps each class to a status once, in ``api/errors.py``.
"""

from __future__ import annotations


class MicrolendError(Exception):
    """Base class: a refused request with a stable code."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        #: More machine-readable facts for the client (e.g. the id of a failed drawdown).
        self.extra = extra or {}

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class ValidationError(MicrolendError):
    """Input that is malformed or out of range (HTTP 422)."""

    code = "invalid_input"


class BusinessRuleError(MicrolendError):
    """Well-formed input that the rules of the product refuse (HTTP 422)."""

    code = "rule_violation"


class NotFoundError(MicrolendError):
    """An id that does not exist, or that the caller may not see (HTTP 404)."""

    code = "not_found"


class ConflictError(MicrolendError):
    """The request clashes with the current state (HTTP 409)."""

    code = "conflict"


class AuthenticationError(MicrolendError):
    """No credentials, or credentials that are not valid (HTTP 401)."""

    code = "unauthenticated"


class PermissionDeniedError(MicrolendError):
    """Valid credentials whose role may not do this (HTTP 403)."""

    code = "forbidden"


class ExternalServiceError(MicrolendError):
    """A provider (payment rail, SMS, bureau) failed or refused (HTTP 502)."""

    code = "external_service_error"
