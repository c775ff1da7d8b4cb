"""How `pourtier client` speaks: JSON on stdout for scripts (stable: sorted
keys), rich tables for people, errors as one line on stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)

# Exit statuses, documented in the README ("Command-line wallet").
REFUSED = 1  # the service refused (its detail is printed), or the user declined
USAGE = 2  # a bad option or argument, or an unusable keypair file (typer's own 2)
UNREACHABLE = 3  # no answer from the service at --url
NOT_FINAL = 4  # a transaction still pending when the wait ended; it may settle


def fail(message: str, status: int) -> typer.Exit:
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(status)


def note(message: str) -> None:
    """Progress for people, on stderr so that stdout stays the answer."""
    errors.print(message, markup=False, highlight=False)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


class Output:
    def __init__(self, as_json: bool, screen: Console = console) -> None:
        self.as_json = as_json
        self.screen = screen

    def json(self, data: Any) -> None:
        typer.echo(json.dumps(to_jsonable_python(data), indent=2, sort_keys=True))

    def record(
        self, data: BaseModel | dict[str, Any], title: str | None = None
    ) -> None:
        """One object: its fields, one a row (all of them: none restated here)."""
        if self.as_json:
            self.json(data)
            return
        fields = data if isinstance(data, dict) else data.model_dump(mode="json")
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for name, value in fields.items():
            table.add_row(name, _text(value))
        self.screen.print(table)

    def rows(
        self,
        items: Sequence[BaseModel | dict[str, Any]],
        columns: Sequence[str],
        title: str | None = None,
        empty: str = "none",
    ) -> None:
        """Several objects: the columns people need; JSON keeps every field."""
        if self.as_json:
            self.json(list(items))
            return
        if not items:
            self.screen.print(empty, markup=False)
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for item in items:
            fields = item if isinstance(item, dict) else item.model_dump(mode="json")
            table.add_row(*(_text(fields.get(c)) for c in columns))
        self.screen.print(table)

    def done(self, message: str, data: Any) -> None:
        """A short sentence for people; `data` for scripts."""
        if self.as_json:
            self.json(data)
        else:
            self.screen.print(message, markup=False, highlight=False)


PEOPLE = Output(False, errors)
"""Tables a person reads before deciding (on stderr, outside the answer)."""
