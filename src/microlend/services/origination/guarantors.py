"""Guarantors: whether a proposed guarantor is a customer in good standing, and their answer.

Good standing: the customer exists, is active (not paused, not closed), has nothing overdue
and is not the applicant. The guarantor answers themselves (their own borrower key) or
through staff; until then the application waits in ``awaiting_guarantor``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from microlend.errors import ConflictError, NotFoundError, PermissionDeniedError
from microlend.rules.policy import GuarantorStanding, RiskSharingOffer
from microlend.services.origination.settle import lock_application, settle
from microlend.store.origination_tables import risk_sharing_arrangements
from microlend.store.tables import loans


def standing(platform, offer: RiskSharingOffer | None, applicant_id_hash: str) -> GuarantorStanding | None:
    if offer is None or offer.kind != "guarantor" or offer.guarantor_customer_id is None:
        return None
    customer_id = offer.guarantor_customer_id
    with platform.reader() as reader:
        customer = reader.customers.get(customer_id)
        if customer is None:
            return GuarantorStanding(customer_id=customer_id, exists=False, active=False, overdue=False,
                                     paused=False, is_applicant=False)
        overdue = reader.session.execute(select(loans.c.id).where(
            loans.c.customer_id == customer_id,
            or_(loans.c.dpd > 0, loans.c.status == "written_off")).limit(1)).first() is not None
    return GuarantorStanding(customer_id=customer_id, exists=True, active=customer.status == "active",
                             overdue=overdue, paused=customer.status == "paused",
                             is_applicant=customer.id_number_hash == applicant_id_hash)


def answer(*, platform, application_id: int, accept: bool, actor: str, as_customer: int | None) -> dict[str, Any]:
    """The guarantor's answer: accepting approves the application (the line is granted), declining rejects it.

    ``as_customer``: the borrower answering for themselves (must be the named guarantor); None for staff."""
    with platform.uow() as uow:
        app = lock_application(uow, application_id)
        t = risk_sharing_arrangements
        arrangement = uow.session.execute(select(t).where(t.c.application_id == application_id,
                                                          t.c.kind == "guarantor")).first()
        if arrangement is None:
            raise NotFoundError(f"application {application_id} has no guarantor", code="guarantor_not_found",
                                field="application_id")
        if as_customer is not None and as_customer != arrangement.guarantor_customer_id:
            raise NotFoundError(f"application {application_id} has no guarantor", code="guarantor_not_found",
                                field="application_id")
        if app.status != "awaiting_guarantor" or arrangement.status != "pending":
            raise ConflictError(f"application {application_id} is not waiting for its guarantor",
                                code="application_not_awaiting_guarantor", field="application_id")
        if accept and not standing(platform, RiskSharingOffer(kind="guarantor",
                                                              guarantor_customer_id=arrangement.guarantor_customer_id),
                                   app.id_number_hash).good:
            # Good standing is checked again now: paused or overdue since the application, the guarantee is void.
            changes = settle(uow=uow, platform=platform, application_id=application_id, status="rejected",
                             actor=actor, note="the guarantor is no longer in good standing",
                             reasons=[{"code": "guarantor_not_in_good_standing",
                                       "en": "The guarantor is not a customer in good standing",
                                       "zh": "担保人不是信用良好的客户"}])
        elif accept:
            now = platform.clock.now()
            uow.session.execute(t.update().where(t.c.id == arrangement.id).values(accepted_at=now, accepted_by=actor))
            changes = settle(uow=uow, platform=platform, application_id=application_id, status="approved",
                             actor=actor, note="the guarantor accepted")
        else:
            changes = settle(uow=uow, platform=platform, application_id=application_id, status="rejected",
                             actor=actor, note="the guarantor declined",
                             reasons=[{"code": "guarantor_declined", "en": "The guarantor declined",
                                       "zh": "担保人拒绝提供担保"}])
        uow.commit()
        return changes


def check_answer_allowed(*, is_admin: bool, customer_id: int | None) -> int | None:
    """The guarantor answers with their own key; an administrator may record an answer given in writing.
    An operator may not: a guarantee needs the guarantor, not the staff who handle the application."""
    if is_admin:
        return None
    if customer_id is None:
        raise PermissionDeniedError("only the guarantor (or an administrator) may answer", code="forbidden",
                                    field=None)
    return customer_id
