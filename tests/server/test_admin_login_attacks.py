"""The admin API under attack (issue 11): bcrypt never stalls the server (item 10), and
logins with absurd usernames cost what any failed login costs (items 6 and 12).

bcrypt is made slow here on purpose (cost 14, about a second of CPU) so that whether the
server answered something else meanwhile is a matter of order, not of timing: the health
check is sent once the server has spent a fifth of that on the slow call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from app.services import admins
from tests.server.client_fixtures import ACTOR, Appliance, wait_for

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.server.admin_fixtures import API, assert_api_error, login_response  # noqa: E402

SLOW_ROUNDS = 14
PASSWORD = "slow-password-2291"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    """An appliance whose bcrypt costs ~1 s: one admin `slow`, new tokens hashed at 14."""
    app = Appliance(Path(tmp_path_factory.mktemp("slow-bcrypt")))
    with app.session():
        admins.create(ACTOR, "slow", PASSWORD, "admin", rounds=SLOW_ROUNDS)
    app.serve(MODELPROXY_BCRYPT_ROUNDS=str(SLOW_ROUNDS), MODELPROXY_TRUSTED_PROXIES="127.0.0.1")
    try:
        yield app
    finally:
        app.close()


BCRYPT_UNDER_WAY_S = 0.2  # of the server's CPU: the slow call's bcrypt has begun


def finished_first(app: Appliance, slow_call: Callable[[], requests.Response]) -> list[str]:
    """Start `slow_call` in a thread and, once the server is busy with its bcrypt, ask
    /api/health; the order they finished in."""
    assert app.live is not None
    order: list[str] = []
    answers: list[requests.Response] = []

    def run() -> None:
        answers.append(slow_call())
        order.append("slow call")

    idle = app.live.cpu_seconds()
    thread = threading.Thread(target=run)
    thread.start()
    assert wait_for(lambda: app.live.cpu_seconds() - idle >= BCRYPT_UNDER_WAY_S or answers,
                    30, interval=0.01)
    health = requests.get(app.url + "/api/health", timeout=30)
    order.append("health")
    thread.join(30)
    assert health.status_code == 200 and answers, (health.text, answers)
    return order


def test_a_login_being_checked_does_not_stall_the_server(slow: Appliance) -> None:
    def wrong_login() -> requests.Response:
        return requests.post(f"{slow.url}{API}/login", timeout=30,
                             headers={"X-Forwarded-For": "10.40.0.1"},
                             json={"username": "slow", "password": "not-the-password"})

    assert finished_first(slow, wrong_login) == ["health", "slow call"]


def test_a_token_being_created_does_not_stall_the_server(slow: Appliance) -> None:
    session = requests.post(f"{slow.url}{API}/login", timeout=30,
                            headers={"X-Forwarded-For": "10.40.0.2"},
                            json={"username": "slow", "password": PASSWORD}).json()["token"]

    def create_token() -> requests.Response:
        return requests.post(f"{slow.url}{API}/tokens", json={"name": "made-slowly"},
                             headers={"Authorization": f"Bearer {session}"}, timeout=30)

    assert finished_first(slow, create_token) == ["health", "slow call"]


@pytest.mark.parametrize(("username", "status", "code"), [
    ("u" * (4 * 1024 * 1024), 401, "invalid_credentials"),
    ("bad\ud800name", 400, None),  # refused at the door, as any JSON body with one
    (" ", 401, "invalid_credentials"),
])
def test_absurd_usernames_are_a_plain_failed_login(admin_env, username: str, status: int,
                                                   code: str | None) -> None:
    """4 MB (once kept twice by the login guard: 106 MB for 25 logins), a lone surrogate
    (once a 500), blank: each refused like any bad login, and the admin still logs in."""
    escaped = username.encode("ascii", "backslashreplace").decode()  # JSON's \ud800 too
    response = requests.post(f"{admin_env.url}{API}/login", timeout=30,
                             data=f'{{"username": "{escaped}", "password": "whatever-1"}}')
    assert_api_error(response, status, code)
    assert login_response(admin_env.url, "root", "root-password-4821").status_code == 200


pytest_plugins = ["tests.server.admin_fixtures"]
