"""The SMS gateway: sends reminder texts to borrowers' phones.

Real gateways (Aliyun SMS, Tencent Cloud SMS, a carrier's SMPP link) sit
behind this Protocol. Every message carries our own ``reference``; a gateway
must treat a repeated reference as the same message and send nothing, which
is what makes a resend after a crash or a timeout safe. Phone numbers are
personal data: nothing here logs them or puts them in an exception message.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class SmsStatus(str, Enum):
    #: The gateway took the message; delivery to the handset is not yet known.
    ACCEPTED = "accepted"
    #: The handset received it.
    DELIVERED = "delivered"
    #: Refused by the gateway or not deliverable (see ``failure_code``).
    FAILED = "failed"


@dataclass(frozen=True)
class SmsReceipt:
    reference: str
    status: SmsStatus
    gateway_id: str | None
    failure_code: str | None = None


class SmsTimeout(Exception):
    """No answer in time: the gateway may or may not have taken the message."""


class SmsGateway(Protocol):
    def send(self, *, reference: str, phone: str, text: str) -> SmsReceipt:
        """Send ``text``; a reference seen before sends nothing and returns that message's receipt."""
        ...

    def status(self, *, reference: str) -> SmsReceipt | None:
        """The latest receipt of a message (None if the gateway never took it)."""
        ...


class SimulatedSmsGateway:
    """An in-memory gateway whose next outcomes tests choose.

    ``will("fail:invalid_number", "timeout", "undelivered:absent_subscriber")``
    queues outcomes for the next new messages; with nothing queued every message
    is accepted and reported delivered when ``status`` is asked. ``timeout``
    takes the message (it is in ``sent``) and then raises ``SmsTimeout``, as
    when the gateway got it but its answer was lost.
    """

    def __init__(self) -> None:
        self._script: deque[str] = deque()
        self._receipts: dict[str, SmsReceipt] = {}
        #: What ``status`` will report for an accepted message: (status, failure code).
        self._fate: dict[str, tuple[SmsStatus, str | None]] = {}
        self._counter = 0
        #: One (reference, phone, text) per distinct message the gateway took.
        self.sent: list[tuple[str, str, str]] = []

    def will(self, *outcomes: str) -> "SimulatedSmsGateway":
        for plan in outcomes:
            if plan not in ("accept", "timeout") and not plan.startswith(("fail:", "undelivered:")):
                raise ValueError(f"unknown simulated SMS outcome {plan!r}")
        self._script.extend(outcomes)
        return self

    @property
    def delivered_count(self) -> int:
        return sum(1 for r in self._receipts.values() if r.status is SmsStatus.DELIVERED)

    def send(self, *, reference: str, phone: str, text: str) -> SmsReceipt:
        if reference in self._receipts:
            return self._receipts[reference]
        plan = self._script.popleft() if self._script else "accept"
        self._counter += 1
        gateway_id = f"SMSGW{self._counter:08d}"
        if plan.startswith("fail:"):
            receipt = SmsReceipt(reference, SmsStatus.FAILED, gateway_id, plan.partition(":")[2] or "rejected")
            self._receipts[reference] = receipt
            return receipt
        self.sent.append((reference, phone, text))
        receipt = SmsReceipt(reference, SmsStatus.ACCEPTED, gateway_id)
        self._receipts[reference] = receipt
        if plan.startswith("undelivered:"):
            self._fate[reference] = (SmsStatus.FAILED, plan.partition(":")[2] or "undelivered")
        else:
            self._fate[reference] = (SmsStatus.DELIVERED, None)
        if plan == "timeout":
            raise SmsTimeout(f"simulated SMS gateway timed out on {reference}")
        return receipt

    def status(self, *, reference: str) -> SmsReceipt | None:
        receipt = self._receipts.get(reference)
        if receipt is not None and receipt.status is SmsStatus.ACCEPTED:
            final, code = self._fate.pop(reference)
            receipt = SmsReceipt(reference, final, receipt.gateway_id, code)
            self._receipts[reference] = receipt
        return receipt


__all__ = ["SimulatedSmsGateway", "SmsGateway", "SmsReceipt", "SmsStatus", "SmsTimeout"]
