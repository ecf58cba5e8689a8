"""A provider of a plug-in type (an adapter from the `modelproxy.providers` entry-point
group) keeps its type when it is edited in the window."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog

from gui.api import AdminAPI
from gui.dialogs.provider import ProviderDialog
from gui.pages.base import Context
from gui.tasks import Tasks
from gui.widgets import Banner
from tests.gui.conftest import ADMIN, seed
from tests.live import LiveServer


def installed_plugin(folder: Path) -> Path:
    """A distribution on disk that registers provider type `local_llm` (the echo adapter
    under another name), as a third party's package would."""
    dist = folder / "modelproxy_local_llm-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: modelproxy-local-llm\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[modelproxy.providers]\nlocal_llm = server.providers.echo:EchoAdapter\n")
    return folder


@pytest.fixture
def plugin_server(tmp_path: Path) -> Iterator[LiveServer]:
    seed(tmp_path / "data")
    path = os.pathsep.join(filter(None, [str(installed_plugin(tmp_path / "site")),
                                         os.environ.get("PYTHONPATH")]))
    with LiveServer(tmp_path / "data", env={"PYTHONPATH": path}) as live:
        yield live


def test_editing_a_plugin_provider_keeps_its_type(qtbot, plugin_server) -> None:
    api = AdminAPI(plugin_server.url)
    api.login(*ADMIN)
    created = api.create("providers", {"name": "llm-box", "type": "local_llm",
                                        "base_url": "http://127.0.0.1:9/v1"})
    tasks = Tasks()
    ctx = Context(api, tasks, Banner())
    dialog = ProviderDialog(ctx, created)
    qtbot.addWidget(dialog)
    assert dialog.type.currentText() == "local_llm"
    dialog.timeout.setValue(42.0)
    dialog.submit()
    qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
    tasks.wait()
    stored = next(p for p in api.items("providers") if p["id"] == created["id"])
    assert (stored["type"], stored["timeout_s"]) == ("local_llm", 42.0)
