"""Credit policies stored as versioned documents; one is active, the shipped default until one is stored.

The downturn switch is a policy change like any other: it stores a new version with the
switch flipped and activates it, so every decision record names the policy (and thus the
mode) it was made under.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from microlend.clock import Clock
from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.rules.policy import Policy, default_policy, parse_policy, with_downturn
from microlend.services import config_cache
from microlend.services.common import is_unique_violation
from microlend.store.origination_tables import policy_versions
from microlend.store.uow import UnitOfWork

_CACHE: dict[str, Policy] = {}


def _row_view(row, *, document: bool = False) -> dict[str, Any]:
    view = {"name": row.name, "version": row.version, "fingerprint": row.fingerprint, "active": row.active,
            "note": row.note, "created_by": row.created_by, "created_at": row.created_at}
    if document:
        view["document"] = json.loads(row.document)
    return view


def _parsed(document_text: str, fingerprint: str) -> Policy:
    policy = _CACHE.get(fingerprint)
    if policy is None:
        policy = _CACHE[fingerprint] = parse_policy(document_text)
    return policy


def active_policy(session) -> Policy:
    """The active policy (cached per fingerprint), or the shipped default when none is stored."""
    row = session.execute(select(policy_versions.c.document, policy_versions.c.fingerprint)
                          .where(policy_versions.c.active.is_(True))).first()
    if row is None:
        return default_policy()
    return _parsed(row.document, row.fingerprint)


def store_policy(*, uow: UnitOfWork, clock: Clock, document: str | dict, actor: str, activate: bool = True,
                 note: str | None = None) -> dict[str, Any]:
    """Validate and store a policy version (refused at once when invalid); activate it unless told not to."""
    policy = parse_policy(document)
    if note is not None and len(note) > 500:
        raise ValidationError("a note is at most 500 characters", code="invalid_note", field="note")
    with uow:
        view = _insert(uow, clock, policy, actor, activate, note)
        uow.commit()
    config_cache.invalidate()
    return view


def _insert(uow: UnitOfWork, clock: Clock, policy: Policy, actor: str, activate: bool, note: str | None):
    if activate:
        uow.session.execute(update(policy_versions).where(policy_versions.c.active.is_(True)).values(active=False))
    try:
        uow.session.execute(insert(policy_versions).values(
            name=policy.name, version=policy.version, document=json.dumps(policy.to_document(), ensure_ascii=False),
            fingerprint=policy.fingerprint, active=activate, note=note, created_by=actor, created_at=clock.now()))
        uow.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise ConflictError(f"policy {policy.name} version {policy.version} already exists: bump the version",
                                code="policy_exists", field="version") from exc
        raise
    row = uow.session.execute(select(policy_versions).where(policy_versions.c.name == policy.name,
                                                            policy_versions.c.version == policy.version)).one()
    return _row_view(row, document=True)


def set_downturn(*, uow: UnitOfWork, clock: Clock, on: bool, actor: str, note: str | None = None) -> dict[str, Any]:
    """Switch downturn mode: a new version of the active policy with the switch set, activated at once."""
    with uow:
        current = active_policy(uow.session)
        if current.downturn.on == on:
            raise ConflictError(f"downturn mode is already {'on' if on else 'off'}", code="downturn_unchanged",
                                field="on")
        latest = uow.session.execute(select(policy_versions.c.version).where(policy_versions.c.name == current.name)
                                     .order_by(policy_versions.c.version.desc()).limit(1)).scalar()
        changed = with_downturn(current, on)
        if latest is not None and changed.version <= latest:
            changed = parse_policy({**changed.to_document(), "version": latest + 1})
        view = _insert(uow, clock, changed, actor, True, note or f"downturn {'on' if on else 'off'}")
        uow.commit()
    config_cache.invalidate()
    return view


def list_policies(*, uow: UnitOfWork) -> list[dict[str, Any]]:
    with uow:
        rows = uow.session.execute(select(policy_versions).order_by(policy_versions.c.name,
                                                                    policy_versions.c.version)).all()
        return [_row_view(r) for r in rows]


def current_policy_view(*, uow: UnitOfWork) -> dict[str, Any]:
    """The active policy with its document (the default one when none is stored)."""
    with uow:
        row = uow.session.execute(select(policy_versions).where(policy_versions.c.active.is_(True))).first()
        if row is not None:
            return _row_view(row, document=True)
        policy = default_policy()
        return {"name": policy.name, "version": policy.version, "fingerprint": policy.fingerprint, "active": True,
                "note": "shipped default (no policy stored yet)", "created_by": None, "created_at": None,
                "document": policy.to_document()}


def get_policy(*, uow: UnitOfWork, name: str, version: int) -> dict[str, Any]:
    with uow:
        row = uow.session.execute(select(policy_versions).where(policy_versions.c.name == name,
                                                                policy_versions.c.version == version)).first()
        if row is None:
            raise NotFoundError(f"policy {name} version {version} not found", code="policy_not_found",
                                field="version")
        return _row_view(row, document=True)
