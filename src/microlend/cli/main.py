"""The ``microlend`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from microlend.cli.applications import applications_app, policy_app
from microlend.cli.cob import cob_app
from microlend.cli.collections import collections_app
from microlend.cli.common import console, handle_errors, parse_date, platform, print_json
from microlend.cli.model import model_app
from microlend.cli.quote import quote
from microlend.cli.reviews import customers_app, reviews_app
from microlend.cli.rules import rules_app
from microlend.security.api_keys import Role

app = typer.Typer(help="Microlend: online micro-lending with risk control built in.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger reports.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
drawdowns_app = typer.Typer(help="Drawdowns.", no_args_is_help=True)
repayments_app = typer.Typer(help="Repayments.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(ledger_app, name="ledger")
app.add_typer(demo_app, name="demo")
app.add_typer(drawdowns_app, name="drawdowns")
app.add_typer(repayments_app, name="repayments")
app.add_typer(collections_app, name="collections")
app.add_typer(cob_app, name="cob")
app.add_typer(model_app, name="model")
app.add_typer(applications_app, name="applications")
app.add_typer(policy_app, name="policy")
app.add_typer(rules_app, name="rules")
app.add_typer(reviews_app, name="reviews")
app.add_typer(customers_app, name="customers")
app.command()(quote)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default from MICROLEND_HOST)")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default from MICROLEND_PORT)")] = None,
) -> None:
    """Start the HTTP API (and its OpenAPI docs at /docs)."""
    import uvicorn

    from microlend.api.app import create_app

    p = platform()
    uvicorn.run(create_app(p), host=host or p.settings.host, port=port or p.settings.port,
                log_level=p.settings.log_level.lower())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply the migrations (SQLite or PostgreSQL, from MICROLEND_DATABASE_URL)."""
    from microlend.store.migrate import current_revision, upgrade

    p = platform()
    upgrade(p.engine, revision)
    console.print(f"database at revision {current_revision(p.engine)}")


@keys_app.command("create")
@handle_errors
def keys_create(
    role: Annotated[Role, typer.Option(help="admin, operator or borrower")],
    name: Annotated[str, typer.Option(help="Who or what holds the key")] = "cli",
    customer_id: Annotated[Optional[int], typer.Option(help="The customer a borrower key belongs to")] = None,
) -> None:
    """Create an API key and print its token (shown once)."""
    from microlend.services.keys import create_key

    p = platform()
    new = create_key(uow=p.uow(), clock=p.clock, role=role, name=name, customer_id=customer_id)
    console.print(f"key id {new.key_id} ({role.value}); token (store it now, it is not shown again):")
    print(new.token)


@keys_app.command("revoke")
@handle_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after mlk_)")]) -> None:
    """Revoke an API key at once."""
    from microlend.services.keys import revoke_key

    p = platform()
    revoke_key(uow=p.uow(), clock=p.clock, key_id=key_id)
    console.print(f"key {key_id} revoked")


@keys_app.command("rotate-fields")
def keys_rotate_fields(batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500) -> None:
    """Re-encrypt ID numbers, phones and cards under MICROLEND_ACTIVE_FIELD_KEY (resumable)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from sqlalchemy import func, select

    from microlend.services.rotation import rotate_customer_pii
    from microlend.store import tables

    p = platform()
    with p.uow() as uow:
        total = uow.session.execute(select(func.count()).select_from(tables.customers)).scalar_one()
    with Progress(TextColumn("re-encrypting"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("customers", total=total)
        changed = rotate_customer_pii(uow=p.uow(), cipher=p.cipher, batch_size=batch_size,
                                      progress=lambda n: bar.advance(task, n))
    console.print(f"{changed} of {total} customers re-encrypted under key {p.settings.active_field_key}")


@ledger_app.command("trial-balance")
@handle_errors
def trial_balance(
    through: Annotated[Optional[str], typer.Option(help="Only entries up to this date (YYYY-MM-DD)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Debits and credits per account; the totals must agree."""
    from microlend.services.ledger import get_trial_balance

    tb = get_trial_balance(uow=platform().uow(), through=parse_date(through, "through"))
    if as_json:
        print_json({"through": through, "balanced": tb.balanced, "total_debit": str(tb.total_debit),
                    "total_credit": str(tb.total_credit),
                    "rows": [{"account": r.account.code, "name": r.account.name, "debit": str(r.debit),
                              "credit": str(r.credit), "balance": str(r.balance)} for r in tb.rows]})
        return
    table = Table("Account", "Name", "Debit", "Credit", "Balance", title="Trial balance")
    for r in tb.rows:
        table.add_row(r.account.code, r.account.name, str(r.debit), str(r.credit), str(r.balance))
    table.add_row("", "Total", str(tb.total_debit), str(tb.total_credit), "", style="bold")
    console.print(table)
    console.print("[green]balanced[/]" if tb.balanced else "[bold red]NOT BALANCED[/]")
    if not tb.balanced:
        raise typer.Exit(1)


@ledger_app.command("reconcile")
def reconcile() -> None:
    """Check every loan's balances against its ledger lines."""
    from microlend.services.ledger import reconcile_all

    mismatches = reconcile_all(uow=platform().uow())
    for m in mismatches:
        console.print(f"loan {m.loan_id} account {m.account}: loan {m.loan_says} ledger {m.ledger_says}")
    console.print("[green]all loans reconcile[/]" if not mismatches else f"[red]{len(mismatches)} mismatches[/]")
    if mismatches:
        raise typer.Exit(1)


@drawdowns_app.command("resolve-pending")
def resolve_pending_drawdowns() -> None:
    """Finish drawdowns left pending by a rail timeout or a crash, from the rail's own record."""
    from microlend.services.drawdowns import resolve_pending

    p = platform()
    done = resolve_pending(uow=p.uow(), rail=p.rail, cipher=p.cipher, clock=p.clock)
    for d in done:
        console.print(f"drawdown {d.id}: {d.status}" + (f" (loan {d.loan_id})" if d.loan_id else ""))
    console.print(f"{len(done)} pending drawdowns examined")


@repayments_app.command("resolve-pending")
def resolve_pending_card_debits() -> None:
    """Finish card repayments left pending by a rail timeout or a crash, from the rail's own record."""
    from microlend.services.card_debits import resolve_pending_debits

    p = platform()
    done = resolve_pending_debits(uow=p.uow(), rail=p.rail, cipher=p.cipher, clock=p.clock)
    for d in done:
        console.print(f"card debit {d.id}: {d.status}" + (f" (repayment {d.repayment_id})" if d.repayment_id else ""))
    console.print(f"{len(done)} pending card debits examined")


@demo_app.command("load")
def demo_load() -> None:
    """Load demo data once (skipped when the database already has customers)."""
    from microlend.simulation.demo import load_demo

    made = load_demo(platform())
    console.print(f"demo data: {made} customers created" if made else "demo data already present")


@demo_app.command("train-scorecard")
@handle_errors
def demo_train_scorecard(
    rows: Annotated[int, typer.Option(min=200, help="Simulated applicants to train and validate on")] = 20_000,
    out: Annotated[Optional[Path], typer.Option(help="Write the artifact here (default: the packaged demo "
                                                     "scorecard in the source tree)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the simulated applicants (default: the packaged "
                                                     "model's)")] = None,
) -> None:
    """Regenerate the demo scorecard (simulated applicants; a DEMO model, not for lending decisions)."""
    from microlend.cli.model_work import _writable
    from microlend.simulation.demo_model import DEMO_SEED, PACKAGED_PATH, train_demo_scorecard

    target = out or PACKAGED_PATH
    _writable(target, "out")  # refused before a minute of simulation, not after
    artifact = train_demo_scorecard(rows=rows, seed=DEMO_SEED if seed is None else seed, out=target)
    metrics = artifact["validation"]
    console.print(f"features: {', '.join(f['name'] for f in artifact['features'])}")
    console.print(f"demo scorecard written to {target}: hold-out AUC {metrics['auc']:.4f}, KS {metrics['ks']:.4f} "
                  f"on {metrics['rows']:,} rows", soft_wrap=True)


@demo_app.command("run")
def demo_run() -> None:
    """What `make run` does: migrate, load demo data once, print the URL and an admin key, serve."""
    from microlend.services.keys import create_key
    from microlend.simulation.demo import load_demo
    from microlend.store.migrate import upgrade

    p = platform()
    upgrade(p.engine)
    made = load_demo(p)
    from microlend.services.cob.engine import run_cob

    closed = run_cob(p)  # bring the book to today (each date since the last start, in order)
    if closed:
        console.print(f"close of business run through {closed[-1]['business_date']}")
    from microlend.simulation.demo_model import install_demo_scorecard

    demo_model = install_demo_scorecard(p)  # champion only when the lender has none of their own
    if demo_model is not None:
        console.print("scoring: the DEMO scorecard (trained on simulated applicants) is the champion until "
                      "you train and promote your own")
    with p.uow() as uow:  # one fresh demo admin key per start; the previous one stops working
        uow.api_keys.revoke_named("make-run admin", at=p.clock.now())
        uow.commit()
    new = create_key(uow=p.uow(), clock=p.clock, role=Role.ADMIN, name="make-run admin")
    url = f"http://{p.settings.host}:{p.settings.port}"
    console.print(f"database {p.settings.database_url} ready" + (f"; demo data loaded ({made} customers)" if made else ""))
    console.print(f"[bold]Microlend API[/] {url}/v1   docs {url}/docs")
    console.print(f"[bold]Admin API key[/] (valid until the next `make run`): {new.token}", soft_wrap=True)
    console.print(f"try: curl -H 'Authorization: Bearer {new.token}' {url}/v1/customers", soft_wrap=True)
    console.print("apply: see docs/origination.md (POST /v1/applications) for a ready-to-send application",
                  soft_wrap=True)
    serve(None, None)


if __name__ == "__main__":  # pragma: no cover
    app()
