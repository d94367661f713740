"""Applications (submitted by staff or a channel key), decisions, guarantor answers, credit policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from microlend.api.application_schemas import (
    ApplicationCreate,
    ApplicationRead,
    DownturnSwitch,
    GuarantorAnswer,
    PolicyCreate,
    PolicyRead,
)
from microlend.api.deps import MAX_ID, AdminDep, IdempotencyKeyDep, IdPath, PlatformDep, PrincipalDep, StaffDep
from microlend.security.api_keys import Role
from microlend.services.common import fingerprint
from microlend.services.origination import applications, guarantors, policies

router = APIRouter(tags=["origination"])


@router.post("/v1/applications", status_code=status.HTTP_201_CREATED, response_model=ApplicationRead)
def apply(body: ApplicationCreate, platform: PlatformDep, principal: StaffDep, key: IdempotencyKeyDep):
    """Verify, check, score and decide an application at once; an approval grants the credit line."""
    data = applications.ApplicationInput(
        name=body.name, id_number=body.id_number, phone=body.phone, bank_card=body.bank_card,
        device_id=body.device_id, ip=body.ip, declared_income=body.declared_income, industry=body.industry,
        region=body.region, product_code=body.product_code,
        consent_given=body.consent is not None and body.consent.given,
        consent_text_version=body.consent.text_version if body.consent else "",
        consent_given_at=body.consent.given_at if body.consent else None,
        risk_sharing=body.risk_sharing.model_dump(mode="json", exclude_none=True) if body.risk_sharing else None,
        channel=body.channel)
    return applications.submit(platform=platform, data=data, actor=principal.actor,
                               idempotency_scope=principal.key_id, idempotency_key=key,
                               request_fingerprint=fingerprint(body.model_dump(mode="json")))


@router.get("/v1/applications", response_model=list[ApplicationRead])
def list_applications(platform: PlatformDep, _: StaffDep,
                      status_filter: Annotated[str | None, Query(alias="status", max_length=20)] = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0):
    return applications.list_applications(platform=platform, status=status_filter, limit=limit, offset=offset)


@router.get("/v1/applications/{application_id}", response_model=ApplicationRead)
def read_application(application_id: IdPath, platform: PlatformDep, principal: PrincipalDep):
    """Staff get the whole decision record; the applicant gets the decision and plain reasons."""
    return applications.get_application(platform=platform, application_id=application_id,
                                        for_staff=principal.is_staff, customer_id=principal.customer_id)


@router.post("/v1/applications/{application_id}/guarantor", response_model=ApplicationRead)
def guarantor_answer(application_id: IdPath, body: GuarantorAnswer, platform: PlatformDep, principal: PrincipalDep):
    """The guarantor (their own borrower key) accepts or declines; an admin may record a written answer."""
    as_customer = guarantors.check_answer_allowed(is_admin=principal.role is Role.ADMIN,
                                                  customer_id=principal.customer_id)
    guarantors.answer(platform=platform, application_id=application_id, accept=body.accept, actor=principal.actor,
                      as_customer=as_customer)
    return applications.get_application(platform=platform, application_id=application_id,
                                        for_staff=principal.is_staff, any_owner=True)


@router.get("/v1/policy", response_model=PolicyRead)
def read_policy(platform: PlatformDep, _: StaffDep):
    """The active credit policy (the shipped default until one is stored)."""
    return policies.current_policy_view(uow=platform.reader())


@router.get("/v1/policy/versions", response_model=list[PolicyRead])
def policy_versions(platform: PlatformDep, _: StaffDep):
    return policies.list_policies(uow=platform.reader())


@router.post("/v1/policy", status_code=status.HTTP_201_CREATED, response_model=PolicyRead)
def store_policy(body: PolicyCreate, platform: PlatformDep, principal: AdminDep):
    return policies.store_policy(uow=platform.uow(), clock=platform.clock, document=body.document,
                                 actor=principal.actor, activate=body.activate, note=body.note)


@router.post("/v1/policy/downturn", response_model=PolicyRead)
def downturn(body: DownturnSwitch, platform: PlatformDep, principal: AdminDep):
    """Switch downturn mode on or off: a new policy version, active at once."""
    return policies.set_downturn(uow=platform.uow(), clock=platform.clock, on=body.on, actor=principal.actor,
                                 note=body.note)
