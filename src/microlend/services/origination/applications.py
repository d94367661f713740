"""Applications: receive (consent first), decide, store the decision with its consequences.

Three steps, never a transaction held open while a provider is asked:

1. validate everything, then store the application and the consent and commit, so the
   consent exists before any bureau query (and a replayed Idempotency-Key finds it);
2. :func:`decide.decide_application` asks the sources and computes the decision;
3. lock the application and store the decision record, the velocity event, the shadow
   verdict and the status change (customer, credit line, pause, review case) together.

A crash between 1 and 3 leaves the application ``received``; the same request again
(same key) decides it then. A concurrent twin that finishes first wins; the other returns it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from microlend.errors import ConflictError, MicrolendError, NotFoundError, ValidationError
from microlend.lending.credit_lines import LineStatus
from microlend.lending.identity import (
    check_applicant_age,
    normalize_bank_card,
    normalize_name,
    normalize_phone,
    parse_id_number,
)
from microlend.rules.velocity import VelocityEvent
from microlend.rules.velocity_db import DatabaseVelocityStore
from microlend.security.masking import mask_bank_card, mask_id_number, mask_name, mask_phone
from microlend.services import config_cache
from microlend.services.common import check_amount, check_replay, is_unique_violation, require
from microlend.services.origination import guarantors, pauses, reviews
from microlend.services.origination.decide import Applicant, Decision, decide_application, failed_decision
from microlend.services.origination.keys import KEY_KINDS, key_hash, mask_ip, normalize_device, normalize_ip
from microlend.services.origination.outcome import combine
from microlend.services.origination.risk_sharing import parse_offer
from microlend.services.origination.settle import add_arrangement, ensure_customer, settle
from microlend.services.origination.sources import Identity
from microlend.services.origination.views import application_view
from microlend.store.origination_tables import applications, consents, decision_records, shadow_results

log = logging.getLogger(__name__)

MAX_MONTHLY_INCOME = Decimal("10000000")
#: How far ahead of our clock a channel's consent time may be (clocks of phones and servers drift).
CONSENT_CLOCK_SKEW = timedelta(minutes=5)
STATUSES = ("received", "approved", "rejected", "review", "step_up", "awaiting_guarantor")
#: Province-level codes an application's region may name (GB/T 2260).
REGIONS = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                     "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
                     "65", "71", "81", "82"})


@dataclass(frozen=True)
class ApplicationInput:
    """An application as received (API or CLI); :func:`submit` validates every field."""

    name: str
    id_number: str
    phone: str
    bank_card: str
    device_id: str
    ip: str
    declared_income: Decimal
    industry: str
    region: str
    consent_given: bool
    consent_text_version: str
    product_code: str | None = None
    consent_given_at: datetime | None = None
    risk_sharing: dict | None = None
    channel: str = "api"


def submit(*, platform, data: ApplicationInput, actor: str, idempotency_scope: str = "system",
           idempotency_key: str | None = None, request_fingerprint: str | None = None) -> dict[str, Any]:
    """Receive, decide and store one application; returns the staff view of it."""
    if data.consent_given is not True:  # before anything else: no consent, no query, no record
        raise ValidationError("the applicant's consent to a credit-bureau query is required",
                              code="consent_required", field="consent.given")
    applicant_id, replayed = _receive(platform, data, actor, idempotency_scope, idempotency_key, request_fingerprint)
    with platform.reader() as reader:
        row = reader.session.execute(select(applications).where(applications.c.id == applicant_id)).one()
    if replayed and row.status != "received":
        return get_application(platform=platform, application_id=row.id, for_staff=True)
    applicant = _applicant(platform, row, data)
    guarantor = guarantors.standing(platform, applicant.risk_sharing, row.id_number_hash)
    try:
        decision = decide_application(platform, applicant, existing_customer_id=row.customer_id, guarantor=guarantor)
    except Exception as exc:  # noqa: BLE001 - a decision that cannot be made is referred, not left half-done
        log.exception("application %s could not be decided; referred to review", row.id)
        decision = failed_decision(platform, applicant, f"{type(exc).__name__}")
    return _store(platform, applicant, decision)


# --- step 1: validate and receive --------------------------------------------------------------

def _clean(platform, data: ApplicationInput) -> dict[str, Any]:
    today = platform.clock.business_date()
    settings = platform.settings
    info = parse_id_number(data.id_number)
    check_applicant_age(info, on=today, min_age=settings.min_applicant_age, max_age=settings.max_applicant_age)
    income = check_amount(data.declared_income, field="declared_income")
    if income > MAX_MONTHLY_INCOME:
        raise ValidationError("declared monthly income is implausibly large", code="invalid_amount",
                              field="declared_income")
    industry = (data.industry or "").strip().lower()
    if not 1 <= len(industry) <= 40 or not industry.isprintable():
        raise ValidationError("industry must be 1 to 40 printable characters", code="invalid_industry",
                              field="industry")
    region = (data.region or "").strip()
    if region not in REGIONS:
        raise ValidationError("region must be a two-digit province code (GB/T 2260), e.g. 44",
                              code="invalid_region", field="region")
    given_at = data.consent_given_at
    if given_at is not None and (given_at.tzinfo is None or given_at > platform.clock.now() + CONSENT_CLOCK_SKEW):
        raise ValidationError("consent.given_at must be a time with a zone, not in the future",
                              code="invalid_consent", field="consent.given_at")
    channel = (data.channel or "").strip()
    if not 1 <= len(channel) <= 40 or not channel.isprintable():
        raise ValidationError("channel must be 1 to 40 printable characters", code="invalid_channel", field="channel")
    version = (data.consent_text_version or "").strip()
    if not 1 <= len(version) <= 40:
        raise ValidationError("the consent text version is required (1 to 40 characters)",
                              code="invalid_consent", field="consent.text_version")
    return {"name": normalize_name(data.name), "info": info, "phone": normalize_phone(data.phone),
            "card": normalize_bank_card(data.bank_card), "device": normalize_device(data.device_id),
            "ip": normalize_ip(data.ip), "income": income, "industry": industry, "region": region,
            "consent_version": version, "offer": parse_offer(data.risk_sharing)}


def _receive(platform, data, actor, scope, key, fingerprint) -> tuple[int, bool]:
    """Store the application and its consent (committed before any source is asked); a replayed key returns
    the earlier application."""
    clean = _clean(platform, data)
    cipher, now = platform.cipher, platform.clock.now()
    id_hash = cipher.lookup_hash(clean["info"].number, field="id_number")
    with platform.uow() as uow:
        if key:
            twin = uow.session.execute(select(applications.c.id, applications.c.request_fingerprint).where(
                applications.c.idempotency_scope == scope, applications.c.idempotency_key == key)).first()
            if twin is not None:
                check_replay(twin, fingerprint)
                return twin.id, True
        ttl = platform.settings.config_cache_seconds
        product_code = data.product_code or config_cache.cached(platform.config_cache, ("default_product",), ttl,
                                                                lambda: _default_product(uow))
        product = require(config_cache.cached(platform.config_cache, ("product", product_code), ttl,
                                              lambda: uow.products.get(product_code)),
                          "product", product_code, "product_code")
        if not product.active:
            raise ConflictError(f"product {product_code} is not open for applications", code="product_inactive",
                                field="product_code")
        _check_no_open_application(uow, id_hash, now)
        customer = uow.customers.get_by_id_hash(id_hash)
        if customer is not None and any(line.status != LineStatus.CLOSED.value and line.product_code == product_code
                                        for line in uow.lines.list_for_customer(customer.id)):
            raise ConflictError("the applicant already has an open credit line for this product",
                                code="line_exists", field="id_number")
        phone, card, ip = clean["phone"], clean["card"], clean["ip"]
        values = dict(
            status="received", idempotency_scope=scope if key else None, idempotency_key=key,
            request_fingerprint=fingerprint, customer_id=customer.id if customer else None, name=clean["name"],
            id_number_token=cipher.encrypt(clean["info"].number, field="id_number"), id_number_hash=id_hash,
            id_number_masked=mask_id_number(clean["info"].number),
            phone_token=cipher.encrypt(phone, field="phone"), phone_hash=cipher.lookup_hash(phone, field="phone"),
            phone_masked=mask_phone(phone), card_token=cipher.encrypt(card, field="bank_card"),
            card_hash=cipher.lookup_hash(card, field="bank_card"), card_masked=mask_bank_card(card),
            device_hash=key_hash(cipher, "device", clean["device"]), ip_hash=key_hash(cipher, "ip", ip),
            ip_masked=mask_ip(ip), declared_income=clean["income"], industry=clean["industry"],
            region=clean["region"], product_code=product_code,
            risk_sharing=json.dumps(data.risk_sharing, ensure_ascii=False, default=str) if data.risk_sharing else None,
            channel=data.channel, created_by=actor, created_at=now)
        try:
            application_id = uow.session.execute(insert(applications).values(**values)
                                                 .returning(applications.c.id)).scalar_one()
            uow.session.execute(insert(consents).values(
                application_id=application_id, id_number_hash=id_hash, purpose="credit_bureau_query",
                text_version=clean["consent_version"], given_at=data.consent_given_at or now, recorded_at=now,
                recorded_by=actor))
            uow.commit()
        except IntegrityError as exc:
            if not (key and is_unique_violation(exc)):
                raise
            uow.session.rollback()  # a concurrent twin with the same key committed first
            twin = uow.session.execute(select(applications.c.id, applications.c.request_fingerprint).where(
                applications.c.idempotency_scope == scope, applications.c.idempotency_key == key)).one()
            check_replay(twin, fingerprint)
            return twin.id, True
    return application_id, False


#: An application still ``received`` after this long was abandoned mid-way (a crash): it no longer blocks.
ABANDONED_AFTER = timedelta(minutes=10)


def _check_no_open_application(uow, id_hash: str, now: datetime) -> None:
    """One open application per person: a second one while the first waits for review, verification or a
    guarantor could be approved and leave the first unsettleable (its grant would find the line)."""
    t = applications
    waiting = uow.session.execute(select(t.c.id).where(
        t.c.id_number_hash == id_hash,
        (t.c.status.in_(("review", "step_up", "awaiting_guarantor")))
        | ((t.c.status == "received") & (t.c.created_at > now - ABANDONED_AFTER))).limit(1)).scalar()
    if waiting is not None:
        raise ConflictError(f"application {waiting} of this applicant is still open", code="application_open",
                            field="id_number", extra={"application_id": waiting})


def _default_product(uow) -> str:
    products = [p for p in uow.products.list() if p.active]
    if not products:
        raise ConflictError("no active product is open for applications", code="no_product", field="product_code")
    return products[0].code


def _applicant(platform, row, data: ApplicationInput) -> Applicant:
    cipher = platform.cipher
    id_number = cipher.decrypt(row.id_number_token, field="id_number")
    info = parse_id_number(id_number)
    phone = cipher.decrypt(row.phone_token, field="phone")
    card = cipher.decrypt(row.card_token, field="bank_card")
    ip = normalize_ip(data.ip)
    keys = {"id_number": row.id_number_hash, "phone": row.phone_hash, "device": row.device_hash,
            "ip": row.ip_hash, "card": row.card_hash}
    assert set(keys) == set(KEY_KINDS)
    offer = parse_offer(json.loads(row.risk_sharing)) if row.risk_sharing else None
    masked = {"name": mask_name(row.name), "id_number": row.id_number_masked, "phone": row.phone_masked,
              "bank_card": row.card_masked, "device": row.device_hash[:12], "ip": row.ip_masked,
              "declared_income": row.declared_income, "industry": row.industry, "region": row.region,
              "product_code": row.product_code, "channel": row.channel,
              "risk_sharing": json.loads(row.risk_sharing) if row.risk_sharing else None}
    return Applicant(
        application_id=row.id, identity=Identity(name=row.name, id_number=id_number, phone=phone, bank_card=card, ip=ip),
        keys=keys, declared_income=row.declared_income, industry=row.industry, region=row.region,
        product_code=row.product_code, age=info.age_on(platform.clock.business_date()),
        id_province=info.province_code, sex=info.sex, channel=row.channel, masked=masked, risk_sharing=offer)


# --- step 3: store ----------------------------------------------------------------------------------

def _store(platform, applicant: Applicant, decision: Decision) -> dict[str, Any]:
    event = VelocityEvent(kind="application", at=datetime.fromisoformat(decision.record["at"]), keys=applicant.keys,
                          ref=f"application:{applicant.application_id}")
    in_database = isinstance(platform.velocity, DatabaseVelocityStore)
    try:
        stored = _write(platform, applicant, decision, event if in_database else None)
    except MicrolendError as exc:
        if decision.status != "approved":
            raise
        # The grant itself was refused (the customer was closed meanwhile, a line appeared in a race):
        # nothing was written; store the decision again as a referral so an operator sees why.
        stored = _write(platform, applicant, _referred(decision, exc), event if in_database else None)
    if stored is None:  # a concurrent retry stored its decision first: answer with that one
        return get_application(platform=platform, application_id=applicant.application_id, for_staff=True)
    if not in_database:
        record_after_commit(platform.velocity, event)
    with platform.reader() as reader:
        row = reader.session.execute(select(applications).where(applications.c.id == applicant.application_id)).one()
        return application_view(row, record=decision.record, for_staff=True)


def record_after_commit(store, event: VelocityEvent) -> None:
    """Record in an outside store (Redis) after the decision is committed. The decision stands if the store is
    down: the miss is logged (windows undercount until it is back), never answered as a failure."""
    try:
        store.record(event)
    except Exception:  # noqa: BLE001 - any client error; the committed decision is the answer
        log.warning("velocity event %s not recorded: the velocity store is unavailable", event.ref, exc_info=True)


def _referred(decision: Decision, exc: MicrolendError) -> Decision:
    reason = {"code": "grant_failed", "en": f"The credit line could not be granted ({exc.code}); referred to review",
              "zh": f"授信额度未能发放（{exc.code}），已转人工审核"}
    parts = {**decision.record["decision"]["parts"], "grant": "review"}
    record = {**decision.record, "decision": {**decision.record["decision"], "status": "review",
                                               "outcome": "review", "grant_error": exc.code, "parts": parts,
                                               "reasons": [*decision.reasons, reason]}}
    return replace(decision, outcome="review", status="review", record=record, reasons=[*decision.reasons, reason])


def _write(platform, applicant: Applicant, decision: Decision, event: VelocityEvent | None) -> bool | None:
    """The decision record, the velocity event (database store), the shadow verdict and the status change,
    in one transaction; None when another request had already decided."""
    now = platform.clock.now()
    with platform.uow() as uow:
        row = uow.session.execute(select(applications).where(applications.c.id == applicant.application_id)
                                  .with_for_update()).one()
        if row.status != "received":
            return None
        record = decision.record
        versions = record["versions"]
        model = versions.get("model") or {}
        record_id = uow.session.execute(insert(decision_records).values(
            kind="application", application_id=row.id, customer_id=row.customer_id, decision=decision.outcome,
            record=json.dumps(record, ensure_ascii=False), rule_set=versions["rule_set"]["name"],
            rule_set_version=versions["rule_set"]["version"], rule_set_fingerprint=versions["rule_set"]["fingerprint"],
            model_name=model.get("name"), model_version=model.get("version"),
            policy_name=versions["policy"]["name"], policy_version=versions["policy"]["version"], created_at=now,
        ).returning(decision_records.c.id)).scalar_one()
        if decision.shadow is not None:
            _store_shadow(uow, record_id, decision, now)
        score = decision.score or {}
        uow.session.execute(update(applications).where(applications.c.id == row.id).values(
            decision_record_id=record_id, score=score.get("score"), band=score.get("band"),
            offered_limit=decision.policy.limit, offered_daily_rate=decision.policy.daily_rate))
        if decision.policy.risk_sharing and decision.status in ("approved", "awaiting_guarantor", "step_up", "review"):
            add_arrangement(uow, application_id=row.id, sharing=decision.policy.risk_sharing, now=now)
        _apply_status(uow, platform, row, decision, record_id)
        if event is not None:
            platform.velocity.record(event, connection=uow.session.connection())
        uow.commit()
    return True


def _apply_status(uow, platform, row, decision: Decision, record_id: int) -> None:
    status, now = decision.status, platform.clock.now()
    actor, note = "system:origination", f"decision record {record_id}"
    if status == "step_up":
        customer = ensure_customer(uow, platform, row, status="active")
        uow.session.execute(update(applications).where(applications.c.id == row.id)
                            .values(customer_id=customer.id))
        pauses.pause_customer(uow=uow, customer_id=customer.id, reason="step-up verification required at application",
                              source_kind="application", source_id=row.id, actor=actor, now=now)
    settle(uow=uow, platform=platform, application_id=row.id, status=status, actor=actor, note=note,
           reasons=decision.reasons)
    if status == "review":
        reviews.open_case(uow=uow, application_id=row.id, reasons=decision.reasons, now=now)


def _store_shadow(uow, record_id: int, decision: Decision, now) -> None:
    shadow = decision.shadow
    assert shadow is not None
    parts = decision.record["decision"]["parts"]
    uow.session.execute(insert(shadow_results).values(
        decision_record_id=record_id, stage=shadow.stage, rule_set=shadow.rule_set, rule_set_version=shadow.version,
        live_decision=decision.outcome,
        shadow_decision=combine(rules=shadow.decision, sources=parts["sources"], policy_action=parts["policy"]),
        results=json.dumps([r.to_dict() for r in shadow.results if r.hit or r.error], ensure_ascii=False),
        created_at=now))


# --- reading ----------------------------------------------------------------------------------------

def get_application(*, platform, application_id: int, for_staff: bool,
                    customer_id: int | None = None, any_owner: bool = False) -> dict[str, Any]:
    """One application: staff get the decision record; a borrower sees only their own, decision and reasons
    (``any_owner``: a guarantor who just answered sees the short view too)."""
    with platform.reader() as reader:
        row = reader.session.execute(select(applications).where(applications.c.id == application_id)).first()
        if row is None or (not for_staff and not any_owner and (customer_id is None or row.customer_id != customer_id)):
            raise NotFoundError(f"application {application_id} not found", code="application_not_found",
                                field="application_id")
        record = None
        if for_staff and row.decision_record_id is not None:
            text = reader.session.execute(select(decision_records.c.record)
                                          .where(decision_records.c.id == row.decision_record_id)).scalar()
            record = json.loads(text)
        return application_view(row, record=record, for_staff=for_staff)


def list_applications(*, platform, status: str | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}", code="invalid_status", field="status")
    with platform.reader() as reader:
        query = select(applications).order_by(applications.c.id.desc()).limit(limit).offset(offset)
        if status is not None:
            query = query.where(applications.c.status == status)
        return [application_view(row, record=None, for_staff=True) for row in reader.session.execute(query)]
