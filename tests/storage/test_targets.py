"""Endpoint targets and monthly budgets in the services, on both databases: add, change,
remove and replace targets (the endpoint keeping its first target's model and provider),
the checks naming the field with nothing saved, and the audit log."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.crypto import SecretBox
from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import AuditEntry, Endpoint, EndpointTarget, Provider
from app.services import endpoints, providers, targets, tokens

BOX = SecretBox("t" * 40)


@pytest.fixture
def route(db, actor) -> tuple[Provider, Provider, Endpoint]:
    first = providers.create(BOX, actor, name="primary", type="openai", api_key="sk-aaaaaaaaaa")
    second = providers.create(BOX, actor, name="backup", type="echo")
    endpoint = endpoints.create(actor, name="chat", path="/api/chat", kind="chat",
                                model="gpt-4o", provider="primary")
    return first, second, endpoint


def _rows(endpoint: Endpoint) -> list[tuple[str, str, int, int, bool]]:
    return [(t.provider.name, t.model, t.priority, t.weight, t.enabled)
            for t in targets.of(endpoint)]


def _fresh(endpoint: Endpoint) -> Endpoint:
    return Endpoint.get_by_id(endpoint.id)


def test_an_added_target_is_a_fallback_and_audited(db, actor, route) -> None:
    _, backup, endpoint = route
    added = targets.add(actor, endpoint, provider="backup", model="echo-1")
    assert _rows(endpoint) == [("primary", "gpt-4o", 0, 1, True), ("backup", "echo-1", 1, 1, True)]
    entry = AuditEntry.select().where(AuditEntry.action == "endpoint.target_add").get()
    assert entry.target_id == endpoint.id and entry.changes["target_id"] == added.id
    assert entry.changes["provider"] == backup.id


def test_the_endpoint_follows_its_first_target(db, actor, route) -> None:
    primary, backup, endpoint = route
    added = targets.add(actor, endpoint, provider_id=backup.id, model="echo-1", priority=-5)
    assert (_fresh(endpoint).model, _fresh(endpoint).provider_id) == ("echo-1", backup.id)
    targets.update(actor, endpoint, added.id, priority=9)
    assert (_fresh(endpoint).model, _fresh(endpoint).provider_id) == ("gpt-4o", primary.id)
    assert AuditEntry.select().where(AuditEntry.action == "endpoint.target_update").count() == 1


def test_target_prices_and_the_shipped_table(db, actor, route) -> None:
    _, _, endpoint = route
    shown = endpoints.to_dict(_fresh(endpoint))["targets"][0]
    assert shown["price"]["source"].startswith("table ") and shown["price_input_per_m"] is None
    targets.update(actor, endpoint, shown["id"], price_input_per_m="1.5",
                   price_output_per_m=3)
    shown = endpoints.to_dict(_fresh(endpoint))["targets"][0]
    assert shown["price"] == {"input": 1.5, "cached_input": 1.5, "output": 3.0,
                              "source": "target"}
    row = EndpointTarget.get_by_id(shown["id"])
    assert row.price_input_per_m == Decimal("1.5")


def test_removing_targets_but_never_the_last(db, actor, route) -> None:
    primary, _, endpoint = route
    added = targets.add(actor, endpoint, provider="backup", model="echo-1", priority=-1)
    only = targets.first(endpoint)
    assert only is not None and only.id == added.id
    targets.remove(actor, endpoint, added.id)
    assert _rows(endpoint) == [("primary", "gpt-4o", 0, 1, True)]
    assert _fresh(endpoint).provider_id == primary.id
    last = targets.first(endpoint)
    assert last is not None
    with pytest.raises(ConflictError, match="only enabled one"):
        targets.remove(actor, endpoint, last.id)
    with pytest.raises(ConflictError, match="only enabled one"):
        targets.update(actor, endpoint, last.id, enabled=False)
    assert len(targets.of(endpoint)) == 1
    with pytest.raises(NotFoundError):
        targets.remove(actor, endpoint, 987654)


BAD_TARGET = [
    ({"provider": "ghost", "model": "m"}, "provider", "no provider named 'ghost'"),
    ({"provider": "backup", "model": ""}, "model", "model is required"),
    ({"provider": "backup", "model": "m", "weight": 0}, "weight", "from 1 to 1000"),
    ({"provider": "backup", "model": "m", "weight": -3}, "weight", "from 1 to 1000"),
    ({"provider": "backup", "model": "m", "weight": "heavy"}, "weight", "whole number"),
    ({"provider": "backup", "model": "m", "weight": 1.5}, "weight", "whole number"),
    ({"provider": "backup", "model": "m", "priority": 1001}, "priority", "-1000 to 1000"),
    ({"provider": "backup", "model": "m", "priority": True}, "priority", "whole number"),
    ({"provider": "backup", "model": "m", "enabled": "yes"}, "enabled", "true or false"),
    ({"provider": "backup", "model": "m", "price_input_per_m": "lots"}, "price_input_per_m",
     "must be a number"),
    ({"provider": "backup", "model": "m", "price_output_per_m": -1}, "price_output_per_m",
     "from 0 to"),
    ({"provider": "backup", "model": "m", "price_cached_input_per_m": 1e9},
     "price_cached_input_per_m", "from 0 to"),
    ({"provider": "backup", "model": "m", "colour": "red"}, "colour", "unknown field"),
]


@pytest.mark.parametrize(("fields", "field", "message"), BAD_TARGET)
def test_a_bad_target_names_its_field_and_saves_nothing(db, actor, route, fields, field,
                                                         message) -> None:
    _, _, endpoint = route
    with pytest.raises(ValidationError, match=message) as info:
        targets.add(actor, endpoint, **fields)
    assert info.value.field == field
    assert _rows(endpoint) == [("primary", "gpt-4o", 0, 1, True)]


def test_replacing_the_list_keeps_rows_of_the_same_route(db, actor, route) -> None:
    primary, backup, endpoint = route
    kept_id = targets.of(endpoint)[0].id
    endpoints.update(actor, endpoint.id, targets=[
        {"provider": "backup", "model": "echo-1", "weight": 3},
        {"provider_id": primary.id, "model": "gpt-4o", "price_input_per_m": 2,
         "price_output_per_m": 8},
    ])
    assert _rows(endpoint) == [("backup", "echo-1", 0, 3, True),
                               ("primary", "gpt-4o", 1, 1, True)]
    assert targets.of(endpoint)[1].id == kept_id  # its health and log rows stay its own
    endpoints.update(actor, endpoint.id, targets=[{"provider": "backup", "model": "echo-1"}])
    assert _rows(endpoint) == [("backup", "echo-1", 0, 1, True)]  # the item is the whole target
    assert (_fresh(endpoint).model, _fresh(endpoint).provider_id) == ("echo-1", backup.id)
    entry = AuditEntry.select().where(AuditEntry.action == "endpoint.update").get()
    assert [t["model"] for t in entry.changes["targets"]] == ["echo-1", "gpt-4o"]


BAD_LIST = [
    ([], "targets", "at least one"),
    ("primary", "targets", "at least one"),
    ([{"provider": "backup", "model": "m"}, {"provider": "backup", "model": "m", "weight": 0}],
     "targets[1].weight", "from 1 to 1000"),
    ([{"provider": "ghost", "model": "m"}], "targets[0].provider", "no provider"),
    ([{"model": "m"}], "targets[0].provider", "required"),
    ([{"provider": "backup", "model": "m", "price_input_per_m": "lots"}],
     "targets[0].price_input_per_m", "must be a number"),
    ([{"provider": "backup", "model": "m", "health": {}}], "targets[0].health", "unknown"),
    ([{"provider": "backup", "model": "m", "id": 987654}], "targets[0].id", "no target"),
    (["backup"], "targets[0]", "object"),
    ([{"provider": "backup", "model": "m", "enabled": False}], "targets", "one target must"),
]


@pytest.mark.parametrize(("items", "field", "message"), BAD_LIST)
def test_a_bad_targets_list_names_the_item_and_changes_nothing(db, actor, route, items,
                                                               field, message) -> None:
    _, _, endpoint = route
    with pytest.raises(ValidationError, match=message) as info:
        endpoints.update(actor, endpoint.id, name="renamed", targets=items)
    assert info.value.field == field
    assert _rows(endpoint) == [("primary", "gpt-4o", 0, 1, True)]
    assert _fresh(endpoint).name == "chat"


def test_an_endpoint_made_with_targets_and_a_budget(db, actor, route) -> None:
    endpoint = endpoints.create(actor, name="pair", path="/api/pair", kind="chat",
                                monthly_budget="25.50", targets=[
                                    {"provider": "backup", "model": "echo-1", "priority": 5},
                                    {"provider": "primary", "model": "gpt-4o-mini"}])
    shown = endpoints.to_dict(_fresh(endpoint))
    assert [t["model"] for t in shown["targets"]] == ["gpt-4o-mini", "echo-1"]
    assert shown["model"] == "gpt-4o-mini" and shown["monthly_budget"] == 25.5
    endpoints.update(actor, endpoint.id, monthly_budget=None)
    assert _fresh(endpoint).monthly_budget is None


@pytest.mark.parametrize(("fields", "field"), [
    ({"monthly_budget": -1}, "monthly_budget"),
    ({"monthly_budget": "a lot"}, "monthly_budget"),
    ({"monthly_budget": True}, "monthly_budget"),
    ({"monthly_budget": 1e12}, "monthly_budget"),
    ({"model": "x", "targets": [{"provider": "backup", "model": "m"}]}, "model"),
])
def test_bad_endpoint_budget_or_mixed_fields(db, actor, route, fields: dict[str, Any],
                                             field: str) -> None:
    _, _, endpoint = route
    with pytest.raises(ValidationError) as info:
        endpoints.update(actor, endpoint.id, **fields)
    assert info.value.field == field
    assert _fresh(endpoint).monthly_budget is None and _rows(endpoint)[0][1] == "gpt-4o"


def test_the_one_provider_fields_still_set_the_first_target(db, actor, route) -> None:
    _, backup, endpoint = route
    endpoints.update(actor, endpoint.id, provider="backup", model="echo-2",
                     price_input_per_m=1, price_output_per_m=2)
    assert _rows(endpoint) == [("backup", "echo-2", 0, 1, True)]
    shown = endpoints.to_dict(_fresh(endpoint))
    assert (shown["provider_id"], shown["price_input_per_m"], shown["price_output_per_m"]) == (
        backup.id, 1.0, 2.0)


def test_a_provider_used_by_a_fallback_cannot_be_removed(db, actor, route) -> None:
    _, backup, endpoint = route
    targets.add(actor, endpoint, provider="backup", model="echo-1")
    with pytest.raises(ConflictError, match=r"endpoint\(s\) chat"):
        providers.delete(actor, backup.id)
    assert Provider.get_or_none(Provider.id == backup.id) is not None


def test_token_budgets(db, actor) -> None:
    token, _ = tokens.create(actor, 4, name="ci", monthly_budget=5)
    assert tokens.to_dict(token)["monthly_budget"] == 5.0
    tokens.update(actor, token.id, monthly_budget="0.25")
    assert tokens.to_dict(tokens.get(token.id))["monthly_budget"] == 0.25
    with pytest.raises(ValidationError) as info:
        tokens.update(actor, token.id, monthly_budget=-0.01)
    assert info.value.field == "monthly_budget"
    tokens.update(actor, token.id, monthly_budget=None)
    assert tokens.get(token.id).monthly_budget is None
