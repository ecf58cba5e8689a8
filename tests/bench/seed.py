"""Seeding a ModelProxy data directory for the benchmark, through the app's own services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

RPM = 10_000_000  # high enough never to trigger; monthly quotas stay unset
# bench-limited's quotas (limited_token): set, so each request is held, and never reached.
MONTHLY_REQUESTS, MONTHLY_TOKENS = 2_000_000_000, 10**15
# Endpoints whose first target fails and whose second is the upstream (route_phases.py).
REFUSED, UNAVAILABLE = "chat-refused", "chat-503"
# A failing first target must fail on every request of the routes phase, never be skipped
# while cooling: 100 failures within 1 s cool it, more than the paced runs send.
NO_COOLING = {"cooldown_failures": 100, "cooldown_window_s": 1}


@dataclass(frozen=True)
class Seeded:
    """Plaintext tokens: `warmup` warms the server up, `bench` is first used cold."""

    warmup_token: str
    bench_token: str


@dataclass(frozen=True)
class Failing:
    """Base URLs of first targets that fail: one refuses connections, one answers 503."""

    refused: str
    unavailable: str


def seed(data_dir: Path, upstream_base: str, failing: Failing) -> Seeded:
    """A provider `up` at `upstream_base`, an endpoint `chat` (/api/chat, model bench-model),
    a provider `up-nohold` whose streams come at once (upstream.py's /nohold/ paths) with an
    endpoint `chat-nohold`, the routes phase's endpoints (`_seed_routes`), and two tokens,
    hashed with bcrypt at the default cost."""
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
            up = providers.create(box, actor, name="up", type="openai_compatible",
                                  base_url=upstream_base, api_key="sk-bench")
            endpoints.create(actor, name="chat", path="/api/chat", kind="chat",
                             model="bench-model", provider="up")
            providers.create(box, actor, name="up-nohold", type="openai_compatible",
                             base_url=upstream_base.removesuffix("/v1") + "/nohold/v1",
                             api_key="sk-bench")
            endpoints.create(actor, name="chat-nohold", path="/api/chat-nohold", kind="chat",
                             model="bench-model", provider="up-nohold")
            _seed_routes(settings, box, actor, up, failing)
            _, warmup = tokens.create(actor, name="bench-warmup", rpm=RPM)
            _, bench = tokens.create(actor, name="bench", rpm=RPM)
    finally:
        db.close_all()
    return Seeded(warmup_token=warmup, bench_token=bench)


def limited_token(data_dir: Path) -> str:
    """A token `bench-limited` with an rpm and monthly request and token quotas, all too
    high to refuse: each of its requests is counted in its rate window and held against its
    month (in Redis, where the server has it). Returns its plaintext."""
    from app.db import open_database
    from app.services import tokens
    from app.services.audit import Actor
    from app.settings import load_settings

    settings = load_settings({"data_dir": str(data_dir)}, environ={}, env_file=None)
    db = open_database(settings)
    try:
        with db.connection_context():
            _, plaintext = tokens.create(Actor("bench"), name="bench-limited", rpm=RPM,
                                         monthly_requests=MONTHLY_REQUESTS,
                                         monthly_tokens=MONTHLY_TOKENS)
    finally:
        db.close_all()
    return plaintext


def _seed_routes(settings: Any, box: Any, actor: Any, up: Any, failing: Failing) -> None:
    """Two endpoints with a fallback: the first target refuses connections (a loopback port
    nobody listens on) or answers 503 (upstream.py's /fail503/ paths); the second is `up`.
    Cool-downs set so that the first target is tried on every request."""
    from app.models import EndpointTarget
    from app.services import endpoints, options, providers

    for name, base in ((REFUSED, failing.refused), (UNAVAILABLE, failing.unavailable)):
        down = providers.create(box, actor, name=f"{name}-first", type="openai_compatible",
                                base_url=base, api_key="sk-bench")
        endpoint = endpoints.create(actor, name=name, path=f"/api/{name}", kind="chat",
                                    model="bench-model", provider=down.name)
        EndpointTarget.create(endpoint=endpoint, provider=up, model="bench-model", priority=1)
    options.update(settings, actor, NO_COOLING)
