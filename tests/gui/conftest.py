"""GUI tests: real Qt widgets offscreen, against a real `modelproxy serve` with demo data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported anywhere

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.db import open_database
from app.services import admins, endpoints, providers, secret_key, tokens
from app.services.audit import Actor
from app.settings import load_settings
from gui import collector
from gui.api import AdminAPI
from gui.pages.base import Context
from gui.tasks import Tasks
from gui.widgets import Banner
from tests.live import LiveServer

ADMIN = ("admin", "admin-password")
VIEWER = ("viewer", "viewer-password")


def seed(data_dir: Path) -> str:
    """Two admins, an echo provider, two endpoints, a token; returns the token."""
    settings = load_settings({"data_dir": str(data_dir), "bcrypt_rounds": 4}, environ={},
                             env_file=None)
    db = open_database(settings)
    actor = Actor("seed")
    with db.connection_context():
        box = secret_key.load_box(settings)
        admins.create(actor, *ADMIN, rounds=4)
        admins.create(actor, *VIEWER, role="viewer", rounds=4)
        providers.create(box, actor, name="echo", type="echo")
        endpoints.create(actor, name="chat", path="/api/chat", kind="chat", model="echo-1",
                         provider="echo", price_input_per_m=1, price_output_per_m=2)
        endpoints.create(actor, name="embed", path="/api/embeddings", kind="embeddings",
                         model="echo-e", provider="echo")
        _token, plaintext = tokens.create(actor, 4, name="laptop", rpm=600,
                                          monthly_requests=1000)
    db.close_all()
    return plaintext


@pytest.fixture(scope="package", autouse=True)
def _collect_on_the_gui_thread(qapp) -> Iterator[None]:
    """As the application does (gui.main.application): never collect Qt objects in a
    worker thread. The rest of the suite gets Python's own collection back."""
    collector.install(qapp)
    yield
    collector.uninstall()


@pytest.fixture(scope="session")
def gui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the GUI tests, with a little client traffic already logged."""
    data_dir = tmp_path_factory.mktemp("gui") / "data"
    token = seed(data_dir)
    with LiveServer(data_dir) as live:
        headers = {"Authorization": f"Bearer {token}"}
        for i in range(12):
            requests.post(f"{live.url}/api/chat", headers=headers, timeout=10,
                          json={"messages": [{"role": "user", "content": f"hello {i}"}]})
        requests.post(f"{live.url}/api/chat", headers={"Authorization": "Bearer nope"},
                      json={}, timeout=10)
        live.client_token = token
        yield live


def logged_in(server: LiveServer, who: tuple[str, str]) -> AdminAPI:
    api = AdminAPI(server.url)
    api.login(*who)
    return api


@pytest.fixture
def api(gui_server: LiveServer) -> AdminAPI:
    return logged_in(gui_server, ADMIN)


@pytest.fixture
def viewer_api(gui_server: LiveServer) -> AdminAPI:
    return logged_in(gui_server, VIEWER)


def _context(qtbot, api: AdminAPI) -> Iterator[Context]:
    tasks = Tasks()
    banner = Banner()
    qtbot.addWidget(banner)
    yield Context(api, tasks, banner)
    tasks.wait()  # no call may outlive its test


@pytest.fixture
def ctx(qtbot, api: AdminAPI) -> Iterator[Context]:
    yield from _context(qtbot, api)


@pytest.fixture
def viewer_ctx(qtbot, viewer_api: AdminAPI) -> Iterator[Context]:
    yield from _context(qtbot, viewer_api)
