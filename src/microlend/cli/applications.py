"""``microlend applications`` and ``microlend policy``: apply from a JSON file, read decisions, manage the policy."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from microlend.cli.common import console, fail, handle_errors, platform, print_json

applications_app = typer.Typer(help="Applications: apply and read decisions", no_args_is_help=True)
policy_app = typer.Typer(help="Credit policy: show, load a new version, downturn switch", no_args_is_help=True)

_FIELDS = ("name", "id_number", "phone", "bank_card", "device_id", "ip", "declared_income", "industry", "region")


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except FileNotFoundError:
        fail(f"file_not_found ({what}): {path}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"invalid_json ({what}): {exc}")
    if not isinstance(data, dict):
        fail(f"invalid_json ({what}): the file must hold one JSON object")
    return data


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@applications_app.command("apply")
@handle_errors
def apply(
    file: Annotated[Path, typer.Argument(help="JSON application (the body of POST /v1/applications)")],
    key: Annotated[Optional[str], typer.Option("--idempotency-key", help="Retry-safe key")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole decision as JSON")] = False,
) -> None:
    """Decide an application now (as the POST /v1/applications endpoint does)."""
    from microlend.services.common import fingerprint
    from microlend.services.origination.applications import ApplicationInput, submit

    body = _read_json(file, "file")
    missing = [name for name in (*_FIELDS, "consent") if body.get(name) is None]
    if missing:
        fail(f"missing_field ({missing[0]}): the application needs {', '.join(missing)}")
    for name in (*_FIELDS, "product_code"):
        value = body.get(name)
        if value is not None and not (isinstance(value, str) and len(value) <= 200 and _encodable(value)) \
                and not (name == "declared_income" and isinstance(value, (int, Decimal)) and not isinstance(value, bool)):
            fail(f"invalid_field ({name}): must be text of at most 200 characters")
    consent = body["consent"] if isinstance(body["consent"], dict) else {}
    if not isinstance(consent.get("text_version", ""), str):
        fail("invalid_field (consent.text_version): must be text")
    if body.get("risk_sharing") is not None and not isinstance(body["risk_sharing"], dict):
        fail("invalid_risk_sharing (risk_sharing): must be an object")
    try:
        income = Decimal(str(body["declared_income"]))
    except InvalidOperation:
        fail("invalid_amount (declared_income): not a decimal amount")
    data = ApplicationInput(
        name=body["name"], id_number=body["id_number"], phone=body["phone"], bank_card=body["bank_card"],
        device_id=body["device_id"], ip=body["ip"], declared_income=income, industry=body["industry"],
        region=body["region"], product_code=body.get("product_code"), consent_given=consent.get("given") is True,
        consent_text_version=consent.get("text_version", ""), risk_sharing=body.get("risk_sharing"),
        channel="cli")
    view = submit(platform=platform(), data=data, actor="cli", idempotency_scope="cli", idempotency_key=key,
                  request_fingerprint=fingerprint(body))
    if as_json:
        print_json(view)
        return
    console.print(f"application {view['id']}: [bold]{view['status']}[/]"
                  + (f"  limit {view['offered_limit']} at {view['offered_daily_rate']}/day"
                     if view["status"] == "approved" else ""))
    for reason in view["reasons"]:
        console.print(f"  - {reason['en']} / {reason['zh']}")


@applications_app.command("show")
@handle_errors
def show(application_id: Annotated[int, typer.Argument(min=1, max=2_147_483_647)]) -> None:
    """The application with its whole decision record (JSON)."""
    from microlend.services.origination.applications import get_application

    print_json(get_application(platform=platform(), application_id=application_id, for_staff=True))


@applications_app.command("list")
@handle_errors
def list_(status: Annotated[Optional[str], typer.Option(help="Only this status")] = None,
          limit: Annotated[int, typer.Option(min=1, max=500)] = 50) -> None:
    """Recent applications, newest first."""
    from microlend.services.origination.applications import list_applications

    table = Table("id", "status", "score", "band", "limit", "created")
    for view in list_applications(platform=platform(), status=status, limit=limit):
        table.add_row(str(view["id"]), view["status"], str(view["score"] or ""), view["band"] or "",
                      view["offered_limit"] or "", str(view["created_at"]))
    console.print(table)


@policy_app.command("show")
@handle_errors
def policy_show() -> None:
    """The active policy document."""
    from microlend.services.origination.policies import current_policy_view

    print_json(current_policy_view(uow=platform().reader()))


@policy_app.command("load")
@handle_errors
def policy_load(file: Annotated[Path, typer.Argument(help="Policy JSON document")],
                activate: Annotated[bool, typer.Option(help="Make it the active policy")] = True,
                note: Annotated[Optional[str], typer.Option(help="Why it changed")] = None) -> None:
    """Validate and store a policy version (refused with the JSON path of the first problem)."""
    from microlend.services.origination.policies import store_policy

    document = _read_json(file, "file")
    p = platform()
    view = store_policy(uow=p.uow(), clock=p.clock, document=document, actor="cli", activate=activate, note=note)
    console.print(f"policy {view['name']} version {view['version']} stored" + (" and active" if activate else ""))


@policy_app.command("downturn")
@handle_errors
def policy_downturn(state: Annotated[str, typer.Argument(help="on | off")],
                    note: Annotated[Optional[str], typer.Option(help="Why")] = None) -> None:
    """Switch downturn mode: raises cut-offs and cuts limits of risky bands (a new policy version)."""
    from microlend.services.origination.policies import set_downturn

    if state not in ("on", "off"):
        fail("invalid_input (state): say on or off")
    p = platform()
    view = set_downturn(uow=p.uow(), clock=p.clock, on=state == "on", actor="cli", note=note)
    console.print(f"downturn {state}: policy {view['name']} version {view['version']} is active")
