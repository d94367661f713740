"""The block list: identifiers that must not get credit (a known fraudster's phone, a card reported stolen).

Why this shape: the list holds keyed hashes, never identifiers in clear, so it matches the
hashes that applications, customers and velocity events already carry, and a copy of the
table reveals nothing. Staff see masked forms only. Rules read the list as facts
(``keys.phone in lists.blocked_phone``): :func:`blocked_sets` answers for the current
event's keys with one indexed query on every decision.

A removal is soft: the entry stays, with ``removed_at`` and ``removed_by``, so who blocked and
unblocked an identifier, when and why, can be answered later. Only entries not removed block
(the partial unique index allows one such entry per identifier, so it can be blocked again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from microlend.clock import Clock
from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.security.fields import FieldCipher
from microlend.security.masking import mask_bank_card, mask_id_number, mask_phone
from microlend.services.common import is_unique_violation
from microlend.services.origination.keys import KEY_KINDS, key_hash, mask_ip, normalize_key
from microlend.store.origination_tables import block_list as _t
from microlend.store.uow import UnitOfWork

log = logging.getLogger(__name__)

REASON_MAX, ACTOR_MAX = 500, 100
MAX_LIMIT = 1000

_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BlockEntry:
    """One block-listed identifier, as staff see it (masked; the hash stays in the database)."""

    id: int
    kind: str
    value_masked: str
    reason: str
    added_by: str
    added_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "value_masked": self.value_masked, "reason": self.reason,
                "added_by": self.added_by, "added_at": self.added_at.isoformat(),
                "removed_at": self.removed_at.isoformat() if self.removed_at else None,
                "removed_by": self.removed_by}


def mask_key(kind: str, normalized: str) -> str:
    """The display form of a normalised identifier of ``kind``."""
    if kind == "id_number":
        return mask_id_number(normalized)
    if kind == "phone":
        return mask_phone(normalized)
    if kind == "card":
        return mask_bank_card(normalized)
    if kind == "ip":
        return mask_ip(normalized)
    return normalized[:4] + "***"


def _text(value: str, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required", code="missing_field", field=field)
    if len(value.strip()) > limit:
        raise ValidationError(f"{field} must be at most {limit} characters", code=f"invalid_{field}", field=field)
    return value.strip()


def _entry(row) -> BlockEntry:
    return BlockEntry(id=row.id, kind=row.kind, value_masked=row.value_masked, reason=row.reason,
                      added_by=row.added_by, added_at=row.added_at, removed_at=row.removed_at,
                      removed_by=row.removed_by)


_COLUMNS = (_t.c.id, _t.c.kind, _t.c.value_masked, _t.c.reason, _t.c.added_by, _t.c.added_at, _t.c.removed_at,
            _t.c.removed_by)
#: Entries on the list now (removed ones are history).
_ON_LIST = _t.c.removed_at.is_(None)


def add(*, uow: UnitOfWork, cipher: FieldCipher, clock: Clock, kind: str, value: str, reason: str,
        actor: str) -> BlockEntry:
    """Block an identifier of ``kind`` (id_number, phone, device, ip, card); ``already_blocked`` (409)
    when it is on the list. The value is normalised first, so ``+86 138 1234 5678`` blocks ``13812345678``."""
    if kind not in KEY_KINDS:
        raise ValidationError(f"unknown key kind {kind!r} (known: {', '.join(KEY_KINDS)})", code="invalid_key_kind",
                              field="kind")
    if not isinstance(value, str):
        raise ValidationError("value must be text", code="invalid_value", field="value")
    try:
        normalized = normalize_key(kind, value)
    except ValidationError as exc:  # the caller sent "value", whatever the identifier's own field is called
        raise ValidationError(exc.message, code=exc.code, field="value") from None
    reason, actor = _text(reason, "reason", REASON_MAX), _text(actor, "actor", ACTOR_MAX)
    hashed = key_hash(cipher, kind, normalized)
    masked = mask_key(kind, normalized)
    now = clock.now()
    blocked = ConflictError(f"this {kind} is already on the block list", code="already_blocked", field="value")
    with uow:
        if uow.session.execute(select(_t.c.id).where(_t.c.kind == kind, _t.c.value_hash == hashed,
                                                     _ON_LIST)).first():
            raise blocked
        try:
            row_id = uow.session.execute(insert(_t).values(
                kind=kind, value_hash=hashed, value_masked=masked, reason=reason, added_by=actor, added_at=now,
            ).returning(_t.c.id)).scalar_one()
            uow.commit()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise blocked from exc
    log.info("block list: %s %s added by %s (entry %s)", kind, masked, actor, row_id)
    return BlockEntry(id=row_id, kind=kind, value_masked=masked, reason=reason, added_by=actor, added_at=now)


def remove(*, uow: UnitOfWork, clock: Clock, entry_id: int, actor: str) -> BlockEntry:
    """Take an entry off the list: it is kept, marked removed by ``actor`` now, and blocks nothing more.
    ``block_list_entry_not_found`` (404) when there is no such entry on the list (removed already too)."""
    actor = _text(actor, "actor", ACTOR_MAX)
    now = clock.now()
    with uow:
        row = uow.session.execute(select(*_COLUMNS).where(_t.c.id == entry_id).with_for_update()).first()
        if row is None or row.removed_at is not None:
            raise NotFoundError(f"block list entry {entry_id} not found", code="block_list_entry_not_found",
                                field="id")
        uow.session.execute(update(_t).where(_t.c.id == entry_id).values(removed_at=now, removed_by=actor))
        uow.commit()
    entry = replace(_entry(row), removed_at=now, removed_by=actor)
    log.info("block list: %s %s removed by %s (entry %s, added by %s: %s)", entry.kind, entry.value_masked, actor,
             entry.id, entry.added_by, entry.reason)
    return entry


def list_entries(uow: UnitOfWork, *, kind: str | None = None, include_removed: bool = False, limit: int = 100,
                 offset: int = 0) -> list[BlockEntry]:
    """Entries on the list, newest first, masked (``kind`` narrows to one key kind; ``include_removed``
    adds the removed ones, with who removed them and when)."""
    if kind is not None and kind not in KEY_KINDS:
        raise ValidationError(f"unknown key kind {kind!r} (known: {', '.join(KEY_KINDS)})", code="invalid_key_kind",
                              field="kind")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValidationError(f"limit is 1 to {MAX_LIMIT} and offset at least 0", code="invalid_page", field="limit")
    query = select(*_COLUMNS).order_by(_t.c.id.desc()).limit(limit).offset(offset)
    if kind is not None:
        query = query.where(_t.c.kind == kind)
    if not include_removed:
        query = query.where(_ON_LIST)
    with uow:
        return [_entry(r) for r in uow.session.execute(query)]


def blocked_sets(session, keys: dict[str, str]) -> dict[str, frozenset[str]]:
    """The ``lists`` facts for one event: ``{"blocked_<kind>": hashes of ``keys`` on the list}`` for every
    key kind (empty when none is); removed entries block nothing. One query on the partial (kind, value_hash)
    index, none when there are no keys."""
    pairs = [(kind, value) for kind, value in keys.items() if kind in KEY_KINDS and value]
    found: dict[str, set[str]] = {}
    if pairs:
        condition = or_(*(and_(_t.c.kind == kind, _t.c.value_hash == value) for kind, value in pairs))
        for kind, value in session.execute(select(_t.c.kind, _t.c.value_hash).where(condition, _ON_LIST)):
            found.setdefault(kind, set()).add(value)
    return {f"blocked_{kind}": frozenset(found[kind]) if kind in found else _EMPTY for kind in KEY_KINDS}
