"""Seeding a ModelProxy data directory for the benchmark, through the app's own services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RPM = 10_000_000  # high enough never to trigger; monthly quotas stay unset


@dataclass(frozen=True)
class Seeded:
    """Plaintext tokens: `warmup` warms the server up, `bench` is first used cold."""

    warmup_token: str
    bench_token: str


def seed(data_dir: Path, upstream_base: str) -> Seeded:
    """A provider `up` at `upstream_base`, an endpoint `chat` (/api/chat, model bench-model),
    a provider `up-nohold` whose streams come at once (upstream.py's /nohold/ paths) with an
    endpoint `chat-nohold`, and two tokens, hashed with bcrypt at the default cost."""
    from app.db import open_database
    from app.services import endpoints, providers, secret_key, tokens
    from app.services.audit import Actor
    from app.settings import load_settings

    settings = load_settings({"data_dir": str(data_dir)}, environ={}, env_file=None)
    db = open_database(settings)
    actor = Actor("bench")
    try:
        with db.connection_context():
            box = secret_key.load_box(settings)
            providers.create(box, actor, name="up", type="openai_compatible",
                             base_url=upstream_base, api_key="sk-bench")
            endpoints.create(actor, name="chat", path="/api/chat", kind="chat",
                             model="bench-model", provider="up")
            providers.create(box, actor, name="up-nohold", type="openai_compatible",
                             base_url=upstream_base.removesuffix("/v1") + "/nohold/v1",
                             api_key="sk-bench")
            endpoints.create(actor, name="chat-nohold", path="/api/chat-nohold", kind="chat",
                             model="bench-model", provider="up-nohold")
            _, warmup = tokens.create(actor, name="bench-warmup", rpm=RPM)
            _, bench = tokens.create(actor, name="bench", rpm=RPM)
    finally:
        db.close_all()
    return Seeded(warmup_token=warmup, bench_token=bench)
