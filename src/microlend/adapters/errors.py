"""Errors of the data providers behind origination (KYC, bureau, bank statements).

A provider that does not answer in time or answers with an error must never
approve an application and never crash the decision: origination catches
these, records ``error.code`` as a finding and sends the application to manual
review (``FALLBACK_OUTCOME``). Both classes are ``ExternalServiceError``s, so an
HTTP handler that lets one through still answers 502 with a stable code.
Messages never carry personal data (no names, ID numbers, phones or cards).
"""

from __future__ import annotations

from microlend.errors import ExternalServiceError

__all__ = ["FALLBACK_OUTCOME", "PROVIDERS", "AdapterError", "AdapterFailure", "AdapterTimeout"]

#: What a decision falls back to when a provider times out or fails.
FALLBACK_OUTCOME = "review"
#: Provider names; they prefix the error codes (``kyc_timeout``, ``bureau_failure``, ...).
PROVIDERS = ("kyc", "bureau", "statements")


class AdapterError(ExternalServiceError):
    """A provider call that gave no usable answer; ``provider`` says which one."""

    kind = "error"

    def __init__(self, provider: str, message: str | None = None, *, reference: str | None = None,
                 detail: str | None = None):
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}")
        super().__init__(
            message or f"{provider} provider {self.kind}" + (f": {detail}" if detail else ""),
            code=f"{provider}_{self.kind}",
            extra={"provider": provider, "reference": reference, "fallback": FALLBACK_OUTCOME},
        )
        self.provider = provider
        self.reference = reference
        self.detail = detail


class AdapterTimeout(AdapterError):
    """No answer in time (codes ``kyc_timeout``, ``bureau_timeout``, ``statements_timeout``)."""

    kind = "timeout"


class AdapterFailure(AdapterError):
    """An error answer or an unreadable one (``kyc_failure``, ``bureau_failure``, ``statements_failure``)."""

    kind = "failure"
