"""Four-element real-name verification: name, ID number, phone and bank card.

A real provider (a licensed channel to the Ministry of Public Security's
identity database, the carriers' real-name records and UnionPay's card
records) answers whether the four elements belong together; it sits behind
``KycProvider`` and maps its answer to ``KycResult`` (see ``docs/adapters.md``).
A timeout or an error answer raises ``AdapterTimeout``/``AdapterFailure``
(``kyc_timeout``, ``kyc_failure``): the caller sends the case to review, it
never approves on a missing answer. Nothing here logs or echoes the elements.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from microlend.adapters.errors import AdapterFailure, AdapterTimeout
from microlend.errors import ValidationError
from microlend.lending.identity import parse_id_number

__all__ = ["ELEMENTS", "KycOutcome", "KycProvider", "KycResult", "SimulatedKyc"]

#: The four elements, in the order a mismatch lists them.
ELEMENTS = ("name", "id_number", "phone", "bank_card")


class KycOutcome(str, Enum):
    #: All four elements belong to one real person.
    MATCH = "match"
    #: The ID number is real but some elements do not belong to it (see ``mismatched``).
    MISMATCH = "mismatch"
    #: The ID number is not in the identity database.
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class KycResult:
    outcome: KycOutcome
    #: Our own reference for the request (a repeated reference gets the first answer).
    reference: str
    #: The provider's reference for its answer (kept for disputes).
    provider_reference: str
    #: Elements that did not match, a subset of ``ELEMENTS`` in that order (empty unless MISMATCH).
    mismatched: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return self.outcome is KycOutcome.MATCH

    def finding(self) -> str:
        """A finding code for rules: ``kyc_match``, ``kyc_not_found``, ``kyc_mismatch_phone``, ..."""
        if self.outcome is KycOutcome.MISMATCH:
            return "kyc_mismatch_" + "_".join(self.mismatched)
        return f"kyc_{self.outcome.value}"


class KycProvider(Protocol):
    def verify(self, *, reference: str, name: str, id_number: str, phone: str, bank_card: str) -> KycResult:
        """Check the four (normalised) elements; raises ``AdapterTimeout`` or ``AdapterFailure``."""
        ...


class SimulatedKyc:
    """A provider whose answers tests choose.

    By default every well-formed identity is a real person and matches (an ID
    number that fails its checks is NOT_FOUND). ``enrol(name=..., id_number=...,
    phone=..., bank_card=...)`` records a person's true elements, so a request
    with other elements is a MISMATCH listing them. ``steer(id_number, plan)``
    fixes the answer for one ID number and ``will(*plans)`` queues answers for
    the next new requests (ahead of steering); plans: ``match``, ``not_found``,
    ``mismatch:phone`` (or ``mismatch:name,bank_card``), ``timeout``, ``failure``.
    A repeated reference returns the first answer.
    """

    def __init__(self) -> None:
        self._script: deque[str] = deque()
        self._per_id: dict[str, str] = {}
        self._people: dict[str, dict[str, str]] = {}
        self._results: dict[str, KycResult] = {}
        self._counter = 0
        #: (reference, id_number) of every request that reached the provider.
        self.requests: list[tuple[str, str]] = []

    @staticmethod
    def _check(plan: str) -> str:
        if plan in ("match", "not_found", "timeout", "failure"):
            return plan
        if plan.startswith("mismatch:"):
            elements = plan.partition(":")[2].split(",")
            if elements and all(e in ELEMENTS for e in elements):
                return plan
        raise ValueError(f"unknown simulated KYC outcome {plan!r}")

    def will(self, *plans: str) -> "SimulatedKyc":
        self._script.extend(self._check(p) for p in plans)
        return self

    def steer(self, id_number: str, plan: str) -> "SimulatedKyc":
        self._per_id[id_number] = self._check(plan)
        return self

    def enrol(self, *, name: str, id_number: str, phone: str, bank_card: str) -> "SimulatedKyc":
        self._people[id_number] = {"name": name, "id_number": id_number, "phone": phone, "bank_card": bank_card}
        return self

    def verify(self, *, reference: str, name: str, id_number: str, phone: str, bank_card: str) -> KycResult:
        if reference in self._results:
            return self._results[reference]
        plan = self._script.popleft() if self._script else self._per_id.get(id_number)
        self.requests.append((reference, id_number))
        if plan == "timeout":
            raise AdapterTimeout("kyc", reference=reference, detail="simulated")
        if plan == "failure":
            raise AdapterFailure("kyc", reference=reference, detail="simulated")
        self._counter += 1
        provider_reference = f"KYC{self._counter:010d}"
        if plan is None:
            plan = self._natural(name=name, id_number=id_number, phone=phone, bank_card=bank_card)
        if plan.startswith("mismatch:"):
            mismatched = set(plan.partition(":")[2].split(","))
            result = KycResult(KycOutcome.MISMATCH, reference, provider_reference,
                               tuple(e for e in ELEMENTS if e in mismatched))
        else:
            result = KycResult(KycOutcome(plan), reference, provider_reference)
        self._results[reference] = result
        return result

    def _natural(self, **given: str) -> str:
        try:
            parse_id_number(given["id_number"])
        except ValidationError:
            return "not_found"
        known = self._people.get(given["id_number"])
        if known is None:
            return "match"
        wrong = [e for e in ELEMENTS if given[e] != known[e]]
        return "mismatch:" + ",".join(wrong) if wrong else "match"
