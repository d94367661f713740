"""``microlend reviews``: the manual review queue; ``microlend customers``: step-up verification and pauses.

The CLI works on the database directly, as the operator named by ``--as`` (kept in the audit
trail). ``--admin`` lets an administrator release or decide a case someone else claimed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Optional

import typer
from rich.table import Table

from microlend.cli.common import console, handle_errors, platform, print_json
from microlend.errors import ValidationError

reviews_app = typer.Typer(help="The manual review queue: list, show, claim, release, approve, reject.",
                          no_args_is_help=True)
customers_app = typer.Typer(help="Customers: step-up verification and pauses.", no_args_is_help=True)

AsOpt = Annotated[str, typer.Option("--as", help="Who does it (kept in the audit trail)")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why: 1 to 1000 characters (kept in the audit trail)")]
AdminOpt = Annotated[bool, typer.Option("--admin", help="Act as an administrator (a case someone else claimed)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
CaseArg = Annotated[int, typer.Argument(help="The review case id", min=1)]
CustomerArg = Annotated[int, typer.Argument(help="The customer id", min=1)]


def _print_case(case, as_json: bool, message: str | None = None) -> None:
    if as_json:
        print_json(case.to_dict())
        return
    if message:
        console.print(message)
        return
    console.print(f"[bold]review case {case.id}[/] application {case.application_id}: {case.status}"
                  + (f" (claimed by {case.claimed_by})" if case.claimed_by else ""))
    app = case.application or {}
    if app:
        console.print(f"  applicant {app.get('name')} {app.get('id_number')}  application status {app.get('status')}"
                      f"  score {app.get('score')} band {app.get('band')}  offered {app.get('offered_limit')}"
                      f" at {app.get('offered_daily_rate')}/day  decision record {app.get('decision_record_id')}")
    for r in case.reasons:
        console.print(f"  reason: {r.get('code', '') if isinstance(r, dict) else ''} "
                      f"{r.get('en', '') if isinstance(r, dict) else r}")
    for e in case.events:
        console.print(f"  {e.at.isoformat()}  {e.action:<9} {e.actor}" + (f": {e.note}" if e.note else ""))


@reviews_app.command("list")
@handle_errors
def list_reviews(
    status: Annotated[Optional[str], typer.Option(help="open, claimed, approved or rejected")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Cases, oldest first (the order to work them in)."""
    from microlend.services.origination import reviews

    cases = reviews.list_cases(platform().reader(), status=status, limit=limit, offset=offset)
    if as_json:
        print_json([c.to_dict() for c in cases])
        return
    table = Table("Case", "Application", "Status", "Claimed by", "Created", "Reasons", title="Review queue")
    for c in cases:
        codes = ", ".join(r.get("code", "?") if isinstance(r, dict) else str(r) for r in c.reasons)
        table.add_row(str(c.id), str(c.application_id), c.status, c.claimed_by or "", c.created_at.isoformat(),
                      codes)
    console.print(table)


@reviews_app.command("show")
@handle_errors
def show_review(case_id: CaseArg, as_json: JsonOpt = False) -> None:
    """One case: the application in short, why it was referred, and every action so far."""
    from microlend.services.origination import reviews

    _print_case(reviews.get_case(platform().reader(), case_id), as_json)


@reviews_app.command("claim")
@handle_errors
def claim_review(case_id: CaseArg, actor: AsOpt, as_json: JsonOpt = False) -> None:
    """Take a case (nobody else can decide it until you release it)."""
    from microlend.services.origination import reviews

    case = reviews.claim(platform=platform(), case_id=case_id, actor=actor)
    _print_case(case, as_json, f"review case {case.id} claimed by {case.claimed_by}")


@reviews_app.command("release")
@handle_errors
def release_review(case_id: CaseArg, actor: AsOpt, admin: AdminOpt = False,
                   note: Annotated[Optional[str], typer.Option(help="Why (optional)")] = None,
                   as_json: JsonOpt = False) -> None:
    """Put a claimed case back in the queue."""
    from microlend.services.origination import reviews

    case = reviews.release(platform=platform(), case_id=case_id, actor=actor, is_admin=admin, note=note)
    _print_case(case, as_json, f"review case {case.id} is open again")


def _limit(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(f"{text!r} is not an amount such as 5000.00", code="invalid_amount",
                              field="limit") from None


@reviews_app.command("approve")
@handle_errors
def approve_review(case_id: CaseArg, note: NoteOpt, actor: AsOpt, admin: AdminOpt = False,
                   limit: Annotated[Optional[str], typer.Option(
                       help="A limit other than the offered one (above the offer: --admin only)")] = None,
                   as_json: JsonOpt = False) -> None:
    """Approve the application (its credit line is granted at once) and close the case."""
    from microlend.services.origination import reviews

    case = reviews.approve(platform=platform(), case_id=case_id, actor=actor, note=note, limit=_limit(limit),
                           is_admin=admin)
    line = (case.settlement or {}).get("credit_line_id")
    _print_case(case, as_json, f"review case {case.id} approved: application {case.application_id} approved"
                + (f", credit line {line}" if line else ""))


@reviews_app.command("reject")
@handle_errors
def reject_review(case_id: CaseArg, note: NoteOpt, actor: AsOpt, admin: AdminOpt = False,
                  as_json: JsonOpt = False) -> None:
    """Reject the application and close the case."""
    from microlend.services.origination import reviews

    case = reviews.reject(platform=platform(), case_id=case_id, actor=actor, note=note, is_admin=admin)
    _print_case(case, as_json, f"review case {case.id} rejected: application {case.application_id} rejected")


# --- customers: step-up --------------------------------------------------------------------------

def _element(flag: str, what: str, *, hide: bool = False):
    """A required element option, asked for when not given (so it need not sit in the shell's history)."""
    return typer.Option(flag, help=f"{what}, as the customer gives it now", prompt=what, hide_input=hide,
                        show_default=False)


@customers_app.command("verify")
@handle_errors
def verify_customer(customer_id: CustomerArg,
                    name: Annotated[str, _element("--name", "Name")],
                    id_number: Annotated[str, _element("--id-number", "ID number", hide=True)],
                    phone: Annotated[str, _element("--phone", "Phone", hide=True)],
                    bank_card: Annotated[str, _element("--bank-card", "Bank card", hide=True)],
                    actor: Annotated[str, typer.Option("--as", help="Who asks (staff on the customer's behalf)")]
                    = "cli",
                    as_json: JsonOpt = False) -> None:
    """Verify the four elements the customer gives now: they must be the customer's record and the KYC
    provider must confirm them; a match releases their pause. Omitted elements are asked for."""
    from microlend.services.origination import pauses

    result = pauses.verify_customer(platform=platform(), customer_id=customer_id, actor=actor, name=name,
                                    id_number=id_number, phone=phone, bank_card=bank_card)
    if as_json:
        print_json({**result.to_dict(), "reason": result.reason, "paused": result.paused,
                    "released_pause_id": result.released_pause_id, "resumed": result.resumed})
        return
    if result.passed:
        console.print(f"customer {customer_id}: verification passed"
                      + (f", pause {result.released_pause_id} released" if result.released_pause_id else "")
                      + (f", applications resumed: {result.resumed}" if result.resumed else ""))
        return
    console.print(f"customer {customer_id}: verification did not pass ({result.outcome}): {result.reason}"
                  + ("; still paused" if result.paused else ""))
    raise typer.Exit(1)


@customers_app.command("pause")
@handle_errors
def pause_customer(customer_id: CustomerArg,
                   reason: Annotated[str, typer.Option(help="Why: 1 to 500 characters (the customer can read it)")],
                   actor: Annotated[str, typer.Option("--as", help="Who pauses")] = "cli",
                   as_json: JsonOpt = False) -> None:
    """Pause the customer: no drawdowns until a passed verification."""
    from microlend.services.origination import pauses

    p = platform()
    made = pauses.pause_by_staff(uow=p.uow(), customer_id=customer_id, reason=reason, actor=actor, now=p.clock.now())
    if as_json:
        print_json({**made.to_dict(), "created": made.created})
        return
    console.print(f"customer {customer_id} paused (pause {made.id})" if made.created
                  else f"customer {customer_id} was already paused (pause {made.id}, since {made.paused_at})")


@customers_app.command("pauses")
@handle_errors
def pause_history(customer_id: CustomerArg, as_json: JsonOpt = False) -> None:
    """The customer's pauses and verification attempts, newest first."""
    from microlend.services.origination import pauses

    history = pauses.pause_history(platform().reader(), customer_id)
    if as_json:
        print_json(history)
        return
    console.print(f"customer {customer_id}: " + ("[bold red]paused[/]" if history["paused"] else "not paused"))
    for p in history["pauses"]:
        released = f"released {p['released_at']} by {p['released_by']}" if p["released_at"] else "open"
        console.print(f"  pause {p['id']}  {p['paused_at']}  {p['source_kind']}  {p['reason']}  ({released})")
    for v in history["verifications"]:
        console.print(f"  verification {v['id']}  {v['at']}  {v['outcome']}  by {v['actor']}")
