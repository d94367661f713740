"""The model registry and scoring over HTTP: staff read models and score applicants with the
champion; admins register, promote and retire versions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from microlend.api.deps import MAX_ID, AdminDep, PlatformDep, StaffDep
from microlend.api.schemas import Strict
from microlend.services import models

router = APIRouter(tags=["models and scoring"])

ModelName = Annotated[str, Path(min_length=1, max_length=64, description="The model's name, e.g. default")]
ModelVersion = Annotated[int, Path(ge=1, le=MAX_ID, description="1, 2, 3 ... per name")]


class ModelRead(BaseModel):
    id: int
    name: str
    version: int
    kind: str = Field(description="scorecard or challenger (gradient boosting)")
    role: str = Field(description="champion (scores applicants), challenger or retired")
    format: str = Field(description="microlend.scorecard or microlend.challenger")
    digest: str = Field(description="SHA-256 of the stored artifact JSON")
    fingerprint: str | None = Field(description="Of the training data")
    metrics: dict[str, Any] = Field(description="On the development sample (auc, gini, ks ...)")
    created_at: datetime
    created_by: str
    promoted_at: datetime | None
    promoted_by: str | None


class ModelEventRead(BaseModel):
    id: int
    event: str = Field(description="registered, promoted, demoted or retired")
    actor: str
    at: datetime
    note: str | None


class ModelDetailRead(ModelRead):
    events: list[ModelEventRead] = Field(description="Oldest first")
    artifact: dict[str, Any] = Field(description="The artifact as registered: features, bins, points, metrics ...")


class ModelCreate(Strict):
    name: str = Field(models.DEFAULT_NAME, min_length=1, max_length=64)
    artifact: dict[str, Any] = Field(description="A scorecard or challenger artifact (microlend model export --json)")


class ModelAction(Strict):
    note: str | None = Field(None, max_length=models.NOTE_MAX)


class ScoreRequest(Strict):
    applicant: dict[str, Any] = Field(max_length=2000, description="feature: value (number, text or null)")
    reasons: int = Field(4, ge=0, le=models.MAX_REASONS, description="How many reason codes to return")


class ModelRef(BaseModel):
    name: str
    version: int
    kind: str


class ReasonRead(BaseModel):
    feature: str
    label: str = Field(description="The applicant's bin (scorecard) or value (challenger)")
    points: int | float | None = Field(description="Scorecard: points the applicant got for the feature")
    points_lost: int | float = Field(description="Score points the feature cost the applicant (scorecard: against "
                                                 "the feature's best bin)")
    contribution: float | None = Field(description="Challenger: the feature's contribution to the log-odds of bad")


class ScoreRead(BaseModel):
    model: ModelRef
    score: int
    pd: str = Field(description="Probability of default, six decimals")
    band: str
    reasons: list[ReasonRead] = Field(description="The features that cost the most points, worst first")


def _read(record: models.ModelRecord) -> ModelRead:
    return ModelRead(**record.to_dict(artifact=False))


def _detail(record: models.ModelRecord) -> ModelDetailRead:
    return ModelDetailRead(**record.to_dict())


@router.get("/v1/models", response_model=list[ModelRead])
def list_models(platform: PlatformDep, _: StaffDep):
    """Every version, by name then version (without artifacts)."""
    return [_read(r) for r in models.list_models(platform.reader())]


@router.post("/v1/models", status_code=status.HTTP_201_CREATED, response_model=ModelRead)
def register_model(body: ModelCreate, platform: PlatformDep, principal: AdminDep):
    """Register an artifact as the next version of ``name``, as a challenger."""
    return _read(models.register(uow=platform.uow(), artifact=body.artifact, name=body.name,
                                 actor=principal.actor, clock=platform.clock))


@router.get("/v1/models/{name}/{version}", response_model=ModelDetailRead)
def read_model(name: ModelName, version: ModelVersion, platform: PlatformDep, _: StaffDep):
    """One version: metadata, audit trail and the artifact."""
    return _detail(models.get(platform.reader(), name, version))


@router.post("/v1/models/{name}/{version}/promote", response_model=ModelRead)
def promote_model(name: ModelName, version: ModelVersion, platform: PlatformDep, principal: AdminDep,
                  body: ModelAction | None = None):
    """Make this version the champion; the previous champion becomes a challenger."""
    return _read(models.promote(uow=platform.uow(), name=name, version=version, actor=principal.actor,
                                clock=platform.clock, note=body.note if body else None))


@router.post("/v1/models/{name}/{version}/retire", response_model=ModelRead)
def retire_model(name: ModelName, version: ModelVersion, platform: PlatformDep, principal: AdminDep,
                 body: ModelAction | None = None):
    """Take a challenger out of use for good (the champion cannot be retired)."""
    return _read(models.retire(uow=platform.uow(), name=name, version=version, actor=principal.actor,
                               clock=platform.clock, note=body.note if body else None))


@router.post("/v1/scores", response_model=ScoreRead)
def score(body: ScoreRequest, platform: PlatformDep, _: StaffDep):
    """Score one applicant with the champion; 409 ``no_champion`` when none is promoted."""
    result = models.score(uow=platform.reader(), applicant=body.applicant, reasons=body.reasons)
    m = result.model
    return ScoreRead(model=ModelRef(name=m.name, version=m.version, kind=m.kind), score=result.score,
                     pd=f"{result.pd:.6f}", band=result.band,
                     reasons=[ReasonRead(**r) for r in result.reasons])
