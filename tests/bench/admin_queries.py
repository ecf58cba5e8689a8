"""Time the admin API's heavy reads against a large request log, over real HTTP.

    .venv/bin/python tests/bench/seed_logs.py --rows 1000000 --data-dir /tmp/mp-big
    .venv/bin/python tests/bench/admin_queries.py --data-dir /tmp/mp-big
    (add --database-url postgresql://... to both for PostgreSQL)

Targets (issue "Admin API"): a 30-day daily series <= 200 ms, a page of logs <= 50 ms.
Prints the median and the worst of --runs calls for each query.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.db import open_database
from app.services import admins
from app.services.audit import Actor
from app.settings import load_settings
from tests.live import LiveServer

QUERIES = [
    ("usage: 30-day daily series", "/admin/api/usage?range=30d&bucket=day", 200),
    ("usage: 30-day daily, by token", "/admin/api/usage?range=30d&bucket=day&group_by=token",
     200),
    ("usage: 30-day daily, by endpoint", "/admin/api/usage?range=30d&group_by=endpoint", 200),
    ("usage: 7-day hourly series", "/admin/api/usage?range=7d&bucket=hour", 200),
    ("overview", "/admin/api/overview", 200),
    ("logs: first page of 50", "/admin/api/logs?limit=50", 50),
    ("logs: page of 50, one token", "/admin/api/logs?limit=50&token_id=3", 50),
    ("logs: page of 50, 5xx only", "/admin/api/logs?limit=50&status=5xx", 50),
    ("logs: page of 50, one endpoint, 4xx", "/admin/api/logs?limit=50&endpoint_id=2&status=4xx",
     50),
    ("logs: by request id", "/admin/api/logs?request_id=req_seed000000500000", 50),
]


def session(data_dir: Path, database_url: str | None) -> None:
    settings = load_settings({"data_dir": str(data_dir), "database_url": database_url},
                             environ={}, env_file=None)
    db = open_database(settings)
    with db.connection_context():
        if not admins.exists():
            admins.create(Actor("bench"), "bench", "bench-password", rounds=4)
    db.close_all()


def timed(http: requests.Session, url: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(url, timeout=60)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def deep_page(http: requests.Session, base: str, pages: int) -> list[float]:
    """Time each of `pages` successive keyset pages (the cursor walk an infinite scroll does)."""
    times, cursor = [], None
    for _ in range(pages):
        url = base + "/admin/api/logs?limit=50" + (f"&cursor={cursor}" if cursor else "")
        started = time.perf_counter()
        body = http.get(url, timeout=60).json()
        times.append((time.perf_counter() - started) * 1000)
        cursor = body["next_cursor"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/tmp/modelproxy-bench-logs")
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    session(Path(args.data_dir), args.database_url)
    with LiveServer(Path(args.data_dir), args.database_url,
                    env={"MODELPROXY_LOG_LEVEL": "WARNING"}) as live:
        http = requests.Session()
        login = http.post(live.url + "/admin/api/login",
                          json={"username": "bench", "password": "bench-password"}).json()
        http.headers["Authorization"] = f"Bearer {login['token']}"
        print(f"{'query':40} {'median ms':>10} {'worst ms':>10} {'target':>8}")
        for name, path, target in QUERIES:
            times = timed(http, live.url + path, args.runs)
            print(f"{name:40} {statistics.median(times):10.1f} {max(times):10.1f} "
                  f"{target:>8}")
        walk = deep_page(http, live.url, 40)
        print(f"{'logs: 40 pages deep, each':40} {statistics.median(walk):10.1f} "
              f"{max(walk):10.1f} {50:>8}")


if __name__ == "__main__":
    main()
