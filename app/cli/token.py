"""`modelproxy token ...`: client credentials."""

from __future__ import annotations

import json

import click

from app.cli.common import Appliance, json_option, print_rows, storage_options
from app.services import tokens


@click.group("token")
def group() -> None:
    """Manage client tokens."""


@group.command("create")
@click.option("--name", required=True)
@click.option("--scopes", default="all", show_default=True,
              help="Comma-separated: chat, embeddings, models, all.")
@click.option("--rpm", help="Requests per minute (default: unlimited).")
@click.option("--monthly-requests", help="Requests per calendar month (UTC).")
@click.option("--monthly-tokens", help="Model tokens per calendar month (UTC).")
@click.option("--allow-ip", "allowed_ips", multiple=True, metavar="CIDR",
              help="Allowed client address or network; repeatable (default: any).")
@click.option("--endpoint", "allowed_endpoints", multiple=True, metavar="REF",
              help="Allowed endpoint name, path or id; repeatable (default: all).")
@click.option("--expires-at", help="ISO 8601 time after which the token stops working.")
@click.option("--monthly-budget", metavar="USD", help="USD per calendar month (UTC).")
@json_option
@storage_options
def create(app: Appliance, as_json: bool, allowed_ips, allowed_endpoints, **fields) -> None:
    """Create a token. Its plaintext is printed this once and never again."""
    token, plaintext = tokens.create(
        app.actor, app.settings.bcrypt_rounds, allowed_ips=list(allowed_ips),
        allowed_endpoints=[int(r) if r.isdigit() else r for r in allowed_endpoints], **fields,
    )
    if as_json:
        click.echo(json.dumps({**tokens.to_dict(token), "token": plaintext}, indent=2))
        return
    click.echo(f"created token {token.name!r} (id {token.id})")
    click.echo(plaintext)
    click.echo("Copy it now: it will not be shown again.", err=True)


@group.command("list")
@json_option
@storage_options
def list_(app: Appliance, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    rows = [tokens.to_dict(t) for t in tokens.list_all()]
    columns = ["id", "name", "prefix", "scopes", "rpm", "monthly_requests", "monthly_tokens",
               "monthly_budget", "allowed_ips", "expires_at", "revoked", "last_used_at"]
    print_rows(rows, columns, as_json)


@group.command("update")
@click.argument("token_id", type=int)
@click.option("--name")
@click.option("--rpm", metavar="N|none", help="Requests per minute.")
@click.option("--monthly-requests", metavar="N|none", help="Requests per calendar month.")
@click.option("--monthly-tokens", metavar="N|none", help="Model tokens per calendar month.")
@click.option("--monthly-budget", metavar="USD|none", help="USD per calendar month (UTC).")
@click.option("--expires-at", metavar="TIME|none", help="ISO 8601 time, or none: never.")
@storage_options
def update(app: Appliance, token_id: int, **flags: str | None) -> None:
    """Change a token's name or limits; "none" lifts a limit. Only the options given
    change."""
    fields = {k: (None if k != "name" and val.strip().lower() == "none" else val)
              for k, val in flags.items() if val is not None}
    if not fields:
        raise click.UsageError("nothing to change: give an option such as --monthly-budget")
    token = tokens.update(app.actor, token_id, **fields)
    click.echo(f"updated token {token.name!r} (id {token.id})")


@group.command("revoke")
@click.argument("token_id", type=int)
@storage_options
def revoke(app: Appliance, token_id: int) -> None:
    """Revoke a token by id; it stops working within seconds."""
    token = tokens.revoke(app.actor, token_id)
    click.echo(f"revoked token {token.name!r} (id {token.id})")
