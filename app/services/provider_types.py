"""The provider types the appliance knows, by name.

Built-in types are listed here with their default base URLs; third-party adapters add
theirs through the `modelproxy.providers` entry-point group. The adapters themselves live
in server/providers/; this module only knows the names, so the core can validate them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "modelproxy.providers"

# name -> default base URL (None: the admin must give one; "" : none needed)
BUILTIN: dict[str, str | None] = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "openai_compatible": None,
    "echo": "",
}

# Provider types whose key may come from the environment when none is stored.
KEY_ENV = {"openai": "openai_api_key", "openrouter": "openrouter_api_key",
           "anthropic": "anthropic_api_key"}


@cache
def plugin_types() -> frozenset[str]:
    return frozenset(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def known_types() -> frozenset[str]:
    """Every valid provider type name."""
    return frozenset(BUILTIN) | plugin_types()


def default_base_url(type_name: str) -> str | None:
    return BUILTIN.get(type_name)
