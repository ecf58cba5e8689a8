"""`modelproxy endpoint ...`: what clients call."""

from __future__ import annotations

import click

from app.cli.common import Appliance, json_option, print_rows, storage_options
from app.services import endpoints


@click.group("endpoint")
def group() -> None:
    """Manage endpoints (client-facing paths mapped to a provider's model)."""


@group.command("add")
@click.option("--name", required=True)
@click.option("--path", required=True, help="Under /api/, e.g. /api/chat.")
@click.option("--kind", required=True, type=click.Choice(endpoints.KINDS))
@click.option("--model", required=True, help="The upstream model name.")
@click.option("--provider", required=True, help="Provider name or id.")
@click.option("--alias", "aliases", multiple=True, metavar="NAME",
              help="Another model name it answers to, e.g. claude-sonnet-4-5 (repeatable).")
@storage_options
def add(app: Appliance, provider: str, aliases: tuple[str, ...], **fields) -> None:
    """Add an endpoint."""
    ref = int(provider) if provider.isdigit() else provider
    endpoint = endpoints.create(app.actor, provider=ref, aliases=list(aliases), **fields)
    click.echo(f"added endpoint {endpoint.name!r} at {endpoint.path} (id {endpoint.id})")


@group.command("list")
@json_option
@storage_options
def list_(app: Appliance, as_json: bool) -> None:
    """List endpoints."""
    rows = []
    for e in endpoints.list_all():
        rows.append({**endpoints.to_dict(e), "provider": e.provider.name})
    print_rows(rows, ["id", "name", "path", "kind", "model", "provider", "enabled", "aliases"],
               as_json)


@group.command("remove")
@click.argument("ref")
@storage_options
def remove(app: Appliance, ref: str) -> None:
    """Remove an endpoint by name, path or id."""
    endpoint = endpoints.find(ref)
    endpoints.delete(app.actor, endpoint.id)
    click.echo(f"removed endpoint {endpoint.name!r}")
