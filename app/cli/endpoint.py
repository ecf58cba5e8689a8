"""`modelproxy endpoint ...`: what clients call."""

from __future__ import annotations

from typing import Any

import click

from app.cli import target
from app.cli.common import Appliance, json_option, print_rows, storage_options
from app.services import endpoints


@click.group("endpoint")
def group() -> None:
    """Manage endpoints (client-facing paths mapped to a provider's model)."""


group.add_command(target.group)


def budget(value: str | None) -> str | None:
    """A --monthly-budget: USD, or "none" for no budget."""
    return None if value is None or value.strip().lower() == "none" else value


@group.command("add")
@click.option("--name", required=True)
@click.option("--path", required=True, help="Under /api/, e.g. /api/chat.")
@click.option("--kind", required=True, type=click.Choice(endpoints.KINDS))
@click.option("--model", required=True, help="The upstream model name.")
@click.option("--provider", required=True, help="Provider name or id.")
@click.option("--alias", "aliases", multiple=True, metavar="NAME",
              help="Another model name it answers to, e.g. claude-sonnet-4-5 (repeatable).")
@click.option("--monthly-budget", metavar="USD",
              help="USD per calendar month (UTC) for all its requests (default: none).")
@storage_options
def add(app: Appliance, provider: str, aliases: tuple[str, ...], monthly_budget: str | None,
        **fields: Any) -> None:
    """Add an endpoint (its first target: the provider and model; add fallbacks with
    `endpoint target add`)."""
    endpoint = endpoints.create(app.actor, provider=target.ref(provider), aliases=list(aliases),
                                monthly_budget=budget(monthly_budget), **fields)
    click.echo(f"added endpoint {endpoint.name!r} at {endpoint.path} (id {endpoint.id})")


@group.command("list")
@json_option
@storage_options
def list_(app: Appliance, as_json: bool) -> None:
    """List endpoints."""
    rows = [{**shown, "route": target.route_text(shown),
             "provider": next((t["provider"] for t in shown["targets"]), None)}
            for shown in endpoints.to_dicts(endpoints.list_all())]
    print_rows(rows, ["id", "name", "path", "kind", "route", "monthly_budget", "enabled",
                      "aliases"], as_json)


@group.command("update")
@click.argument("ref")
@click.option("--name")
@click.option("--path", help="Under /api/, e.g. /api/chat.")
@click.option("--model", help="The first target's upstream model name.")
@click.option("--provider", help="The first target's provider (name or id).")
@click.option("--monthly-budget", metavar="USD|none", help="USD per calendar month (UTC).")
@click.option("--enable/--disable", "enabled", default=None)
@storage_options
def update(app: Appliance, ref: str, provider: str | None, monthly_budget: str | None,
           **flags: Any) -> None:
    """Change an endpoint (by name, path or id); only the options given change."""
    endpoint = endpoints.find(ref)
    fields = {k: val for k, val in flags.items() if val is not None}
    if provider is not None:
        fields["provider"] = target.ref(provider)
    if monthly_budget is not None:
        fields["monthly_budget"] = budget(monthly_budget)
    if not fields:
        raise click.UsageError("nothing to change: give an option such as --monthly-budget")
    endpoint = endpoints.update(app.actor, endpoint.id, **fields)
    click.echo(f"updated endpoint {endpoint.name!r}")


@group.command("remove")
@click.argument("ref")
@storage_options
def remove(app: Appliance, ref: str) -> None:
    """Remove an endpoint by name, path or id."""
    endpoint = endpoints.find(ref)
    endpoints.delete(app.actor, endpoint.id)
    click.echo(f"removed endpoint {endpoint.name!r}")
