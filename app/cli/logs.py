"""`modelproxy logs` and `modelproxy usage`: what the request log says."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import click

from app.cli.common import Appliance, json_option, print_rows, print_table, storage_options
from app.services import request_logs

COLUMNS = ["id", "time", "request_id", "token", "endpoint", "model", "status", "latency_ms",
           "prompt_tokens", "completion_tokens", "cost", "usage_estimated", "client_ip",
           "error"]


@click.command("logs")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Rows to show; 0 for all of them (streamed, in bounded memory).")
@click.option("--before", type=int, metavar="ID",
              help="Start after (older than) the row with this id: the next page.")
@click.option("--dialect", type=click.Choice(request_logs.DIALECTS),
              help="Only the requests that came in this client dialect.")
@json_option
@storage_options
def logs(app: Appliance, limit: int, before: int | None, dialect: str | None,
         as_json: bool) -> None:
    """Show request-log rows, newest first."""
    rows = request_logs.newest_first(limit or None, before, dialect)
    last = _print_json(rows) if as_json else _print_table(rows)
    more = bool(limit and last is not None and last["count"] == limit
                and next(request_logs.newest_first(1, last["id"], dialect), None))
    if as_json:
        click.echo(f'], "next_before": {last["id"] if more else "null"}}}')
    elif more:
        also = f" --dialect {dialect}" if dialect else ""
        click.echo(f"(more: modelproxy logs --before {last['id']}{also})", err=True)


def _print_json(rows: Iterator[dict[str, Any]]) -> dict[str, int] | None:
    """Print `{"items": [` and the rows one by one (the caller closes the object)."""
    click.echo('{"items": [', nl=False)
    last = None
    for count, row in enumerate(rows, 1):
        click.echo(("\n" if count == 1 else ",\n") + json.dumps(row), nl=False)
        last = {"id": row["id"], "count": count}
    click.echo("")
    return last


def _print_table(rows: Iterator[dict[str, Any]]) -> dict[str, int] | None:
    """The rows as a table (widths from the first chunk, the rest streamed under it)."""
    last: dict[str, int] = {"count": 0}

    def counted() -> Iterator[dict[str, Any]]:
        for row in rows:
            last.update(id=row["id"], count=last["count"] + 1)
            yield {**row, "cost": money(row)}

    print_table(counted(), COLUMNS, request_logs.CHUNK)
    return last if last["count"] else None


def money(row: dict[str, Any]) -> str:
    """A row's cost as the window shows money: $1.23 (4 decimals below $1), "no price"
    where its model has none, "-" where it used no tokens."""
    cost = row.get("cost")
    if not (row.get("prompt_tokens") or row.get("completion_tokens")):
        return "-"
    if cost is None:
        return "no price"
    return f"${cost:.2f}" if cost >= 1 else f"${cost:.4f}"


@click.command("usage")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]),
              help="First day (UTC) to count, YYYY-MM-DD. Default: the first of this month.")
@json_option
@storage_options
def usage(app: Appliance, since: dt.datetime | None, as_json: bool) -> None:
    """Requests and model tokens since a day, in total and by token, endpoint and provider."""
    today = dt.datetime.now(dt.UTC).date()
    summary = request_logs.usage_summary(since.date() if since else today.replace(day=1))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"since {summary['since']}: {summary['requests']} requests, "
               f"{summary['errors']} errors, {summary['prompt_tokens']} prompt tokens, "
               f"{summary['completion_tokens']} completion tokens")
    for key in ("by_token", "by_endpoint", "by_provider"):
        click.echo(f"\n{key.replace('_', ' ')}:")
        print_rows(summary[key], ["name", "requests", "errors", "prompt_tokens",
                                  "completion_tokens"], False)
