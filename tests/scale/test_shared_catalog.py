"""Several `modelproxy serve` instances on one PostgreSQL schema and one Redis of the test's
own (issue 15, items 2 and 4): an admin change on one is in force on the others through a
Redis notice (instances that never poll, so nothing else could have told them); failed
logins on one count on the others; with Redis stopped they all keep serving and polling
covers the gap, and notices resume when it is back.

The delays from the admin's answer on one instance to the change in force on another are
printed (run with -s); they are measured, never asserted."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.scale.cluster import HTTP_TIMEOUT, Cluster, chat, cluster_on, until
from tests.server.admin_fixtures import ADMIN_PASSWORD, ADMIN_USER, API, login_response
from tests.server.client_fixtures import clean_environ

pytestmark = pytest.mark.postgres
NO_POLLING = "tests.scale.serve_without_polling"


@pytest.fixture
def cluster(tmp_path: Path, redis_server) -> Iterator[Cluster]:
    with cluster_on(tmp_path, redis_server.url) as cluster:
        yield cluster


def _report(what: str, delays: list[float]) -> None:
    print(f"\n{what}: median {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms over {len(delays)}")


def test_an_admin_change_on_one_instance_is_in_force_on_the_others(cluster: Cluster) -> None:
    a, b, c = cluster.start(3, module=NO_POLLING)
    admin = cluster.admin(a)
    endpoint = admin.create_endpoint(cluster.echo_id, model="model-one")
    delays: list[float] = []
    for _ in range(5):
        token = admin.create_token(scopes=["all"])
        for live in (b, c):
            delay = until(lambda live=live, secret=token["token"]:
                          chat(live.url, endpoint["path"], secret).status_code == 200)
            assert delay is not None, "a token made on A works on B and C"
            delays.append(delay)
    admin.ok("POST", f"tokens/{token['id']}/revoke")
    for live in (b, c):
        delay = until(lambda live=live: chat(live.url, endpoint["path"], token["token"])
                      .json().get("error", {}).get("code") == "token_revoked")
        assert delay is not None, "a token revoked on A is refused on B and C"
        delays.append(delay)
    token = admin.create_token(scopes=["all"])
    admin.ok("PATCH", f"endpoints/{endpoint['id']}", json={"model": "model-two"})
    for live in (b, c):
        delay = until(lambda live=live: chat(live.url, endpoint["path"], token["token"])
                      .json().get("model") == "model-two")
        assert delay is not None, "an endpoint's new target applies on B and C"
        delays.append(delay)
    _report("admin change on A -> in force on B and C", delays)


def test_failed_logins_on_one_instance_count_on_the_others(cluster: Cluster) -> None:
    instances = cluster.start(3)
    answers: list[int] = []

    def guess(n: int) -> None:
        url = instances[n % 3].url
        answers.append(login_response(url, ADMIN_USER, f"wrong-{n}").status_code)

    # ten wrong guesses at once, spread over the three: this address is then locked on all
    # (each instance alone saw at most four, far from the ten that lock)
    threads = [threading.Thread(target=guess, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [401] * 10
    for live in instances:
        locked = login_response(live.url, ADMIN_USER, ADMIN_PASSWORD)
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"]["code"] == "login_locked"
        assert locked.json()["error"]["message"] == "too many failed logins; try again later"
        assert int(locked.headers["Retry-After"]) > 0


def test_redis_stopped_the_instances_serve_on_and_notices_resume_after(
        cluster: Cluster, redis_server) -> None:
    (a,) = cluster.start(1)
    (quiet,) = cluster.start(1, module=NO_POLLING)  # hears of changes only by notices
    (polling,) = cluster.start(1)
    admin = cluster.admin(a)
    endpoint = admin.create_endpoint(cluster.echo_id)
    old = admin.create_token(scopes=["all"])
    assert until(lambda: chat(quiet.url, endpoint["path"], old["token"]).status_code == 200)

    redis_server.stop()
    for live in (a, quiet, polling):
        assert chat(live.url, endpoint["path"], old["token"]).status_code == 200
    login = requests.post(f"{quiet.url}{API}/login", timeout=HTTP_TIMEOUT,
                          json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert login.status_code == 200, "an admin still logs in while Redis is down"
    during = admin.create_token(scopes=["all"])
    assert until(lambda: chat(polling.url, endpoint["path"], during["token"])
                 .status_code == 200), "polling covers the gap"
    assert chat(quiet.url, endpoint["path"], during["token"]).status_code == 401

    redis_server.start()
    assert until(lambda: chat(quiet.url, endpoint["path"], during["token"])
                 .status_code == 200), "back: it reloads (a notice may have been lost)"
    after = admin.create_token(scopes=["all"])
    assert until(lambda: chat(quiet.url, endpoint["path"], after["token"])
                 .status_code == 200), "and hears notices again"
    assert "Redis does not answer" in quiet.output and "announced again" in quiet.output


def test_a_change_made_with_the_cli_is_announced_too(cluster: Cluster) -> None:
    a, quiet = cluster.start(1)[0], cluster.start(1, module=NO_POLLING)[0]
    endpoint = cluster.admin(a).create_endpoint(cluster.echo_id)
    token = cluster.admin(a).create_token(scopes=["all"])
    assert until(lambda: chat(quiet.url, endpoint["path"], token["token"]).status_code == 200)
    result = subprocess.run(
        [sys.executable, "-m", "app.main", "token", "revoke", str(token["id"]),
         "--data-dir", str(cluster.seed.data_dir), "--database-url", cluster.database_url],
        env={**clean_environ(), "MODELPROXY_REDIS_URL": cluster.redis_url or ""},
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert until(lambda: chat(quiet.url, endpoint["path"], token["token"])
                 .json().get("error", {}).get("code") == "token_revoked")
