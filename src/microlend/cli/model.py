"""``microlend model``: the credit scoring models.

Registry commands (list, show, register, promote, retire, export) live here; the training,
report and monitoring commands join them below, sharing the helpers of the first section.
A model is named on the command line as ``VERSION`` (of ``--name``, default "default"),
``NAME:VERSION``, a bare ``NAME`` (its newest version; reading commands only) or ``champion``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from microlend.cli.common import console, err_console, fail, handle_errors, platform, print_json
from microlend.errors import ValidationError

model_app = typer.Typer(help="Credit scoring models: registry, champion, export.", no_args_is_help=True)

NameOpt = Annotated[str, typer.Option("--name", help="The model's name")]
ActorOpt = Annotated[str, typer.Option(help="Who does it (kept in the model's audit trail)")]
NoteOpt = Annotated[Optional[str], typer.Option(help="Why (kept in the model's audit trail)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
DEFAULT_NAME = "default"
CHAMPION = "champion"


# --- shared helpers ------------------------------------------------------------------------------

def parse_ref(ref: str, name: str = DEFAULT_NAME) -> tuple[str, int | None]:
    """``"3"`` -> (name, 3); ``"risk:3"`` or ``"risk/3"`` -> ("risk", 3); ``"risk"`` -> ("risk", None)."""
    for sep in (":", "/"):
        if sep in ref:
            name, _, ref = ref.partition(sep)
            break
    else:
        if not ref.isdigit():
            return ref, None
    if not ref.isdigit() or int(ref) < 1:
        raise ValidationError(f"{ref!r} is not a model version (1, 2, 3 ...)", code="invalid_model_version",
                              field="version")
    return name, int(ref)


def version_of(ref: str, name: str = DEFAULT_NAME) -> tuple[str, int]:
    """A reference that must name one version (for changes): ``VERSION`` or ``NAME:VERSION``."""
    found, version = parse_ref(ref, name)
    if version is None:
        raise ValidationError(f"give a version: {ref!r} is not VERSION or NAME:VERSION", code="invalid_model_version",
                              field="version")
    return found, version


def resolve(ref: str | None, name: str = DEFAULT_NAME):
    """The registered model (with its artifact) that ``ref`` names; None or "champion": the champion."""
    from microlend.errors import ConflictError
    from microlend.services import models

    p = platform()
    if ref is None or ref == CHAMPION:
        record = models.champion(p.reader())
        if record is None:
            raise ConflictError("no model is the champion: name a version, or promote one first",
                                code="no_champion")
        return models.get(p.reader(), record.name, record.version)
    found, version = parse_ref(ref, name)
    if version is None:
        return models.latest(p.reader(), found)
    return models.get(p.reader(), found, version)


def read_json_file(path: Path, field: str = "artifact") -> dict:
    """A JSON object from a file; a missing file or bad JSON is a clean error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}", code="file_not_readable",
                              field=field) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc}", code="invalid_json", field=field) from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path} must hold a JSON object", code="invalid_model_artifact", field=field)
    return data


def write_output(text: str, out: Path | None) -> None:
    """``text`` to the file ``out`` (noted on stderr), or to stdout."""
    if not text.endswith("\n"):
        text += "\n"
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot write {out}: {exc.strerror or exc}", code="file_not_writable",
                              field="out") from None
    err_console.print(f"written to {out}")


def _metric(metrics: dict, key: str) -> str:
    value = metrics.get(f"holdout_{key}", metrics.get(key))  # hold-out figures when training kept some back
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _metrics_text(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
                     if not isinstance(v, (dict, list)))


# --- the registry -----------------------------------------------------------------------------------

@model_app.command("list")
@handle_errors
def model_list(
    name: Annotated[Optional[str], typer.Option("--name", help="Only this model's versions")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every registered version, by name then version."""
    from microlend.services import models

    found = models.list_models(platform().reader(), name=name)
    if as_json:
        print_json([r.to_dict(artifact=False) for r in found])
        return
    table = Table("Name", "Ver", "Kind", "Role", "AUC", "KS", "Created", "By", title="Models")
    for r in found:
        role = f"[bold green]{r.role}[/]" if r.role == CHAMPION else r.role
        table.add_row(r.name, str(r.version), r.kind, role, _metric(r.metrics, "auc"), _metric(r.metrics, "ks"),
                      f"{r.created_at:%Y-%m-%d}", r.created_by)
    console.print(table)
    if not found:
        console.print("no models registered: microlend model register ARTIFACT.json")


@model_app.command("show")
@handle_errors
def model_show(
    ref: Annotated[str, typer.Argument(metavar="NAME_OR_VERSION",
                                       help="VERSION, NAME:VERSION, NAME (its newest) or champion")] = CHAMPION,
    name: NameOpt = DEFAULT_NAME,
    as_json: JsonOpt = False,
) -> None:
    """One version: metadata, features and audit trail (--json: with the whole artifact)."""
    record = resolve(ref, name)
    if as_json:
        print_json(record.to_dict())
        return
    console.print(f"[bold]{record.label}[/] {record.kind}, {record.role}; format {record.format}")
    console.print(f"training data {record.fingerprint}")
    console.print(f"artifact digest sha256:{record.digest}")
    console.print(f"metrics: {_metrics_text(record.metrics) or '-'}")
    console.print(f"created {record.created_at:%Y-%m-%d %H:%M:%S} by {record.created_by}"
                  + (f"; promoted {record.promoted_at:%Y-%m-%d %H:%M:%S} by {record.promoted_by}"
                     if record.promoted_at else ""))
    features = (record.artifact or {}).get("features")
    if isinstance(features, list) and features:
        table = Table("Feature", "Type", "IV", "Bins", title="Features")
        for f in features:
            if isinstance(f, dict):
                iv = f.get("iv")
                table.add_row(str(f.get("name")), str(f.get("type", "")),
                              f"{iv:.4f}" if isinstance(iv, (int, float)) else "", str(len(f.get("bins") or [])))
        console.print(table)
    events = Table("At", "Event", "Actor", "Note", title="Audit trail")
    for e in record.events:
        events.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.event, e.actor, e.note or "")
    console.print(events)


@model_app.command("register")
@handle_errors
def model_register(
    artifact: Annotated[Path, typer.Argument(metavar="ARTIFACT.json", help="A scorecard or challenger artifact")],
    name: NameOpt = DEFAULT_NAME,
    promote: Annotated[bool, typer.Option("--promote", help="Make it the champion at once")] = False,
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Store an artifact as the next version of --name, as a challenger."""
    from microlend.services import models

    data = read_json_file(artifact)
    p = platform()
    record = models.register(uow=p.uow(), artifact=data, name=name, actor=actor, clock=p.clock)
    if promote:
        record = models.promote(uow=p.uow(), name=record.name, version=record.version, actor=actor, clock=p.clock,
                                note="promoted on registration")
    if as_json:
        print_json(record.to_dict(artifact=False))
        return
    console.print(f"registered {record.label} ({record.kind}) as {record.role}")


@model_app.command("promote")
@handle_errors
def model_promote(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="VERSION or NAME:VERSION")],
    name: NameOpt = DEFAULT_NAME,
    note: NoteOpt = None,
    actor: ActorOpt = "cli",
) -> None:
    """Make a version the champion (the platform scores with it); the old champion becomes a challenger."""
    from microlend.services import models

    found, number = version_of(version, name)
    p = platform()
    before = models.champion(p.reader())
    record = models.promote(uow=p.uow(), name=found, version=number, actor=actor, clock=p.clock, note=note)
    if before is not None and before.id == record.id:
        console.print(f"{record.label} is already the champion")
        return
    console.print(f"{record.label} is the champion" + (f" ({before.label} is now a challenger)" if before else ""))


@model_app.command("retire")
@handle_errors
def model_retire(
    version: Annotated[str, typer.Argument(metavar="VERSION", help="VERSION or NAME:VERSION")],
    name: NameOpt = DEFAULT_NAME,
    note: NoteOpt = None,
    actor: ActorOpt = "cli",
) -> None:
    """Take a challenger out of use for good (the champion cannot be retired)."""
    from microlend.services import models

    found, number = version_of(version, name)
    p = platform()
    record = models.retire(uow=p.uow(), name=found, version=number, actor=actor, clock=p.clock, note=note)
    console.print(f"{record.label} is retired")


@model_app.command("export")
@handle_errors
def model_export(
    ref: Annotated[Optional[str], typer.Argument(metavar="[VERSION]",
                                                 help="VERSION, NAME:VERSION or NAME; default the champion")] = None,
    name: NameOpt = DEFAULT_NAME,
    sql: Annotated[bool, typer.Option("--sql", help="The scorecard as one SQL expression (SQLite and PostgreSQL)")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="The artifact as JSON (the default)")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout")] = None,
) -> None:
    """Export a model: its artifact as JSON, or a scorecard as SQL giving the same points as the scorer."""
    from microlend.services import models

    if sql and as_json:
        fail("invalid_option (sql): give --sql or --json, not both")
    record = resolve(ref, name)
    if not sql:
        write_output(json.dumps(record.artifact, indent=2, ensure_ascii=False), out)
        return
    model = models.load(record)
    if not hasattr(model, "to_sql"):
        raise ValidationError(f"{record.label} is a {record.kind} model: only scorecards export to SQL",
                              code="export_not_supported", field="sql")
    write_output(model.to_sql(), out)


# --- training, reports and monitoring (microlend.scoring) -------------------------------------------

from microlend.cli import model_work  # noqa: E402  (the commands above are the shared base)

model_app.command("train")(handle_errors(model_work.train))
model_app.command("report")(handle_errors(model_work.report))
model_app.command("monitor")(handle_errors(model_work.monitor))
model_app.command("score")(handle_errors(model_work.score))
