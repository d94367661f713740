"""The model registry: versioned scoring models stored in the database as readable JSON,
one champion that the platform scores with, any number of challengers, and an audit trail.

A model is registered as a challenger (version 1, 2, 3 ... per name) and becomes the champion
only when promoted; the previous champion then goes back to being a challenger. The database
holds at most one champion (a partial unique index), whatever writes the rows; on PostgreSQL
every registry change also takes one advisory lock, so two promotions at once run one after
the other instead of clashing. A clash that still reaches the index is a 409, never a 500.

Stored artifacts never change, so a loaded model is cached in-process by the SHA-256 of its
JSON text: scoring parses and builds the champion once per process, not once per call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from microlend.clock import Clock
from microlend.errors import ConflictError, MicrolendError, NotFoundError, ValidationError
from microlend.services import config_cache
from microlend.services.common import is_unique_violation
from microlend.store.tables import model_events, model_versions
from microlend.store.uow import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"
#: Artifact ``format`` -> the model's kind.
FORMATS = {"microlend.scorecard": "scorecard", "microlend.challenger": "challenger"}
FORMAT_VERSIONS = (1,)
CHAMPION, CHALLENGER, RETIRED = "champion", "challenger", "retired"
ROLES = (CHAMPION, CHALLENGER, RETIRED)
REGISTERED, PROMOTED, DEMOTED = "registered", "promoted", "demoted"
EVENTS = (REGISTERED, PROMOTED, DEMOTED, RETIRED)

#: Keys every artifact has, and the further keys of each format.
REQUIRED_KEYS = ("format", "format_version", "training", "development")
FORMAT_KEYS = {"microlend.scorecard": ("features", "bands", "scaling", "base_points"),
               "microlend.challenger": ()}

#: The one advisory lock (PostgreSQL) that serialises registry changes.
REGISTRY_LOCK = 74_700
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
ACTOR_MAX, NOTE_MAX, FINGERPRINT_MAX = 100, 1000, 200
MAX_REASONS = 20


@dataclass(frozen=True)
class ModelEvent:
    id: int
    event: str
    actor: str
    at: datetime
    note: str | None

    def to_dict(self) -> dict:
        return {"id": self.id, "event": self.event, "actor": self.actor, "at": self.at.isoformat(), "note": self.note}


@dataclass(frozen=True)
class ModelRecord:
    id: int
    name: str
    version: int
    kind: str
    role: str
    format: str
    digest: str
    fingerprint: str | None
    metrics: dict
    created_at: datetime
    created_by: str
    promoted_at: datetime | None
    promoted_by: str | None
    #: The artifact as registered; filled by ``get`` only (artifacts are big).
    artifact: dict | None = None
    #: The audit trail, oldest first; filled by ``get`` only.
    events: tuple[ModelEvent, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def to_dict(self, *, artifact: bool = True) -> dict:
        data = {
            "id": self.id, "name": self.name, "version": self.version, "kind": self.kind, "role": self.role,
            "format": self.format, "digest": self.digest, "fingerprint": self.fingerprint, "metrics": self.metrics,
            "created_at": self.created_at.isoformat(), "created_by": self.created_by,
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
            "promoted_by": self.promoted_by,
        }
        if artifact and self.artifact is not None:
            data["events"] = [e.to_dict() for e in self.events]
            data["artifact"] = self.artifact
        return data


@dataclass(frozen=True)
class ScoreResult:
    """One applicant scored by the champion."""

    model: ModelRecord
    score: int
    pd: float
    band: str
    #: The features that cost the applicant most points: {"feature", "label", "points", "points_lost",
    #: "contribution"} (points for a scorecard, contribution to the log-odds of bad for a challenger).
    reasons: list[dict]


# --- checks ----------------------------------------------------------------------------

def _invalid(message: str, field: str = "artifact") -> ValidationError:
    return ValidationError(message, code="invalid_model_artifact", field=field)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name == CHAMPION:
        raise ValidationError("a model name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
                              "(and not 'champion')", code="invalid_model_name", field="name")
    return name


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is not None:
        if not isinstance(value, str):
            raise ValidationError(f"{field} must be text", code=f"invalid_{field}", field=field)
        value = value.strip() or None
    if value is None:
        if required:
            raise ValidationError(f"{field} is required", code="missing_field", field=field)
        return None
    if len(value) > limit:
        raise ValidationError(f"{field} must be at most {limit} characters", code=f"invalid_{field}", field=field)
    return value


def _check_version(version) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 2_147_483_647:
        raise ValidationError("a model version is a whole number from 1", code="invalid_model_version",
                              field="version")
    return version


def check_artifact(artifact: Any) -> tuple[str, str, str | None, dict]:
    """The artifact's format, kind, training-data fingerprint and development metrics, after checking
    it is a known format with the keys that format needs (``invalid_model_artifact`` otherwise)."""
    if not isinstance(artifact, dict):
        raise _invalid("the artifact must be a JSON object")
    fmt = artifact.get("format")
    if fmt not in FORMATS:
        raise _invalid(f"unknown artifact format {fmt!r}: expected one of {', '.join(FORMATS)}", "artifact.format")
    for key in REQUIRED_KEYS + FORMAT_KEYS[fmt]:
        if key not in artifact:
            raise _invalid(f"the {fmt} artifact has no {key!r}", f"artifact.{key}")
    if artifact["format_version"] not in FORMAT_VERSIONS or isinstance(artifact["format_version"], bool):
        raise _invalid(f"unsupported format_version {artifact['format_version']!r}: this platform reads "
                       f"{', '.join(map(str, FORMAT_VERSIONS))}", "artifact.format_version")
    kind = FORMATS[fmt]
    if artifact.get("kind", kind) != kind:
        raise _invalid(f"a {fmt} artifact is of kind {kind!r}, not {artifact.get('kind')!r}", "artifact.kind")
    training, development = artifact["training"], artifact["development"]
    if not isinstance(training, dict):
        raise _invalid("training must be an object", "artifact.training")
    fingerprint = training.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint or len(fingerprint) > FINGERPRINT_MAX:
        raise _invalid(f"training.fingerprint must be text of 1 to {FINGERPRINT_MAX} characters",
                       "artifact.training.fingerprint")
    if not isinstance(development, dict) or not isinstance(development.get("metrics"), dict):
        raise _invalid("development.metrics must be an object", "artifact.development.metrics")
    if fmt == "microlend.scorecard":
        features = artifact["features"]
        if not isinstance(features, list) or not features:
            raise _invalid("features must be a non-empty list", "artifact.features")
        for i, feature in enumerate(features):
            if not isinstance(feature, dict) or not isinstance(feature.get("name"), str) \
                    or not isinstance(feature.get("bins"), list) or not feature["bins"]:
                raise _invalid("each feature has a name and a non-empty list of bins", f"artifact.features[{i}]")
        if not isinstance(artifact["bands"], list) or not artifact["bands"]:
            raise _invalid("bands must be a non-empty list", "artifact.bands")
    return fmt, kind, fingerprint, development["metrics"]


def _dumps(artifact: dict) -> str:
    """The artifact as JSON text, keys in the order given; NaN and infinities are not JSON."""
    try:
        return json.dumps(artifact, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise _invalid(f"the artifact is not plain JSON: {exc}") from None
    except TypeError as exc:
        raise _invalid(f"the artifact holds a value JSON cannot carry: {exc}") from None


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


# --- loading models (cached) -------------------------------------------------------------

_CACHE_SIZE = 4
_cache: OrderedDict[str, Any] = OrderedDict()
_cache_lock = threading.Lock()


def _loader():
    """``microlend.scoring.artifact.load_model``, or None while that module does not exist."""
    try:
        from microlend.scoring.artifact import load_model
    except ModuleNotFoundError as exc:
        if exc.name and ("microlend.scoring".startswith(exc.name) or exc.name.startswith("microlend.scoring")):
            return None
        raise
    return load_model


def _build(artifact: dict):
    """The fitted model of an artifact; an artifact that does not load is ``invalid_model_artifact``."""
    load_model = _loader()
    if load_model is None:
        raise ConflictError("the scoring engine (microlend.scoring) is not installed", code="scoring_unavailable")
    try:
        return load_model(artifact)
    except MicrolendError as exc:
        field = exc.field or "artifact"
        raise _invalid(f"the artifact does not load: {exc.message}",
                       field if field.startswith("artifact") else f"artifact.{field}") from exc
    except Exception as exc:  # an artifact is outside input: whatever it breaks, it is refused, not a 500
        log.info("artifact refused by load_model", exc_info=True)
        raise _invalid(f"the artifact does not load: {type(exc).__name__}: {exc}") from exc


def _cached(digest: str, build) -> Any:
    with _cache_lock:
        model = _cache.get(digest)
        if model is not None:
            _cache.move_to_end(digest)
            return model
    model = build()
    with _cache_lock:
        _cache[digest] = model
        _cache.move_to_end(digest)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def clear_cache() -> None:
    """Forget the loaded models (tests; a process that wants to re-read)."""
    with _cache_lock:
        _cache.clear()


def _model_from_text(body: str, digest: str):
    if _digest(body) != digest:
        raise ConflictError("the stored artifact does not match its digest: it was changed outside the registry",
                            code="model_artifact_altered")
    return _build(json.loads(body))


# --- rows ----------------------------------------------------------------------------------

_META = [c for c in model_versions.c if c.name != "artifact"]


def _record(row, *, artifact: dict | None = None, events: tuple[ModelEvent, ...] = ()) -> ModelRecord:
    m = row._mapping
    return ModelRecord(
        id=m["id"], name=m["name"], version=m["version"], kind=m["kind"], role=m["role"], format=m["format"],
        digest=m["digest"], fingerprint=m["fingerprint"], metrics=json.loads(m["metrics"]) if m["metrics"] else {},
        created_at=m["created_at"], created_by=m["created_by"], promoted_at=m["promoted_at"],
        promoted_by=m["promoted_by"], artifact=artifact, events=events,
    )


def _find(uow: UnitOfWork, name: str, version: int, *, for_update: bool = False):
    query = select(*_META).where(model_versions.c.name == name, model_versions.c.version == version)
    if for_update:
        query = query.with_for_update()
    row = uow.session.execute(query).first()
    if row is None:
        raise NotFoundError(f"model {name} v{version} not found", code="model_not_found", field="version")
    return row


def _by_id(uow: UnitOfWork, model_id: int) -> ModelRecord:
    return _record(uow.session.execute(select(*_META).where(model_versions.c.id == model_id)).one())


def _event(uow: UnitOfWork, model_id: int, event: str, *, actor: str, at: datetime, note: str | None) -> None:
    uow.session.execute(insert(model_events).values(model_version_id=model_id, event=event, actor=actor, at=at,
                                                    note=note))


def _lock_registry(uow: UnitOfWork) -> None:
    """Serialise registry changes: an advisory transaction lock on PostgreSQL; SQLite's writer lock does it."""
    if uow.dialect == "postgresql":
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRY_LOCK})


# --- the registry ----------------------------------------------------------------------------

def register(*, uow: UnitOfWork, artifact: dict, name: str = DEFAULT_NAME, actor: str, clock: Clock) -> ModelRecord:
    """Store an artifact as the next version of ``name``, as a challenger (promote it to score with it).

    The JSON is stored exactly as given; when the scoring engine is installed the artifact must
    also load (so a model that cannot score is never registered).
    """
    name = check_name(name)
    actor = _text(actor, "actor", ACTOR_MAX, required=True)
    fmt, kind, fingerprint, metrics = check_artifact(artifact)
    body = _dumps(artifact)
    digest = _digest(body)
    metrics_text = json.dumps(metrics, ensure_ascii=False, allow_nan=True)
    if _loader() is not None:
        if fmt == "microlend.challenger":  # LightGBM aborts the process on a malformed text: read it apart first
            from microlend.scoring.booster_text import verify_in_subprocess

            verify_in_subprocess(artifact.get("booster"))
        _cached(digest, lambda: _build(json.loads(body)))
    now = clock.now()
    with uow:
        _lock_registry(uow)
        latest = uow.session.execute(select(func.max(model_versions.c.version))
                                     .where(model_versions.c.name == name)).scalar()
        version = (latest or 0) + 1
        try:
            model_id = uow.session.execute(insert(model_versions).values(
                name=name, version=version, kind=kind, role=CHALLENGER, format=fmt, artifact=body, digest=digest,
                fingerprint=fingerprint, metrics=metrics_text, created_at=now, created_by=actor,
            ).returning(model_versions.c.id)).scalar_one()
            _event(uow, model_id, REGISTERED, actor=actor, at=now, note=None)
            record = _by_id(uow, model_id)
            uow.commit()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise ConflictError(f"version {version} of {name} was registered at the same time; try again",
                                code="model_version_taken") from exc
    log.info("model %s registered by %s (%s, %s)", record.label, actor, kind, fingerprint)
    return record


def list_models(uow: UnitOfWork, *, name: str | None = None) -> list[ModelRecord]:
    """Every version (without artifacts), by name then version."""
    query = select(*_META).order_by(model_versions.c.name, model_versions.c.version)
    if name is not None:
        query = query.where(model_versions.c.name == check_name(name))
    with uow:
        return [_record(r) for r in uow.session.execute(query)]


def get(uow: UnitOfWork, name: str, version: int) -> ModelRecord:
    """One version with its artifact and its audit trail (``model_not_found`` otherwise)."""
    name, version = check_name(name), _check_version(version)
    with uow:
        row = _find(uow, name, version)
        body = uow.session.execute(select(model_versions.c.artifact).where(model_versions.c.id == row.id)).scalar_one()
        events = tuple(ModelEvent(id=e.id, event=e.event, actor=e.actor, at=e.at, note=e.note)
                       for e in uow.session.execute(select(model_events).where(model_events.c.model_version_id == row.id)
                                                    .order_by(model_events.c.id)))
        return _record(row, artifact=json.loads(body), events=events)


def latest(uow: UnitOfWork, name: str) -> ModelRecord:
    """The newest version of ``name`` (with its artifact)."""
    name = check_name(name)
    with uow:
        version = uow.session.execute(select(func.max(model_versions.c.version))
                                      .where(model_versions.c.name == name)).scalar()
    if version is None:
        raise NotFoundError(f"no model named {name}", code="model_not_found", field="name")
    return get(uow, name, version)


def champion(uow: UnitOfWork) -> ModelRecord | None:
    """The champion's metadata, or None when no model has been promoted."""
    with uow:
        row = uow.session.execute(select(*_META).where(model_versions.c.role == CHAMPION)).first()
        return _record(row) if row else None


def _champion_loaded(uow: UnitOfWork) -> tuple[ModelRecord, Any]:
    with uow:
        row = uow.session.execute(select(*_META).where(model_versions.c.role == CHAMPION)).first()
        if row is None:
            raise ConflictError("no model is the champion: promote one first (microlend model promote)",
                                code="no_champion")
        record = _record(row)

        def build():
            body = uow.session.execute(select(model_versions.c.artifact)
                                       .where(model_versions.c.id == record.id)).scalar_one()
            return _model_from_text(body, record.digest)

        return record, _cached(record.digest, build)


def champion_model(uow: UnitOfWork):
    """The champion, loaded (``microlend.scoring.artifact.load_model``) and cached in this process;
    ``no_champion`` (409) when there is none."""
    return _champion_loaded(uow)[1]


def load(record_or_artifact: ModelRecord | dict):
    """The fitted model of a registered version (from ``get``) or of an artifact (cached by content)."""
    artifact = record_or_artifact.artifact if isinstance(record_or_artifact, ModelRecord) else record_or_artifact
    if artifact is None:
        raise ValueError("load() needs a record read with get() (it carries the artifact)")
    body = _dumps(artifact)
    return _cached(_digest(body), lambda: _build(artifact))


def promote(*, uow: UnitOfWork, name: str, version: int, actor: str, clock: Clock,
            note: str | None = None) -> ModelRecord:
    """Make a version the champion; the previous champion becomes a challenger. One transaction,
    with a ``demoted`` and a ``promoted`` event. Promoting the champion again changes nothing."""
    name, version = check_name(name), _check_version(version)
    actor = _text(actor, "actor", ACTOR_MAX, required=True)
    note = _text(note, "note", NOTE_MAX)
    now = clock.now()
    with uow:
        _lock_registry(uow)
        target = _find(uow, name, version, for_update=True)
        if target.role == RETIRED:
            raise ConflictError(f"model {name} v{version} is retired; register it again to use it",
                                code="model_retired", field="version")
        if target.role == CHAMPION:
            return _record(target)
        if _loader() is not None:  # the platform must be able to score with its champion
            body = uow.session.execute(select(model_versions.c.artifact)
                                       .where(model_versions.c.id == target.id)).scalar_one()
            _cached(target.digest, lambda: _model_from_text(body, target.digest))
        try:
            old = uow.session.execute(select(model_versions.c.id, model_versions.c.name, model_versions.c.version)
                                      .where(model_versions.c.role == CHAMPION).with_for_update()).first()
            if old is not None:
                uow.session.execute(update(model_versions).where(model_versions.c.id == old.id).values(role=CHALLENGER))
                _event(uow, old.id, DEMOTED, actor=actor, at=now,
                       note=_text(f"replaced by {name} v{version}" + (f": {note}" if note else ""), "note", NOTE_MAX))
            uow.session.execute(update(model_versions).where(model_versions.c.id == target.id)
                                .values(role=CHAMPION, promoted_at=now, promoted_by=actor))
            _event(uow, target.id, PROMOTED, actor=actor, at=now, note=note)
            record = _by_id(uow, target.id)
            uow.commit()
        except IntegrityError as exc:  # the one-champion index, should two promotions still meet
            if not is_unique_violation(exc):
                raise
            raise ConflictError("another model was promoted at the same time; look again and retry",
                                code="champion_conflict") from exc
    log.info("model %s promoted to champion by %s", record.label, actor)
    config_cache.invalidate()
    return record


def retire(*, uow: UnitOfWork, name: str, version: int, actor: str, clock: Clock,
           note: str | None = None) -> ModelRecord:
    """Take a challenger out of use for good (it stays stored, with its history). The champion
    cannot be retired: promote another model first. Retiring a retired model changes nothing."""
    name, version = check_name(name), _check_version(version)
    actor = _text(actor, "actor", ACTOR_MAX, required=True)
    note = _text(note, "note", NOTE_MAX)
    now = clock.now()
    with uow:
        _lock_registry(uow)
        target = _find(uow, name, version, for_update=True)
        if target.role == CHAMPION:
            raise ConflictError(f"model {name} v{version} is the champion: promote another model before retiring it",
                                code="champion_cannot_be_retired", field="version")
        if target.role == RETIRED:
            return _record(target)
        uow.session.execute(update(model_versions).where(model_versions.c.id == target.id).values(role=RETIRED))
        _event(uow, target.id, RETIRED, actor=actor, at=now, note=note)
        record = _by_id(uow, target.id)
        uow.commit()
    log.info("model %s retired by %s", record.label, actor)
    config_cache.invalidate()
    return record


# --- scoring ----------------------------------------------------------------------------------

def _check_applicant(applicant: Any) -> Mapping[str, object]:
    if not isinstance(applicant, Mapping):
        raise ValidationError("applicant must be an object of feature: value", code="invalid_applicant",
                              field="applicant")
    for key, value in applicant.items():
        if not isinstance(key, str):
            raise ValidationError("feature names are text", code="invalid_applicant", field="applicant")
        if value is not None and not isinstance(value, (str, int, float)):
            raise ValidationError(f"{key} must be a number, text or null", code="invalid_applicant",
                                  field=f"applicant.{key}")
    return applicant


def _number(value) -> int | float:
    """A plain int (or float) from whatever numeric type the scorer returns (numpy included)."""
    as_float = float(value)
    return int(as_float) if math.isfinite(as_float) and as_float == int(as_float) else as_float


def score(*, uow: UnitOfWork, applicant: Mapping[str, object], reasons: int = 4) -> ScoreResult:
    """Score one applicant with the champion: score, probability of default, band and the
    ``reasons`` features that cost the most points. ``no_champion`` (409) when none is promoted."""
    applicant = _check_applicant(applicant)
    if isinstance(reasons, bool) or not isinstance(reasons, int) or not 0 <= reasons <= MAX_REASONS:
        raise ValidationError(f"reasons must be from 0 to {MAX_REASONS}", code="invalid_reasons", field="reasons")
    record, model = _champion_loaded(uow)
    return score_with(record, model, applicant, reasons=reasons)


def champion_loaded(uow: UnitOfWork) -> tuple[ModelRecord, Any]:
    """The champion's record and fitted model (``no_champion`` when none), for callers that cache it."""
    return _champion_loaded(uow)


def score_with(record: ModelRecord, model, applicant: Mapping[str, object], *, reasons: int = 4) -> ScoreResult:
    """Score one applicant with an already loaded model (``score`` without the champion look-up)."""
    try:
        decision = model.score_one(applicant, reasons=reasons)
    except MicrolendError as exc:
        if exc.field and not exc.field.startswith("applicant"):
            exc.field = f"applicant.{exc.field}"
        raise
    except (TypeError, ValueError) as exc:
        log.info("applicant refused by %s: %s", record.label, exc)
        raise ValidationError(f"the applicant cannot be scored: {exc}", code="invalid_applicant",
                              field="applicant") from exc
    return ScoreResult(
        model=record, score=int(decision.score), pd=float(decision.pd), band=str(decision.band),
        reasons=[_reason(r) for r in decision.reasons],
    )


def _reason(reason) -> dict:
    """A reason code as plain data: a scorecard's has the points of the applicant's bin, a
    challenger's the feature's contribution to the log-odds of bad instead."""
    points = getattr(reason, "points", None)
    contribution = getattr(reason, "contribution", None)
    return {"feature": str(reason.feature), "label": str(reason.label),
            "points": None if points is None else _number(points),
            "points_lost": _number(reason.points_lost),
            "contribution": None if contribution is None else float(contribution)}
