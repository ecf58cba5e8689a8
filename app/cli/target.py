"""`modelproxy endpoint target ...`: where an endpoint's requests go, and in what order."""

from __future__ import annotations

from typing import Any

import click

from app.cli.common import Appliance, json_option, print_rows, storage_options
from app.errors import NotFoundError
from app.models import Endpoint, EndpointTarget
from app.services import endpoints, targets

COLUMNS = ["id", "endpoint", "provider", "model", "priority", "weight", "enabled", "price"]


@click.group("target")
def group() -> None:
    """Manage an endpoint's targets (providers and models, tried by priority, lower first;
    by weight among equal priorities)."""


def ref(value: str) -> int | str:
    """A provider or endpoint given by id or by name."""
    return int(value) if value.isdigit() else value


@group.command("add")
@click.option("--endpoint", "endpoint_ref", required=True, help="Endpoint name, path or id.")
@click.option("--provider", required=True, help="Provider name or id.")
@click.option("--model", required=True, help="The provider's name for the model.")
@click.option("--priority", type=int,
              help="Lower is tried first (default: after the rest, a fallback).")
@click.option("--weight", type=int, help="Share among targets of one priority (default 1).")
@click.option("--price-input", help="USD per million input tokens (default: the price table).")
@click.option("--price-cached-input", help="USD per million cached input tokens.")
@click.option("--price-output", help="USD per million output tokens.")
@storage_options
def add(app: Appliance, endpoint_ref: str, provider: str, **fields: Any) -> None:
    """Add a target to an endpoint."""
    endpoint = endpoints.find(endpoint_ref)
    target = targets.add(app.actor, endpoint, provider=ref(provider), **_fields(fields))
    click.echo(f"added target {target.id} to endpoint {endpoint.name!r}: {provider} "
               f"{target.model} (priority {target.priority}, weight {target.weight})")


@group.command("update")
@click.argument("target_id", type=int)
@click.option("--provider", help="Provider name or id.")
@click.option("--model", help="The provider's name for the model.")
@click.option("--priority", type=int, help="Lower is tried first.")
@click.option("--weight", type=int, help="Share among targets of one priority.")
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--price-input", metavar="USD|none", help="USD per million input tokens.")
@click.option("--price-cached-input", metavar="USD|none",
              help="USD per million cached input tokens.")
@click.option("--price-output", metavar="USD|none", help="USD per million output tokens.")
@storage_options
def update(app: Appliance, target_id: int, provider: str | None, **flags: Any) -> None:
    """Change a target by id; only the options given change ("none": the table's price)."""
    fields = _fields(flags)
    for name in [n for n in fields if n.startswith("price_")]:
        if str(fields[name]).strip().lower() == "none":
            fields[name] = None
    if provider is not None:
        fields["provider"] = ref(provider)
    if not fields:
        raise click.UsageError("nothing to change: give an option such as --priority")
    endpoint = _endpoint_of(target_id)
    target = targets.update(app.actor, endpoint, target_id, **fields)
    click.echo(f"updated target {target.id} of endpoint {endpoint.name!r} (priority "
               f"{target.priority}, weight {target.weight})")


@group.command("remove")
@click.argument("target_id", type=int)
@storage_options
def remove(app: Appliance, target_id: int) -> None:
    """Remove a target by id (an endpoint keeps one enabled target at least)."""
    endpoint = _endpoint_of(target_id)
    targets.remove(app.actor, endpoint, target_id)
    click.echo(f"removed target {target_id} from endpoint {endpoint.name!r}")


@group.command("list")
@click.option("--endpoint", "endpoint_ref", help="Only this endpoint's (name, path or id).")
@json_option
@storage_options
def list_(app: Appliance, endpoint_ref: str | None, as_json: bool) -> None:
    """List targets in the order they are tried, endpoint by endpoint."""
    chosen = [endpoints.find(endpoint_ref)] if endpoint_ref else endpoints.list_all()
    found = targets.by_endpoint([e.id for e in chosen])
    rows = []
    for endpoint in chosen:
        for target in found.get(endpoint.id, []):
            shown = targets.to_dict(target)
            price = shown["price"] if as_json else _price_text(shown["price"])
            rows.append({**shown, "endpoint": endpoint.name, "price": price})
    print_rows(rows, COLUMNS, as_json)


def route_text(shown: dict[str, Any]) -> str:
    """An endpoint dict's targets in one line, e.g. "openai:gpt-4o -> local:llama3 |
    local:qwen (w=2)": priorities in order with ->, targets sharing one priority with |, a
    weight other than 1 as (w=N), a disabled target as (off). ASCII: any terminal shows it."""
    groups: dict[int, list[str]] = {}
    for t in shown["targets"]:
        text = f"{t['provider']}:{t['model']}"
        text += f" (w={t['weight']})" if t["weight"] != 1 else ""
        text += "" if t["enabled"] else " (off)"
        groups.setdefault(t["priority"], []).append(text)
    return " -> ".join(" | ".join(texts) for _, texts in sorted(groups.items()))


def _endpoint_of(target_id: int) -> Endpoint:
    """The endpoint of a target given by its id alone (ids are unique across endpoints)."""
    target = EndpointTarget.get_or_none(EndpointTarget.id == target_id)
    if target is None:
        raise NotFoundError(f"no target with id {target_id}")
    return Endpoint.get_by_id(target.endpoint_id)


def _fields(flags: dict[str, Any]) -> dict[str, Any]:
    names = {"price_input": "price_input_per_m", "price_cached_input": "price_cached_input_per_m",
             "price_output": "price_output_per_m"}
    return {names.get(k, k): val for k, val in flags.items() if val is not None}


def _price_text(price: dict[str, Any] | None) -> str:
    """USD per million tokens: input/cached input/output (where the price comes from)."""
    if price is None:
        return "no price"
    return (f"${price['input']:g}/{price['cached_input']:g}/{price['output']:g} "
            f"({price['source']})")
