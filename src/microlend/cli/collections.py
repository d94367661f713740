"""``microlend collections``: list and show collection cases, assign them, record actions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Optional

import typer
from rich.table import Table

from microlend.cli.common import console, handle_errors, parse_date, platform, print_json
from microlend.errors import ValidationError
from microlend.money import D

collections_app = typer.Typer(help="Collection cases of past-due loans.", no_args_is_help=True)


def _json(obj) -> dict:
    data = asdict(obj)
    for key, value in data.items():
        if value is not None and not isinstance(value, (int, str, list, tuple)):
            data[key] = str(value)  # money, dates and timestamps as strings
    if "actions" in data:
        data["actions"] = [_json_action(a) for a in data["actions"]]
    return data


def _json_action(action: dict) -> dict:
    return {k: (v if v is None or isinstance(v, (int, str)) else str(v)) for k, v in action.items()}


@collections_app.command("list")
@handle_errors
def list_cases(
    bucket: Annotated[Optional[str], typer.Option(help="M1, M2, M3 or M3+")] = None,
    status: Annotated[str, typer.Option(help="open, closed or all")] = "open",
    assigned_to: Annotated[Optional[str], typer.Option(help="Only this collector's cases")] = None,
    limit: Annotated[int, typer.Option(help="At most this many cases")] = 100,
    after_id: Annotated[int, typer.Option(help="Cases after this id (paging)")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Collection cases in id order."""
    from microlend.services.collections import list_cases as list_

    found = list_(uow=platform().reader(), status=status, bucket=bucket, assigned_to=assigned_to, limit=limit,
                  after_id=after_id)
    if as_json:
        print_json([_json(c) for c in found])
        return
    table = Table("Case", "Loan", "Customer", "Status", "Bucket", "DPD", "Overdue", "Opened", "Assigned to",
                  title="Collection cases")
    for c in found:
        table.add_row(str(c.id), str(c.loan_id), str(c.customer_id), c.status, c.bucket, str(c.dpd),
                      str(c.amount_overdue), str(c.opened_on), c.assigned_to or "")
    console.print(table)


@collections_app.command("show")
@handle_errors
def show_case(
    case_id: Annotated[int, typer.Argument(help="The case id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One case and its actions, oldest first."""
    from microlend.services.collections import get_case

    c = get_case(uow=platform().reader(), case_id=case_id)
    if as_json:
        print_json(_json(c))
        return
    console.print(f"[bold]case {c.id}[/] loan {c.loan_id} customer {c.customer_id}: {c.status}"
                  + (f" ({c.close_reason} on {c.closed_on})" if c.closed_on else ""))
    console.print(f"bucket {c.bucket}, {c.dpd} DPD, overdue {c.amount_overdue}, opened {c.opened_on}, "
                  f"updated {c.updated_on}, assigned to {c.assigned_to or '-'}")
    table = Table("Date", "Kind", "Outcome", "Promise", "Actor", "Note", title="Actions")
    for a in c.actions:
        promise = f"{a.promise_amount} by {a.promise_date}" if a.promise_amount is not None else ""
        table.add_row(str(a.business_date), a.kind, a.outcome or "", promise, a.actor, a.note or "")
    console.print(table)


@collections_app.command("assign")
@handle_errors
def assign_case(
    case_id: Annotated[int, typer.Argument(help="The case id")],
    to: Annotated[str, typer.Option("--to", help="The collector")],
    actor: Annotated[str, typer.Option(help="Who assigns")] = "cli",
) -> None:
    """Give an open case to a collector."""
    from microlend.services.collections import assign_case as assign

    p = platform()
    c = assign(uow=p.uow(), clock=p.clock, case_id=case_id, assignee=to, actor=actor)
    console.print(f"case {c.id} assigned to {c.assigned_to}")


@collections_app.command("act")
@handle_errors
def record_action(
    case_id: Annotated[int, typer.Argument(help="The case id")],
    kind: Annotated[str, typer.Option(help="call, sms, promise_to_pay, broken_promise, promise_kept or note")],
    note: Annotated[Optional[str], typer.Option(help="What was said or done")] = None,
    outcome: Annotated[Optional[str], typer.Option(help="Short outcome, e.g. no_answer")] = None,
    promise_amount: Annotated[Optional[str], typer.Option(help="promise_to_pay: the amount, e.g. 500.00")] = None,
    promise_date: Annotated[Optional[str], typer.Option(help="promise_to_pay: by this date (YYYY-MM-DD)")] = None,
    actor: Annotated[str, typer.Option(help="Who did it")] = "cli",
) -> None:
    """Record an action on an open case."""
    from microlend.services.collections import record_action as record

    amount = None
    if promise_amount is not None:
        try:
            amount = D(promise_amount)
        except ValidationError as exc:
            raise ValidationError(exc.message, code=exc.code, field="promise_amount") from exc
    p = platform()
    a = record(uow=p.uow(), clock=p.clock, case_id=case_id, kind=kind, actor=actor, note=note, outcome=outcome,
               promise_amount=amount, promise_date=parse_date(promise_date, "promise_date"))
    console.print(f"action {a.id} ({a.kind}) recorded on case {a.case_id}")
