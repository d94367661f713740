"""Rule sets and the block list over HTTP: staff read, backtest and see shadow reports; admins store,
activate, shadow and retire rule sets and change the block list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from microlend.api.deps import MAX_ID, AdminDep, IdPath, PlatformDep, StaffDep
from microlend.api.schemas import Strict
from microlend.rules.language import MAX_RULE_SET_BYTES, parse_rule_set
from microlend.services.origination import backtest as backtests
from microlend.services.origination import block_list, rule_sets

router = APIRouter(tags=["rule sets and block list"])

RuleSetName = Annotated[str, Path(min_length=1, max_length=80, description="The rule set's name")]
RuleSetVersion = Annotated[int, Path(ge=1, le=MAX_ID, description="Its version")]
Stage = Literal["application", "drawdown"]
Status = Literal["draft", "active", "shadow", "retired"]
Outcome = Literal["approve", "review", "step_up", "reject"]
KeyKind = Literal["id_number", "phone", "device", "ip", "card"]


class RuleSetRead(BaseModel):
    id: int
    name: str
    version: int
    stage: Stage
    format: Literal["yaml", "json"]
    fingerprint: str = Field(description="SHA-256 of the canonical JSON form; decision records keep it")
    status: Status = Field(description="draft, active (decides), shadow (evaluated beside, never decides), retired")
    created_by: str
    created_at: datetime
    changed_at: datetime = Field(description="When the status last changed")


class RuleSetEventRead(BaseModel):
    id: int
    event: Literal["stored", "activated", "shadowed", "retired"]
    actor: str
    note: str | None = Field(description="Why, where the change says (a set retired because another replaced it)")
    at: datetime


class RuleSetDetailRead(RuleSetRead):
    source: str = Field(description="The text as stored")
    events: list[RuleSetEventRead] = Field(description="Who stored and changed it, and when: oldest first")


class RuleSetCreate(Strict):
    source: str = Field(min_length=1, max_length=MAX_RULE_SET_BYTES, description="The rule set, YAML or JSON")
    format: Literal["yaml", "json"] | None = Field(None, description="Default: JSON when the text starts with '{'")


class BacktestRequest(Strict):
    source: str | None = Field(None, min_length=1, max_length=MAX_RULE_SET_BYTES,
                               description="A candidate not stored yet (or give name and version)")
    format: Literal["yaml", "json"] | None = None
    name: str | None = Field(None, min_length=1, max_length=80)
    version: int | None = Field(None, ge=1, le=MAX_ID)
    since: AwareDatetime | None = Field(None, description="Decision records created at or after")
    until: AwareDatetime | None = Field(None, description="... and before")
    limit: int | None = Field(None, ge=1, le=backtests.MAX_LIMIT, description="At most this many records, oldest first")
    live_windows: bool = Field(False, description="Answer windows the records lack from the live velocity store "
                                                  "(exact only while its events are kept: 7 days)")

    @model_validator(mode="after")
    def _one_candidate(self):
        if (self.source is None) == (self.name is None and self.version is None):
            raise ValueError("give either source, or name and version")
        if self.source is None and (self.name is None or self.version is None):
            raise ValueError("give both name and version")
        return self


class RuleStatsRead(BaseModel):
    id: str
    outcome: Outcome
    hits: int
    errors: int
    compared: int = Field(description="Records whose live set had a rule with this id")
    live_hits: int | None = Field(description="Its hits there (null when no record had it)")
    new_hits: int = Field(description="Hit by the candidate, not live (compared records)")
    lost_hits: int = Field(description="Hit live, not by the candidate (compared records)")


class MovedRead(BaseModel):
    decision_record_id: int
    application_id: int | None
    live: Outcome
    candidate: Outcome


class BacktestRead(BaseModel):
    rule_set: dict[str, Any]
    stage: Stage
    since: datetime | None
    until: datetime | None
    evaluated: int
    skipped: list[dict[str, Any]] = Field(description="Records that could not be replayed, with why")
    moved: int = Field(description="Records whose final outcome would change")
    rule_errors: int
    matrix: dict[str, dict[str, int]] = Field(description="Final outcome: matrix[live][candidate] = records")
    rules: list[RuleStatsRead]
    moved_sample: list[MovedRead]


class ShadowRuleRead(BaseModel):
    id: str
    hits: int
    errors: int


class ShadowReportRead(BaseModel):
    rule_set: dict[str, Any]
    count: int
    agreed: int
    agreement: float | None = Field(description="agreed / count; null when there is nothing yet")
    matrix: dict[str, dict[str, int]] = Field(description="matrix[live][shadow] = decisions")
    rules: list[ShadowRuleRead]


class BlockEntryRead(BaseModel):
    id: int
    kind: KeyKind
    value_masked: str
    reason: str
    added_by: str
    added_at: datetime
    removed_at: datetime | None = Field(description="When it was taken off the list (null while on it)")
    removed_by: str | None


class BlockEntryCreate(Strict):
    kind: KeyKind
    value: str = Field(min_length=1, max_length=200, description="In clear; only its keyed hash is stored")
    reason: str = Field(min_length=1, max_length=block_list.REASON_MAX)


# --- rule sets ---------------------------------------------------------------------------------------

@router.get("/v1/rule-sets", response_model=list[RuleSetRead])
def list_rule_sets(platform: PlatformDep, _: StaffDep, stage: Annotated[Stage | None, Query()] = None,
                   set_status: Annotated[Status | None, Query(alias="status")] = None):
    """Every stored rule set (without sources), by stage, name and version."""
    return [r.to_dict(source=False) for r in rule_sets.list_rule_sets(platform.reader(), stage=stage,
                                                                       status=set_status)]


@router.post("/v1/rule-sets", status_code=status.HTTP_201_CREATED, response_model=RuleSetRead)
def store_rule_set(body: RuleSetCreate, platform: PlatformDep, principal: AdminDep):
    """Store a rule set as a draft; 422 ``invalid_rule_set`` names the line (``line``, ``reason``),
    409 ``rule_set_exists`` when the name and version are taken."""
    return rule_sets.store_rule_set(uow=platform.uow(), clock=platform.clock, text=body.source, format=body.format,
                                    actor=principal.actor).to_dict(source=False)


@router.post("/v1/rule-sets/backtest", response_model=BacktestRead)
def backtest(body: BacktestRequest, platform: PlatformDep, _: StaffDep):
    """What a candidate would have decided over the stored decision records of its stage."""
    if body.source is not None:
        candidate = parse_rule_set(body.source, source="rule set", format=body.format)
    else:
        candidate = rule_sets.compiled_rule_set(platform.reader(), body.name, body.version)
    report = backtests.backtest(uow=platform.reader(), candidate=candidate, since=body.since, until=body.until,
                                limit=body.limit, fallback_store=platform.velocity if body.live_windows else None)
    return report.to_dict()


@router.get("/v1/rule-sets/{name}/{version}", response_model=RuleSetDetailRead)
def read_rule_set(name: RuleSetName, version: RuleSetVersion, platform: PlatformDep, _: StaffDep):
    """One stored set with its source and its history (stored, activated, shadowed, retired: who and when)."""
    return rule_sets.get_rule_set(platform.reader(), name, version, events=True).to_dict()


def _change(action, name: str, version: int, platform, principal) -> dict:
    return action(uow=platform.uow(), clock=platform.clock, name=name, version=version,
                  actor=principal.actor).to_dict(source=False)


@router.post("/v1/rule-sets/{name}/{version}/activate", response_model=RuleSetRead)
def activate(name: RuleSetName, version: RuleSetVersion, platform: PlatformDep, principal: AdminDep):
    """Make the set its stage's active set (it decides from the next decision); the previous one is retired."""
    return _change(rule_sets.activate, name, version, platform, principal)


@router.post("/v1/rule-sets/{name}/{version}/shadow", response_model=RuleSetRead)
def shadow(name: RuleSetName, version: RuleSetVersion, platform: PlatformDep, principal: AdminDep):
    """Evaluate the set beside the active one on live traffic (never deciding); the previous shadow is retired."""
    return _change(rule_sets.shadow, name, version, platform, principal)


@router.post("/v1/rule-sets/{name}/{version}/retire", response_model=RuleSetRead)
def retire(name: RuleSetName, version: RuleSetVersion, platform: PlatformDep, principal: AdminDep):
    """Take a draft or shadow set out of use (409 ``rule_set_active`` for the active set)."""
    return _change(rule_sets.retire, name, version, platform, principal)


@router.get("/v1/rule-sets/{name}/{version}/shadow-report", response_model=ShadowReportRead)
def shadow_report(name: RuleSetName, version: RuleSetVersion, platform: PlatformDep, _: StaffDep):
    """The shadow set's verdicts on live traffic against the live decisions."""
    return backtests.shadow_report(uow=platform.reader(), name=name, version=version).to_dict()


# --- the block list -----------------------------------------------------------------------------------

@router.get("/v1/block-list", response_model=list[BlockEntryRead])
def list_block_list(platform: PlatformDep, _: StaffDep, kind: Annotated[KeyKind | None, Query()] = None,
                    include_removed: Annotated[bool, Query(description="Removed entries too (the history)")] = False,
                    limit: Annotated[int, Query(ge=1, le=block_list.MAX_LIMIT)] = 100,
                    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0):
    """Block-listed identifiers, newest first, masked; those on the list now unless ``include_removed``."""
    return [e.to_dict() for e in block_list.list_entries(platform.reader(), kind=kind, include_removed=include_removed,
                                                         limit=limit, offset=offset)]


@router.post("/v1/block-list", status_code=status.HTTP_201_CREATED, response_model=BlockEntryRead)
def add_block(body: BlockEntryCreate, platform: PlatformDep, principal: AdminDep):
    """Block an identifier (normalised and hashed; 409 ``already_blocked`` when it is on the list)."""
    return block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind=body.kind,
                          value=body.value, reason=body.reason, actor=principal.actor).to_dict()


@router.delete("/v1/block-list/{entry_id}", response_model=BlockEntryRead)
def remove_block(entry_id: IdPath, platform: PlatformDep, principal: AdminDep):
    """Take an entry off the list (it is kept, marked removed, for the history); answers the entry removed.
    404 ``block_list_entry_not_found`` when there is no such entry on the list."""
    return block_list.remove(uow=platform.uow(), clock=platform.clock, entry_id=entry_id,
                             actor=principal.actor).to_dict()

