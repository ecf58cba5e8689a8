"""The checks of an endpoint target's fields, one target or the endpoint API's whole list.
Errors name the field as the caller sent it: `weight` for one target, `targets[1].weight`
in a list."""

from __future__ import annotations

from typing import Any

from app.errors import NotFoundError, ValidationError
from app.models import Provider
from app.services import providers
from app.services import validation as v

PRICE_FIELDS = ("price_input_per_m", "price_cached_input_per_m", "price_output_per_m")
FIELDS = frozenset({"provider", "provider_id", "model", "priority", "weight", "enabled",
                    *PRICE_FIELDS})
# A list item may name the target it keeps (see targets.replace_all).
LIST_FIELDS = FIELDS | {"id"}
PRIORITY = (-1000, 1000)  # lower is tried first
WEIGHT = (1, 1000)  # among targets of one priority
MAX_TARGETS = 50


def clean_item(fields: dict[str, Any], prefix: str, creating: bool,
               allowed: frozenset[str] = FIELDS) -> dict[str, Any]:
    """One target's fields, checked: `provider` (a Provider), `model`, `priority`, `weight`,
    `enabled` and the prices where given (all of provider and model when creating)."""
    if not isinstance(fields, dict):
        where = prefix.rstrip(".") or "target"
        raise ValidationError(f"{where} must be an object", where)
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(prefix + u for u in unknown)}",
                              prefix + unknown[0])
    clean: dict[str, Any] = {}
    ref = fields.get("provider_id", fields.get("provider"))
    if creating or ref is not None:
        clean["provider"] = provider(ref, prefix + "provider")
    if creating or "model" in fields:
        clean["model"] = v.text(fields.get("model"), prefix + "model")
    if fields.get("priority") is not None:
        clean["priority"] = v.whole(fields["priority"], prefix + "priority", *PRIORITY)
    if fields.get("weight") is not None:
        clean["weight"] = v.whole(fields["weight"], prefix + "weight", *WEIGHT)
    if fields.get("enabled") is not None:
        clean["enabled"] = v.boolean(fields["enabled"], prefix + "enabled")
    for field in PRICE_FIELDS:
        if field in fields:
            clean[field] = v.price(fields[field], prefix + field)
    if fields.get("id") is not None:
        clean["id"] = v.whole(fields["id"], prefix + "id", 1, v.INT64_MAX)
    return clean


def clean_list(items: Any, field: str = "targets") -> list[dict[str, Any]]:
    """The endpoint API's `targets`: a list of at least one target (one enabled at least),
    each checked. The list is the whole of each target: a field left out takes its default
    (weight 1, enabled, no prices), and a missing priority is the item's place in the list
    (so a list is tried in the order given)."""
    if not isinstance(items, list | tuple) or not items:
        raise ValidationError(f"{field} must be a list of at least one target", field)
    if len(items) > MAX_TARGETS:
        raise ValidationError(f"{field}: at most {MAX_TARGETS} targets, got {len(items)}", field)
    clean = []
    for index, item in enumerate(items):
        fields = clean_item(item, f"{field}[{index}].", creating=True, allowed=LIST_FIELDS)
        clean.append({"priority": min(index, PRIORITY[1]), "weight": 1, "enabled": True,
                      **dict.fromkeys(PRICE_FIELDS), **fields})
    if not any(f["enabled"] for f in clean):
        raise ValidationError(f"{field}: at least one target must be enabled", field)
    ids = [f["id"] for f in clean if "id" in f]
    if len(ids) != len(set(ids)):
        raise ValidationError(f"{field}: a target id is given twice", field)
    return clean


def provider(ref: Any, field: str = "provider") -> Provider:
    """A provider by id or name; a 400 naming `field` when there is none."""
    if ref in (None, "") or isinstance(ref, bool):
        raise ValidationError(f"{field} is required", field)
    if not isinstance(ref, int | str):
        raise ValidationError(f"{field} must be a provider id or name", field)
    try:
        if isinstance(ref, int):
            return providers.get(ref)
        return providers.get_by_name(ref)
    except NotFoundError as exc:
        raise ValidationError(f"{field}: {exc}", field) from None
