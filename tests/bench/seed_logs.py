"""Fill a database with N request-log rows spread over the last D days, with rollups.

    .venv/bin/python tests/bench/seed_logs.py --rows 1000000 --data-dir /tmp/mp-big
    .venv/bin/python tests/bench/seed_logs.py --rows 1000000 --database-url postgresql://...

Rows go through the same batch writer the server uses (rows, daily and hourly rollups),
so the rollups agree with the log. Several providers, endpoints and tokens; realistic
statuses, latencies and token counts. Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.db import open_database
from app.models import Endpoint, Token, utcnow
from app.services import endpoints, providers, secret_key, tokens
from app.services.audit import Actor
from app.settings import load_settings
from server.logwriter import LogWriter

ACTOR = Actor("seed")
STATUSES = [200] * 94 + [400, 401, 403, 429, 429, 502]
ERRORS = {400: "messages is required", 401: "invalid token", 403: "this token has been revoked",
          429: "rate limit of 60 requests per minute reached", 502: "provider answered 500"}


def seed_config(box, n_tokens: int) -> tuple[list[Token], list[Endpoint]]:
    """A few providers, endpoints (with prices) and tokens, made once."""
    if Token.select().exists():
        return list(Token.select()), list(Endpoint.select())
    for name, type_ in (("openai", "openai"), ("openrouter", "openrouter"), ("local", "echo")):
        providers.create(box, ACTOR, name=name, type=type_, api_key="sk-seed-key-0000")
    plan = [("gpt-4o-mini", "openai", "chat", 0.15, 0.6), ("gpt-4o", "openai", "chat", 2.5, 10),
            ("claude", "openrouter", "chat", 3, 15), ("embed", "openai", "embeddings", 0.02, 0),
            ("llama", "local", "chat", None, None)]
    for model, provider, kind, price_in, price_out in plan:
        endpoints.create(ACTOR, name=model, path=f"/api/{model}", kind=kind, model=model,
                         provider=provider, price_input_per_m=price_in,
                         price_output_per_m=price_out)
    for i in range(n_tokens):
        tokens.create(ACTOR, 4, name=f"user-{i:02d}", rpm=600)
    return list(Token.select()), list(Endpoint.select())


def rows(n: int, days: int, token_ids: list[int], endpoint_rows: list[Endpoint],
         rng: random.Random):
    now = utcnow()
    span = days * 86400
    for i in range(n):
        endpoint = rng.choice(endpoint_rows)
        status = rng.choice(STATUSES)
        ok = status < 400
        latency = rng.lognormvariate(6.2, 0.8) if ok else rng.uniform(0.2, 5)
        yield {
            "time": now - dt.timedelta(seconds=span * (n - i) / n),
            "request_id": f"req_seed{i:012d}", "token_id": rng.choice(token_ids),
            "endpoint_id": endpoint.id, "provider_id": endpoint.provider_id,
            "model": endpoint.model, "status": status, "latency_ms": round(latency, 3),
            "ttfb_ms": round(latency * 0.3, 3) if ok else None,
            "prompt_tokens": rng.randint(20, 2000) if ok else 0,
            "completion_tokens": rng.randint(5, 800) if ok and endpoint.kind == "chat" else 0,
            "usage_estimated": False,
            "client_ip": f"10.0.{rng.randint(0, 3)}.{rng.randint(2, 250)}",
            "stream": rng.random() < 0.4, "error": ERRORS.get(status),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--data-dir", default="/tmp/modelproxy-bench-logs")
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = load_settings({"data_dir": args.data_dir, "database_url": args.database_url},
                             environ={}, env_file=None)
    db = open_database(settings)
    with db.connection_context():
        token_rows, endpoint_rows = seed_config(secret_key.load_box(settings), args.tokens)
    writer = LogWriter(db)
    started = time.perf_counter()
    batch = []
    rng = random.Random(args.seed)
    for row in rows(args.rows, args.days, [t.id for t in token_rows], endpoint_rows, rng):
        batch.append(row)
        if len(batch) == 5000:
            writer._flush(batch)
            batch = []
    if batch:
        writer._flush(batch)
    print(f"wrote {args.rows} rows over {args.days} days in "
          f"{time.perf_counter() - started:.1f} s into {settings.database}")
    db.close_all()


if __name__ == "__main__":
    main()
