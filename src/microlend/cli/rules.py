"""``microlend rules``: stored rule sets (load, list, show, activate, shadow, retire), backtests,
shadow reports and the block list."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from microlend.cli.common import console, fail, handle_errors, platform, print_json
from microlend.errors import ValidationError
from microlend.rules.language import OUTCOMES

rules_app = typer.Typer(help="Risk rule sets: store, activate, shadow, backtest; the block list.",
                        no_args_is_help=True)
block_app = typer.Typer(help="The block list: identifiers that must not get credit.", no_args_is_help=True)
rules_app.add_typer(block_app, name="block")

NameArg = Annotated[str, typer.Argument(help="The rule set's name")]
VersionArg = Annotated[int, typer.Argument(min=1, help="Its version")]
ActorOpt = Annotated[str, typer.Option(help="Who does it (kept on the rule set or in the log)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                              code="file_not_readable", field="file") from None


def _format(path: Path) -> str | None:
    return "json" if path.suffix.lower() == ".json" else None


def parse_time(text: str | None, name: str) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 time (UTC when it names no offset)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text) if "T" in text or " " in text else \
            datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        fail(f"invalid_time ({name}): {text!r} is not YYYY-MM-DD or an ISO 8601 time")
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _rows(records) -> Table:
    table = Table("Stage", "Name", "Ver", "Status", "Created", "By", "Changed", title="Rule sets")
    for r in records:
        state = f"[bold green]{r.status}[/]" if r.status == "active" else r.status
        table.add_row(r.stage, r.name, str(r.version), state, f"{r.created_at:%Y-%m-%d %H:%M}", r.created_by,
                      f"{r.changed_at:%Y-%m-%d %H:%M}")
    return table


# --- rule sets ---------------------------------------------------------------------------------------

@rules_app.command("load")
@handle_errors
def load(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A rule set, YAML or JSON (.json)")],
    activate: Annotated[bool, typer.Option("--activate", help="Make it the active set at once")] = False,
    shadow: Annotated[bool, typer.Option("--shadow", help="Run it in shadow at once")] = False,
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Store a rule set as a draft (refused with the line and the reason when it does not compile)."""
    from microlend.services.origination import rule_sets

    if activate and shadow:
        fail("invalid_option (shadow): give --activate or --shadow, not both")
    p = platform()
    record = rule_sets.store_rule_set(uow=p.uow(), clock=p.clock, text=_read(file), format=_format(file),
                                      actor=actor)
    if activate or shadow:
        change = rule_sets.activate if activate else rule_sets.shadow
        record = change(uow=p.uow(), clock=p.clock, name=record.name, version=record.version, actor=actor)
    if as_json:
        print_json(record.to_dict(source=False))
        return
    console.print(f"stored {record.label} ({record.stage}) as {record.status}")


@rules_app.command("list")
@handle_errors
def list_sets(
    stage: Annotated[Optional[str], typer.Option(help="application or drawdown")] = None,
    status: Annotated[Optional[str], typer.Option(help="draft, active, shadow or retired")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every stored rule set (a stage with no active set runs the built-in one)."""
    from microlend.services.origination import rule_sets

    found = rule_sets.list_rule_sets(platform().reader(), stage=stage, status=status)
    if as_json:
        print_json([r.to_dict(source=False) for r in found])
        return
    console.print(_rows(found))
    if not found:
        console.print("no rule sets stored: the built-in sets decide (microlend rules load FILE)")


@rules_app.command("show")
@handle_errors
def show(name: NameArg, version: VersionArg, as_json: JsonOpt = False) -> None:
    """One stored set: status, fingerprint and source."""
    from microlend.services.origination import rule_sets

    record = rule_sets.get_rule_set(platform().reader(), name, version)
    if as_json:
        print_json(record.to_dict())
        return
    console.print(f"[bold]{record.label}[/] {record.stage}, {record.status}; {record.format}, "
                  f"fingerprint {record.fingerprint}")
    console.print(f"stored {record.created_at:%Y-%m-%d %H:%M:%S} by {record.created_by}; "
                  f"status changed {record.changed_at:%Y-%m-%d %H:%M:%S}")
    console.print(record.source, markup=False, highlight=False)


def _change(action: str, name: str, version: int, actor: str) -> None:
    from microlend.services.origination import rule_sets

    p = platform()
    record = getattr(rule_sets, action)(uow=p.uow(), clock=p.clock, name=name, version=version, actor=actor)
    console.print(f"{record.label} ({record.stage}) is {record.status}")


@rules_app.command("activate")
@handle_errors
def activate_set(name: NameArg, version: VersionArg, actor: ActorOpt = "cli") -> None:
    """Make a set its stage's active set; the previous active set is retired."""
    _change("activate", name, version, actor)


@rules_app.command("shadow")
@handle_errors
def shadow_set(name: NameArg, version: VersionArg, actor: ActorOpt = "cli") -> None:
    """Run a set in shadow beside the active one; the previous shadow set is retired."""
    _change("shadow", name, version, actor)


@rules_app.command("retire")
@handle_errors
def retire_set(name: NameArg, version: VersionArg, actor: ActorOpt = "cli") -> None:
    """Take a draft or shadow set out of use (the active set cannot be retired)."""
    _change("retire", name, version, actor)


def _matrix(matrix: dict, title: str, columns: str) -> Table:
    table = Table(f"live \\ {columns}", *OUTCOMES, title=title)
    for live in OUTCOMES:
        table.add_row(live, *(str(matrix.get(live, {}).get(o, 0)) for o in OUTCOMES))
    return table


@rules_app.command("backtest")
@handle_errors
def backtest(
    file: Annotated[Optional[Path], typer.Argument(metavar="[FILE]", help="A candidate rule set file")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="A stored candidate (with --version)")] = None,
    version: Annotated[Optional[int], typer.Option("--version", min=1)] = None,
    since: Annotated[Optional[str], typer.Option(help="Records from (YYYY-MM-DD or ISO time, UTC)")] = None,
    until: Annotated[Optional[str], typer.Option(help="Records before")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="At most this many records, oldest first")] = None,
    live_windows: Annotated[bool, typer.Option("--live-windows", help="Answer windows the records lack from the "
                                               "live velocity store (exact only for the last 7 days)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """What a candidate would have decided over the stored decision records of its stage."""
    from microlend.rules.language import parse_rule_set
    from microlend.services.origination import backtest as backtests
    from microlend.services.origination import rule_sets

    if (file is None) == (name is None and version is None) or (file is None and (name is None or version is None)):
        fail("invalid_option (file): give a FILE, or --name and --version")
    p = platform()
    if file is not None:
        candidate = parse_rule_set(_read(file), source=file.name, format=_format(file))
    else:
        candidate = rule_sets.compiled_rule_set(p.reader(), name, version)
    report = backtests.backtest(uow=p.reader(), candidate=candidate, since=parse_time(since, "since"),
                                until=parse_time(until, "until"), limit=limit,
                                fallback_store=p.velocity if live_windows else None)
    if as_json:
        print_json(report.to_dict())
        return
    console.print(f"[bold]{candidate.label}[/] over {report.evaluated} {report.stage} decisions: "
                  f"{report.moved} would move, {report.rule_errors} rule errors, {len(report.skipped)} skipped")
    console.print(_matrix(report.matrix, "Final outcome", "candidate"))
    rules = Table("Rule", "Outcome", "Hits", "Errors", "Live hits", "New", "Lost", title="Rules")
    for r in report.rules:
        rules.add_row(r.id, r.outcome, str(r.hits), str(r.errors), str(r.live_hits) if r.compared else "-",
                      str(r.new_hits), str(r.lost_hits))
    console.print(rules)
    if report.moved_sample:
        moved = Table("Record", "Application", "Live", "Candidate", title="Moved (sample)")
        for m in report.moved_sample:
            moved.add_row(str(m["decision_record_id"]), str(m["application_id"] or "-"), m["live"], m["candidate"])
        console.print(moved)


@rules_app.command("shadow-report")
@handle_errors
def shadow_report(name: NameArg, version: VersionArg, as_json: JsonOpt = False) -> None:
    """A shadow set's verdicts on live traffic against the live decisions."""
    from microlend.services.origination import backtest as backtests

    report = backtests.shadow_report(uow=platform().reader(), name=name, version=version)
    if as_json:
        print_json(report.to_dict())
        return
    agreement = "-" if report.agreement is None else f"{report.agreement:.1%}"
    console.print(f"[bold]{name}@{version}[/] shadowed {report.count} decisions; agreement {agreement}")
    console.print(_matrix(report.matrix, "Decisions", "shadow"))
    rules = Table("Rule", "Hits", "Errors", title="Shadow rules")
    for r in report.rules:
        rules.add_row(r["id"], str(r["hits"]), str(r["errors"]))
    console.print(rules)


# --- the block list ---------------------------------------------------------------------------------

@block_app.command("add")
@handle_errors
def block_add(
    kind: Annotated[str, typer.Argument(help="id_number, phone, device, ip or card")],
    value: Annotated[str, typer.Argument(help="The identifier (only its keyed hash is stored)")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required)")],
    actor: ActorOpt = "cli",
) -> None:
    """Block an identifier."""
    from microlend.services.origination import block_list

    p = platform()
    entry = block_list.add(uow=p.uow(), cipher=p.cipher, clock=p.clock, kind=kind, value=value, reason=reason,
                           actor=actor)
    console.print(f"blocked {entry.kind} {entry.value_masked} (entry {entry.id})")


@block_app.command("list")
@handle_errors
def block_list_entries(
    kind: Annotated[Optional[str], typer.Option(help="Only this key kind")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Block-listed identifiers, newest first, masked."""
    from microlend.services.origination import block_list

    entries = block_list.list_entries(platform().reader(), kind=kind, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    table = Table("Id", "Kind", "Value", "Reason", "Added", "By", title="Block list")
    for e in entries:
        table.add_row(str(e.id), e.kind, e.value_masked, e.reason, f"{e.added_at:%Y-%m-%d %H:%M}", e.added_by)
    console.print(table)


@block_app.command("remove")
@handle_errors
def block_remove(entry_id: Annotated[int, typer.Argument(metavar="ID", min=1)], actor: ActorOpt = "cli") -> None:
    """Take an entry off the block list."""
    from microlend.services.origination import block_list

    p = platform()
    entry = block_list.remove(uow=p.uow(), clock=p.clock, entry_id=entry_id, actor=actor)
    console.print(f"removed {entry.kind} {entry.value_masked} (entry {entry.id})")
