"""Shared CLI plumbing: one platform per command, errors as messages with exit code 2."""

from __future__ import annotations

import functools
import json
import sys

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


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def platform():
    from microlend.services.platform import Platform

    return Platform.build()
