"""Rule sets stored in the database: loaded as drafts, one active and one shadow set per stage.

Why this shape: risk staff change rules without a deployment, and every decision must say
which rules it ran. A set is parsed (and refused with the line and the reason) when it is
stored, never when a customer is waiting; stored versions never change, so a compiled set
is cached in-process by its fingerprint. The decision path asks for the active (and shadow)
set with one indexed query for the fingerprint and a cache hit. With no active set a stage
runs the built-in set. The database allows one active and one shadow set per stage (partial
unique indexes); on PostgreSQL changes also take an advisory lock, so two activations run
one after the other and a clash that still reaches an index is a 409, never a 500.

Statuses: draft (stored, never used) -> active | shadow -> retired. Activating a set retires
the stage's previous active set; shadowing one retires the previous shadow. A retired set can
be activated again (a rollback is activating the previous version).

Who did what is kept in ``rule_set_events``, written in the transaction that makes the change:
one row when a set is stored and one per status change (the set retired because another
replaced it gets its own row, whose note names the replacement). Asking for a status a set
already has changes nothing and writes nothing.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from microlend.clock import Clock
from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.rules.builtin import builtin_rule_set
from microlend.rules.language import STAGES, RuleSet, parse_rule_set
from microlend.services import config_cache
from microlend.services.common import is_unique_violation
from microlend.store.origination_tables import rule_set_events as _events
from microlend.store.origination_tables import rule_sets as _t
from microlend.store.uow import UnitOfWork

log = logging.getLogger(__name__)

DRAFT, ACTIVE, SHADOW, RETIRED = "draft", "active", "shadow", "retired"
STATUSES = (DRAFT, ACTIVE, SHADOW, RETIRED)
#: What ``rule_set_events`` records, and the event of each status change.
STORED, ACTIVATED, SHADOWED = "stored", "activated", "shadowed"
EVENTS = (STORED, ACTIVATED, SHADOWED, RETIRED)
_EVENT_OF = {ACTIVE: ACTIVATED, SHADOW: SHADOWED, RETIRED: RETIRED}
NOTE_MAX = 500
#: Names travel in URLs (/v1/rule-sets/{name}/{version}) and in every decision record.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,79}$")
ACTOR_MAX = 100
MAX_VERSION = 2_147_483_647
#: The one advisory lock (PostgreSQL) that serialises rule-set status changes.
RULE_SET_LOCK = 74_705

_META = [c for c in _t.c if c.name != "source"]


@dataclass(frozen=True)
class StoredRuleSet:
    """A stored rule set's metadata (``source`` and ``events`` only from :func:`get_rule_set`)."""

    id: int
    name: str
    version: int
    stage: str
    format: str
    fingerprint: str
    status: str
    created_by: str
    created_at: datetime
    changed_at: datetime
    source: str | None = None
    #: Its history, oldest first (:func:`rule_set_history`'s dicts), when asked for.
    events: tuple[dict, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self, *, source: bool = True) -> dict:
        data = {"id": self.id, "name": self.name, "version": self.version, "stage": self.stage,
                "format": self.format, "fingerprint": self.fingerprint, "status": self.status,
                "created_by": self.created_by, "created_at": self.created_at.isoformat(),
                "changed_at": self.changed_at.isoformat()}
        if source and self.source is not None:
            data["source"] = self.source
        if self.events is not None:
            data["events"] = [dict(e) for e in self.events]
        return data


# --- compiled sets, cached by fingerprint --------------------------------------------------------

_CACHE_SIZE = 16
_cache: OrderedDict[str, RuleSet] = OrderedDict()
_cache_lock = threading.Lock()


def _remember(rule_set: RuleSet) -> RuleSet:
    with _cache_lock:
        _cache[rule_set.fingerprint] = rule_set
        _cache.move_to_end(rule_set.fingerprint)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return rule_set


def _cached(fingerprint: str) -> RuleSet | None:
    with _cache_lock:
        found = _cache.get(fingerprint)
        if found is not None:
            _cache.move_to_end(fingerprint)
        return found


def clear_cache() -> None:
    """Forget the compiled sets (tests; a process that wants to re-read)."""
    with _cache_lock:
        _cache.clear()


def _compile(source: str, fmt: str, fingerprint: str, label: str) -> RuleSet:
    rule_set = parse_rule_set(source, source=label, format=fmt)
    if rule_set.fingerprint != fingerprint:
        raise ConflictError(f"rule set {label} does not match its fingerprint: it was changed outside the store",
                            code="rule_set_altered")
    return _remember(rule_set)


def compiled_by_id(session, row_id: int, fingerprint: str) -> RuleSet:
    """The compiled set of a stored row: from the cache, or read and compiled once."""
    found = _cached(fingerprint)
    if found is not None:
        return found
    row = session.execute(select(_t.c.source, _t.c.format, _t.c.name, _t.c.version)
                          .where(_t.c.id == row_id)).one()
    return _compile(row.source, row.format, fingerprint, f"{row.name}@{row.version}")


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ValidationError(f"unknown stage {stage!r} (known: {', '.join(STAGES)})", code="invalid_stage",
                              field="stage")
    return stage


def active_rule_set(session, stage: str) -> RuleSet:
    """The compiled active set of ``stage``, or the built-in set when none is active.

    Called on every decision, inside the caller's transaction (``session``: a Session or a
    Connection): one query on the one-active index, then the in-process cache."""
    row = session.execute(select(_t.c.id, _t.c.fingerprint)
                          .where(_t.c.stage == _check_stage(stage), _t.c.status == ACTIVE)).first()
    if row is None:
        return builtin_rule_set(stage)
    return compiled_by_id(session, row.id, row.fingerprint)


def shadow_rule_set(session, stage: str) -> RuleSet | None:
    """The compiled shadow set of ``stage`` (evaluated beside the live one, never deciding), or None."""
    row = session.execute(select(_t.c.id, _t.c.fingerprint)
                          .where(_t.c.stage == _check_stage(stage), _t.c.status == SHADOW)).first()
    return None if row is None else compiled_by_id(session, row.id, row.fingerprint)


# --- checks and rows -------------------------------------------------------------------------------

def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValidationError("a rule set name is 1 to 80 letters, digits, '.', '_' or '-', starting with a letter",
                              code="invalid_rule_set_name", field="name")
    return name


def check_version(version) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise ValidationError("a rule set version is a whole number from 1", code="invalid_rule_set_version",
                              field="version")
    return version


def _actor(actor: str) -> str:
    if not isinstance(actor, str) or not actor.strip() or len(actor.strip()) > ACTOR_MAX:
        raise ValidationError(f"actor must be 1 to {ACTOR_MAX} characters", code="invalid_actor", field="actor")
    return actor.strip()


def _record(row, source: str | None = None) -> StoredRuleSet:
    m = row._mapping
    return StoredRuleSet(id=m["id"], name=m["name"], version=m["version"], stage=m["stage"], format=m["format"],
                         fingerprint=m["fingerprint"], status=m["status"], created_by=m["created_by"],
                         created_at=m["created_at"], changed_at=m["changed_at"], source=source)


def _find(uow: UnitOfWork, name: str, version: int, *, for_update: bool = False, columns=None):
    query = select(*(columns or _META)).where(_t.c.name == name, _t.c.version == version)
    if for_update:
        query = query.with_for_update()
    row = uow.session.execute(query).first()
    if row is None:
        raise NotFoundError(f"rule set {name}@{version} not found", code="rule_set_not_found", field="version")
    return row


def _lock(uow: UnitOfWork) -> None:
    """Serialise status changes: an advisory transaction lock on PostgreSQL; SQLite's writer lock does it."""
    if uow.dialect == "postgresql":
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RULE_SET_LOCK})


def _audit(uow: UnitOfWork, event: str, record: StoredRuleSet, actor: str, at: datetime,
           note: str | None = None) -> None:
    """Who did what: a ``rule_set_events`` row in the caller's transaction (logged after the commit)."""
    uow.session.execute(insert(_events).values(rule_set_id=record.id, event=event, actor=actor,
                                               note=note[:NOTE_MAX] if note else None, at=at))


def _log(event: str, record: StoredRuleSet, actor: str, note: str | None = None) -> None:
    log.info("rule set %s (%s) %s by %s%s", record.label, record.stage, event, actor, f": {note}" if note else "")


def _history(uow: UnitOfWork, rule_set_id: int) -> tuple[dict, ...]:
    rows = uow.session.execute(select(_events.c.id, _events.c.event, _events.c.actor, _events.c.note, _events.c.at)
                               .where(_events.c.rule_set_id == rule_set_id).order_by(_events.c.id))
    return tuple({"id": r.id, "event": r.event, "actor": r.actor, "note": r.note, "at": r.at.isoformat()}
                 for r in rows)


# --- the store -------------------------------------------------------------------------------------

def store_rule_set(*, uow: UnitOfWork, clock: Clock, text: str, format: str | None = None,
                   actor: str) -> StoredRuleSet:
    """Parse and store a rule set as a draft. A syntax error or unknown field is ``invalid_rule_set``
    (the message names the line); a (name, version) already stored is ``rule_set_exists``."""
    actor = _actor(actor)
    rule_set = parse_rule_set(text, source="rule set", format=format)
    if not NAME_PATTERN.match(rule_set.name):
        raise ValidationError(f"rule set: name {rule_set.name!r} must be 1 to 80 letters, digits, '.', '_' or '-', "
                              "starting with a letter", code="invalid_rule_set", field="rules",
                              extra={"line": None, "reason": "bad name", "source": "rule set"})
    check_version(rule_set.version)
    now = clock.now()
    exists = ConflictError(f"rule set {rule_set.label} is already stored: bump the version",
                           code="rule_set_exists", field="version")
    with uow:
        if uow.session.execute(select(_t.c.id).where(_t.c.name == rule_set.name,
                                                     _t.c.version == rule_set.version)).first():
            raise exists
        try:
            row_id = uow.session.execute(insert(_t).values(
                name=rule_set.name, version=rule_set.version, stage=rule_set.stage, format=rule_set.format,
                source=rule_set.text, fingerprint=rule_set.fingerprint, status=DRAFT, created_by=actor,
                created_at=now, changed_at=now).returning(_t.c.id)).scalar_one()
            record = _record(uow.session.execute(select(*_META).where(_t.c.id == row_id)).one())
            _audit(uow, STORED, record, actor, now)
            uow.commit()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise exists from exc
    _remember(rule_set)
    _log(STORED, record, actor)
    return record


def list_rule_sets(uow: UnitOfWork, *, stage: str | None = None, status: str | None = None) -> list[StoredRuleSet]:
    """Every stored set (without sources), by stage, name and version."""
    query = select(*_META).order_by(_t.c.stage, _t.c.name, _t.c.version)
    if stage is not None:
        query = query.where(_t.c.stage == _check_stage(stage))
    if status is not None:
        if status not in STATUSES:
            raise ValidationError(f"unknown status {status!r} (known: {', '.join(STATUSES)})",
                                  code="invalid_status", field="status")
        query = query.where(_t.c.status == status)
    with uow:
        return [_record(r) for r in uow.session.execute(query)]


def get_rule_set(uow: UnitOfWork, name: str, version: int, *, events: bool = False) -> StoredRuleSet:
    """One stored set with its source (``rule_set_not_found`` otherwise); ``events``: with its history
    (read in the same transaction, so status and history agree)."""
    name, version = check_name(name), check_version(version)
    with uow:
        row = _find(uow, name, version, columns=list(_t.c))
        record = _record(row, source=row.source)
        if events:
            record = replace(record, events=_history(uow, row.id))
        return record


def rule_set_history(uow: UnitOfWork, name: str, version: int) -> list[dict]:
    """Who stored and changed a set, oldest first: ``{id, event, actor, note, at}`` where ``event`` is
    stored, activated, shadowed or retired (``rule_set_not_found`` when there is no such set)."""
    name, version = check_name(name), check_version(version)
    with uow:
        return list(_history(uow, _find(uow, name, version).id))


def compiled_rule_set(uow: UnitOfWork, name: str, version: int) -> RuleSet:
    """A stored set, compiled (from the cache when it was compiled before)."""
    name, version = check_name(name), check_version(version)
    with uow:
        row = _find(uow, name, version)
        return compiled_by_id(uow.session, row.id, row.fingerprint)


def _change(*, uow: UnitOfWork, clock: Clock, name: str, version: int, actor: str, to: str) -> StoredRuleSet:
    name, version, actor = check_name(name), check_version(version), _actor(actor)
    now = clock.now()
    with uow:
        _lock(uow)
        target = _find(uow, name, version, for_update=True)
        if target.status == to:
            return _record(target)
        if to == SHADOW and target.status == ACTIVE:
            raise ConflictError(f"rule set {name}@{version} is active: it cannot shadow itself",
                                code="rule_set_active", field="version")
        if to == RETIRED and target.status == ACTIVE:
            raise ConflictError(f"rule set {name}@{version} is active: activate another set before retiring it",
                                code="rule_set_active", field="version")
        if to in (ACTIVE, SHADOW):  # a set that no longer compiles (the facts changed) is never put to use
            compiled_by_id(uow.session, target.id, target.fingerprint)
        replaced = None
        try:
            if to in (ACTIVE, SHADOW):
                replaced = uow.session.execute(select(*_META).where(_t.c.stage == target.stage, _t.c.status == to)
                                               .with_for_update()).first()
                if replaced is not None:
                    uow.session.execute(update(_t).where(_t.c.id == replaced.id).values(status=RETIRED,
                                                                                         changed_at=now))
            uow.session.execute(update(_t).where(_t.c.id == target.id).values(status=to, changed_at=now))
            record = _record(uow.session.execute(select(*_META).where(_t.c.id == target.id)).one())
            if replaced is not None:
                _audit(uow, RETIRED, _record(replaced), actor, now, f"replaced by {record.label}")
            _audit(uow, _EVENT_OF[to], record, actor, now)
            uow.commit()
        except IntegrityError as exc:  # the one-active / one-shadow index, should two changes still meet
            if not is_unique_violation(exc):
                raise
            raise ConflictError(f"another {to} rule set was set at the same time; look again and retry",
                                code="rule_set_conflict") from exc
    if replaced is not None:
        _log(RETIRED, _record(replaced), actor, f"replaced by {record.label}")
    _log(_EVENT_OF[to], record, actor)
    config_cache.invalidate()
    return record


def activate(*, uow: UnitOfWork, clock: Clock, name: str, version: int, actor: str) -> StoredRuleSet:
    """Make a set the stage's active set; the previous active set is retired. Idempotent."""
    return _change(uow=uow, clock=clock, name=name, version=version, actor=actor, to=ACTIVE)


def shadow(*, uow: UnitOfWork, clock: Clock, name: str, version: int, actor: str) -> StoredRuleSet:
    """Run a set in shadow beside the active one (its verdicts are stored, never acted on); the previous
    shadow set is retired. The active set cannot be its own shadow."""
    return _change(uow=uow, clock=clock, name=name, version=version, actor=actor, to=SHADOW)


def retire(*, uow: UnitOfWork, clock: Clock, name: str, version: int, actor: str) -> StoredRuleSet:
    """Take a draft or shadow set out of use (it stays stored). The active set cannot be retired."""
    return _change(uow=uow, clock=clock, name=name, version=version, actor=actor, to=RETIRED)
