"""Checking that providers answer: the admin's "test connection" and the scheduled check.

A check lists the provider's models (cheap, and proves the key works) and records the
outcome in `provider_health`, which the overview shows.
"""

from __future__ import annotations

import time
from typing import Any

from app.models import ProviderHealth, utcnow
from server.catalog import Catalog
from server.providers import UpstreamError


class ProviderChecker:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def check(self, provider_id: int) -> dict[str, Any]:
        """{"ok": true, "latency_ms", "models"} or {"ok": false, "latency_ms", "error"}."""
        entry = self.catalog.providers.get(provider_id)
        if entry is None:
            self.catalog.reload()  # made a moment ago by another process
            entry = self.catalog.providers.get(provider_id)
        started = time.perf_counter()
        try:
            if entry is None or entry.adapter is None:
                raise UpstreamError(entry.problem if entry else "no such provider")
            models = [m.get("id") for m in entry.adapter.models() if isinstance(m, dict)]
            result: dict[str, Any] = {"ok": True, "models": models}
        except UpstreamError as exc:
            result = {"ok": False, "error": exc.message}
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        self._record(provider_id, result)
        return result

    def check_all(self) -> int:
        """Check every enabled provider; returns how many were checked."""
        enabled = [pid for pid, entry in self.catalog.providers.items() if entry.enabled]
        for provider_id in enabled:
            self.check(provider_id)
        return len(enabled)

    @staticmethod
    def _record(provider_id: int, result: dict[str, Any]) -> None:
        values = {"checked_at": utcnow(), "ok": result["ok"],
                  "latency_ms": result["latency_ms"], "error": result.get("error")}
        ProviderHealth.insert(provider_id=provider_id, **values).on_conflict(
            conflict_target=[ProviderHealth.provider_id],
            update={getattr(ProviderHealth, k): v for k, v in values.items()}).execute()
