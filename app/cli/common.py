"""What the management commands share: error handling, the open appliance, output."""

from __future__ import annotations

import functools
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click
import peewee as pw

from app.errors import ModelProxyError
from app.services import secret_key
from app.services.audit import Actor
from app.settings import Settings, load_settings


class Group(click.Group):
    """A click group that turns our errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelProxyError as exc:
            raise click.ClickException(str(exc)) from None


class Appliance:
    """What a management command works on: the settings, an open database, the secret box."""

    def __init__(self, settings: Settings) -> None:
        from app.db import open_database

        self.settings = settings
        self.db = open_database(settings)
        self.actor = Actor.cli()

    @functools.cached_property
    def box(self):
        return secret_key.load_box(self.settings)


def storage_options(command: Callable) -> Callable:
    """Add --data-dir and --database-url, and pass an open Appliance as the first argument."""

    @click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory.")
    @click.option("--database-url", help="sqlite:///PATH or postgresql://...")
    @functools.wraps(command)
    def wrapper(data_dir: str | None, database_url: str | None, **kwargs: Any) -> Any:
        settings = load_settings({"data_dir": data_dir, "database_url": database_url})
        appliance = Appliance(settings)
        try:
            before = _last_change(appliance) if settings.redis_url else 0
            result = command(appliance, **kwargs)
            if settings.redis_url and _last_change(appliance) != before:
                _announce_change(settings.redis_url)
            return result
        finally:
            appliance.db.close_all()

    return wrapper


def _last_change(appliance: Appliance) -> int:
    """The newest audit entry's id: every change writes one."""
    from app.models import AuditEntry

    with appliance.db.connection_context():
        return AuditEntry.select(pw.fn.MAX(AuditEntry.id)).scalar() or 0


def _announce_change(redis_url: str) -> None:
    """Tell running servers at once (a Redis notice, server/shared/notices.py) instead of at
    their next check; if Redis does not take it, that check still finds the change."""
    from server.shared.notices import CatalogNotices
    from server.shared.redis_conn import connect

    CatalogNotices(connect(redis_url)).publish_now()


def read_stdin_secret(what: str) -> str:
    """A secret from standard input (never from arguments, which other users can see)."""
    value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise click.ClickException(f"no {what} on standard input")
    return value


def print_rows(rows: Iterable[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"items": list(rows)}, indent=2))
        return
    print_table(rows, columns)


def print_table(rows: Iterable[dict[str, Any]], columns: list[str],
                sized_by: int = 1000) -> None:
    """The rows as a table, "(none)" if there are none. Column widths come from the first
    `sized_by` rows; the rest stream under them, so any number of rows prints in bounded
    memory."""
    rows = iter(rows)
    first = list(itertools.islice(rows, sized_by))
    if not first:
        click.echo("(none)")
        return
    cells = [[cell(row.get(c)) for c in columns] for row in first]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in itertools.chain(first, rows):
        line = [cell(row.get(c)) for c in columns]
        click.echo("  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())


def cell(value: Any) -> str:
    """A value as a table cell."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(x) for x in value) or "-"
    if isinstance(value, dict):
        return ",".join(value) or "-"
    return str(value)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
