"""`modelproxy provider ...`: upstream accounts."""

from __future__ import annotations

import click

from app.cli.common import Appliance, json_option, print_rows, read_stdin_secret, storage_options
from app.services import provider_types, providers


def _header(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
    pairs = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep:
            raise click.BadParameter(f"expected NAME:VALUE, got {value!r}")
        pairs[name.strip()] = content.strip()
    return pairs


@click.group("provider")
def group() -> None:
    """Manage providers (upstream accounts and their API keys)."""


@group.command("add")
@click.option("--name", required=True)
@click.option("--type", "type_", required=True, metavar="TYPE",
              help=f"One of: {', '.join(sorted(provider_types.BUILTIN))} (or a plug-in's).")
@click.option("--base-url", help="Upstream base URL (defaults for openai and openrouter).")
@click.option("--api-key-stdin", is_flag=True, help="Read the API key from standard input.")
@click.option("--header", "headers", multiple=True, callback=_header, metavar="NAME:VALUE",
              help="Extra header sent upstream; repeatable.")
@click.option("--timeout", "timeout_s", type=float, help="Upstream timeout in seconds.")
@storage_options
def add(app: Appliance, type_: str, api_key_stdin: bool, **fields) -> None:
    """Add a provider. The API key is read from standard input and stored encrypted."""
    api_key = read_stdin_secret("API key") if api_key_stdin else None
    provider = providers.create(app.box, app.actor, type=type_, api_key=api_key, **fields)
    click.echo(f"added provider {provider.name!r} (id {provider.id}, {provider.type})")


@group.command("list")
@json_option
@storage_options
def list_(app: Appliance, as_json: bool) -> None:
    """List providers (keys are never shown, only their last characters)."""
    rows = [providers.to_dict(p) for p in providers.list_all()]
    print_rows(rows, ["id", "name", "type", "base_url", "api_key_hint", "enabled"], as_json)


@group.command("remove")
@click.argument("ref")
@storage_options
def remove(app: Appliance, ref: str) -> None:
    """Remove a provider by name or id (it must have no endpoints)."""
    provider = providers.get(int(ref)) if ref.isdigit() else providers.get_by_name(ref)
    providers.delete(app.actor, provider.id)
    click.echo(f"removed provider {provider.name!r}")
