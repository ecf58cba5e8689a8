"""Client and provider dialects: the internal model (model.py), what a codec offers
(codec.py) and one codec module per dialect, found by its name in `CODECS`."""

from __future__ import annotations

from types import ModuleType

from server.dialects import chat, messages, responses
from server.dialects.model import CHAT, DIALECTS, MESSAGES, RESPONSES

CODECS: dict[str, ModuleType] = {CHAT: chat, MESSAGES: messages, RESPONSES: responses}

__all__ = ["CHAT", "CODECS", "DIALECTS", "MESSAGES", "RESPONSES"]
