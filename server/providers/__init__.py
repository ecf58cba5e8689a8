"""Provider adapters by type name. Third parties add theirs through the
`modelproxy.providers` entry-point group (name = provider type, value = Adapter class)."""

from __future__ import annotations

from importlib.metadata import entry_points

from app.services.provider_types import ENTRY_POINT_GROUP
from server.providers.anthropic import AnthropicAdapter
from server.providers.base import (
    Adapter,
    Answer,
    ProviderConfig,
    Stream,
    UpstreamError,
    UpstreamTimeout,
)
from server.providers.echo import EchoAdapter
from server.providers.openai import OpenAIAdapter
from server.providers.openai_compatible import OpenAICompatibleAdapter
from server.providers.openrouter import OpenRouterAdapter

__all__ = [
    "Adapter",
    "Answer",
    "ProviderConfig",
    "Stream",
    "UpstreamError",
    "UpstreamTimeout",
    "adapter_for",
]

BUILTIN: dict[str, type[Adapter]] = {
    "openai": OpenAIAdapter,
    "openrouter": OpenRouterAdapter,
    "anthropic": AnthropicAdapter,
    "openai_compatible": OpenAICompatibleAdapter,
    "echo": EchoAdapter,
}


def adapter_class(type_name: str) -> type[Adapter]:
    """The adapter for a provider type; plug-ins are loaded on first use."""
    if type_name in BUILTIN:
        return BUILTIN[type_name]
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=type_name):
        cls = ep.load()
        if isinstance(cls, type) and issubclass(cls, Adapter):
            return cls
    raise UpstreamError(f"no adapter is installed for provider type {type_name!r}")


def adapter_for(config: ProviderConfig) -> Adapter:
    return adapter_class(config.type)(config)
