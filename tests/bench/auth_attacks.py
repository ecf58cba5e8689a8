"""What the attacks on logins and token checks (issue 11, items 6, 9-12) cost a real server.

Run from the repository root: `PYTHONPATH=$PWD python tests/bench/auth_attacks.py [NAME...]`
with NAME among timing, stall, flood, memory, lockout (all when none is given). Each
scenario seeds a fresh data directory, serves it with `modelproxy serve` (bcrypt cost 12,
as shipped, except `memory`, which makes 30k failed logins and so uses cost 4) behind
MODELPROXY_TRUSTED_PROXIES=127.0.0.1, so X-Forwarded-For picks the attacker's address.
"""

from __future__ import annotations

import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import requests

from app.services import admins, tokens
from tests.server.client_fixtures import ACTOR, Appliance

API = "/admin/api"
PASSWORD = "the-right-password-1"


@contextmanager
def served(rounds: int = 12, users: int = 1) -> Iterator[tuple[Appliance, list[str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        app = Appliance(Path(tmp) / "data")
        names = [f"admin{i}" if i else "admin" for i in range(users)]
        with app.session():
            for name in names:
                admins.create(ACTOR, name, PASSWORD, "admin", rounds=rounds)
        app.provider("echo", type="echo")
        app.endpoint("chat", "/api/chat", "echo", model="echo-model")
        app.serve(MODELPROXY_BCRYPT_ROUNDS=str(rounds), MODELPROXY_TRUSTED_PROXIES="127.0.0.1")
        try:
            yield app, names
        finally:
            app.close()


def issue(app: Appliance, name: str, rounds: int = 12) -> dict[str, str]:
    """A new token's Authorization header (bcrypt at `rounds`, as the server would store it)."""
    with app.session():
        _, plaintext = tokens.create(ACTOR, rounds, name=name, scopes=["all"])
    return {"Authorization": f"Bearer {plaintext}"}


def login(url: str, username: str, password: str, address: str,
          timeout: float = 60) -> requests.Response:
    return requests.post(f"{url}{API}/login", json={"username": username, "password": password},
                         headers={"X-Forwarded-For": address}, timeout=timeout)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


# --- item 6 ---------------------------------------------------------------------------------


def timing() -> None:
    with served(users=20) as (app, names):
        login(app.url, "warm-up", "x", address(999))
        known, unknown = [], []
        for i, name in enumerate(names):  # interleaved, so the machine's load hits both alike
            known.append(timed(partial(login, app.url, name, "wrong", address(i))))
            unknown.append(timed(partial(login, app.url, f"nobody{i}", "wrong",
                                         address(100 + i))))
    print(f"timing: wrong password, known user median {statistics.median(known):.1f} ms; "
          f"unknown user median {statistics.median(unknown):.1f} ms (20 each)")


# --- item 10 --------------------------------------------------------------------------------


class HealthProbe:
    """Polls /api/health every 20 ms in a thread; `worst_ms` is the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url, self.times, self._stop = url, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                self.times.append(timed(lambda: session.get(self.url + "/api/health",
                                                            timeout=60)))
                time.sleep(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join()

    @property
    def worst_ms(self) -> float:
        return max(self.times)


def stall() -> None:
    with served(users=10) as (app, names):
        session = login(app.url, "admin", PASSWORD, address(500)).json()["token"]
        headers = {"Authorization": f"Bearer {session}"}
        with HealthProbe(app.url) as bad_logins, ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda i: login(app.url, names[i], "wrong", address(i)), range(10)))
        with HealthProbe(app.url) as creations, ThreadPoolExecutor(5) as pool:
            list(pool.map(lambda i: requests.post(f"{app.url}{API}/tokens", headers=headers,
                                                  json={"name": f"t{i}"}, timeout=60),
                          range(5)))
    print(f"stall: /api/health worst {bad_logins.worst_ms:.0f} ms during 10 bad logins, "
          f"{creations.worst_ms:.0f} ms during 5 token creations")


# --- item 11 --------------------------------------------------------------------------------


def flood(seconds: float = 8.0, threads: int = 16) -> None:
    with served() as (app, _):
        known = issue(app, "known")["Authorization"].removeprefix("Bearer ")
        warm = issue(app, "warm")
        fresh = issue(app, "fresh")  # first used while the flood runs
        quiet = issue(app, "quiet")  # first used before it
        time.sleep(2.5)  # the catalog picks new tokens up within 2 s
        chat = {"messages": [{"role": "user", "content": "hi"}]}
        assert requests.post(app.url + "/api/chat", json=chat, headers=warm,
                             timeout=10).status_code == 200
        quiet_ms = timed(lambda: requests.post(app.url + "/api/chat", json=chat,
                                               headers=quiet, timeout=60))
        stop = threading.Event()
        statuses: dict[int, int] = {}

        def attack(n: int) -> None:
            with requests.Session() as s:
                while not stop.is_set():
                    forged = known[:12] + secrets.token_urlsafe(32)[:35]
                    status = s.post(app.url + "/api/chat", json=chat, timeout=60, headers={
                        "Authorization": f"Bearer {forged}",
                        "X-Forwarded-For": address(n % 4)}).status_code
                    statuses[status] = statuses.get(status, 0) + 1

        attackers = [threading.Thread(target=attack, args=(n,)) for n in range(threads)]
        for t in attackers:
            t.start()
        time.sleep(seconds / 2)
        first: list[int] = []
        first_use = timed(lambda: first.append(requests.post(
            app.url + "/api/chat", json=chat, headers=fresh, timeout=60).status_code))
        request_id = "commit-" + secrets.token_hex(6)
        sent = time.monotonic()
        requests.post(app.url + "/api/chat", json=chat, timeout=60,
                      headers={**warm, "X-Request-ID": request_id})
        commit_ms = _row_delay(app.data_dir / "modelproxy.db", request_id, sent)
        time.sleep(seconds / 2)
        stop.set()
        for t in attackers:
            t.join()
    print(f"flood: {sum(statuses.values())} forged requests {dict(sorted(statuses.items()))}; "
          f"a new token's first use {first_use:.0f} ms ({first[0]}; {quiet_ms:.0f} ms with no "
          f"flood); a warm request's log row committed {commit_ms:.0f} ms after it was sent")


def _row_delay(db: Path, request_id: str, sent: float, timeout: float = 60) -> float:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        while time.monotonic() - sent < timeout:
            if con.execute("SELECT 1 FROM request_log WHERE request_id = ?",
                           (request_id,)).fetchone():
                return (time.monotonic() - sent) * 1000
            time.sleep(0.01)
    return float("inf")


# --- item 12 --------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def memory(failures: int = 30_000) -> None:
    with served(rounds=4) as (app, _):
        pid = app.live.process.pid
        login(app.url, "warm-up", "wrong-password", address(9999))
        start = rss_mb(pid)
        huge = "u" * (4 * 1024 * 1024)
        for i in range(25):
            login(app.url, huge + str(i), "wrong-password", address(20_000 + i))
        after_huge = rss_mb(pid)

        def fail(i: int) -> None:
            with requests.Session() as s:
                for j in range(i, failures, 8):
                    s.post(f"{app.url}{API}/login", timeout=60,
                           json={"username": f"user-{j}", "password": "wrong-password"},
                           headers={"X-Forwarded-For": address(100_000 + j)})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(fail, range(8)))
        after_many = rss_mb(pid)
    print(f"memory: RSS {start:.0f} MB; +{after_huge - start:.0f} MB after 25 logins with 4 MB "
          f"usernames; +{after_many - after_huge:.0f} MB after {failures} unique failures")


# --- item 9 ---------------------------------------------------------------------------------


def lockout() -> None:
    with served() as (app, _):
        attacker, office = "10.66.0.1", "10.1.0.1"
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda _: login(app.url, "admin", "guess", attacker),
                                    range(10)))
        seen = sorted({a.status_code for a in answers})
        from_office = login(app.url, "admin", PASSWORD, office)
        from_attacker = login(app.url, "admin", PASSWORD, attacker)
    print(f"lockout: 10 wrong logins from A answered {seen}; then the right password "
          f"from B: {from_office.status_code} {from_office.headers.get('Retry-After', '')}; "
          f"from A: {from_attacker.status_code}")


SCENARIOS = {"timing": timing, "stall": stall, "flood": flood, "memory": memory,
             "lockout": lockout}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(SCENARIOS):
        SCENARIOS[name]()
