"""Shared CLI plumbing: one platform per command, errors as messages with exit code 2."""

from __future__ import annotations

import functools
import json
import sys
from datetime import date, datetime

import typer
from rich.console import Console

from microlend.errors import MicrolendError

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def handle_errors(func):
    """Turn domain errors into a one-line message and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MicrolendError as exc:
            where = f" ({exc.field})" if exc.field else ""
            fail(f"{exc.code}{where}: {exc.message}")

    return wrapper


def parse_date(text: str | None, name: str) -> date | None:
    """A YYYY-MM-DD option, within the dates the platform accepts anywhere (2000 to 2099); exits 2 otherwise."""
    if text is None:
        return None
    try:
        value = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        fail(f"invalid_date ({name}): {text!r} is not YYYY-MM-DD")
        return None
    if not date(2000, 1, 1) <= value <= date(2099, 12, 31):
        fail(f"invalid_date ({name}): {text} is outside 2000-01-01..2099-12-31")
    return value


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def platform():
    from microlend.services.platform import Platform

    return Platform.build()
