"""`modelproxy logs` and `modelproxy usage`: what the request log says."""

from __future__ import annotations

import datetime as dt
import json

import click

from app.cli.common import Appliance, json_option, print_rows, storage_options
from app.services import request_logs


@click.command("logs")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
@storage_options
def logs(app: Appliance, limit: int, as_json: bool) -> None:
    """Show the newest request-log rows, newest first."""
    rows = request_logs.recent(limit)
    columns = ["time", "request_id", "token", "endpoint", "model", "status", "latency_ms",
               "prompt_tokens", "completion_tokens", "usage_estimated", "client_ip", "error"]
    print_rows(rows, columns, as_json)


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
