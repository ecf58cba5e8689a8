"""The first-run setup dialog's offer to open the admin API to admins' machines only, against
a real server. A machine elsewhere on the LAN is simulated with X-Forwarded-For from loopback,
a trusted proxy here."""

from __future__ import annotations

from pathlib import Path

import requests
from PySide6.QtWidgets import QDialog

from gui.api import AdminAPI
from gui.dialogs.connect import SetupDialog
from gui.tasks import Tasks
from tests.live import LiveServer

ADMIN_PC, OTHER_PC = "10.1.2.3", "10.5.5.5"
BEHIND_PROXY = {"MODELPROXY_TRUSTED_PROXIES": "127.0.0.1"}


def open_setup(qtbot, api: AdminAPI, data_dir: Path) -> SetupDialog:
    dialog = SetupDialog(Tasks(), api, data_dir / "setup-code")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "Asking" not in dialog.access.note.text(), timeout=10_000)
    dialog.password.setText("first-admin-pw")
    dialog.repeat.setText("first-admin-pw")
    return dialog


def api_from(url: str, address: str) -> AdminAPI:
    api = AdminAPI(url)
    api.http.headers["X-Forwarded-For"] = address
    return api


def status_from(url: str, address: str) -> requests.Response:
    return requests.get(f"{url}/admin/api/setup", headers={"X-Forwarded-For": address},
                        timeout=10)


def admin_allow(api: AdminAPI) -> dict:
    return next(row for row in api.items("settings") if row["name"] == "admin_allow")


def test_setup_from_another_machine_opens_the_admin_api_to_it_only(qtbot, tmp_path) -> None:
    data_dir = tmp_path / "data"
    with LiveServer(data_dir, env=BEHIND_PROXY) as live:
        api = api_from(live.url, ADMIN_PC)
        dialog = open_setup(qtbot, api, data_dir)
        assert "answers any address" in dialog.access.note.text()
        assert ADMIN_PC in dialog.access.note.text()
        assert dialog.access.only.isChecked() and dialog.access.addresses.isEnabled()
        assert dialog.access.addresses.text() == ADMIN_PC
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
        row = admin_allow(api)
        assert row["value"] == [ADMIN_PC] and row["source"] == "admin"
        refused = status_from(live.url, OTHER_PC)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "ip_not_allowed"


def test_setup_on_this_machine_offers_both_loopback_addresses(qtbot, tmp_path) -> None:
    data_dir = tmp_path / "data"
    with LiveServer(data_dir, env=BEHIND_PROXY) as live:
        api = AdminAPI(live.url)
        dialog = open_setup(qtbot, api, data_dir)
        assert dialog.access.addresses.text() == "127.0.0.1, ::1"
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
        assert admin_allow(api)["value"] == ["127.0.0.1", "::1"]
        assert status_from(live.url, OTHER_PC).status_code == 403


def test_unticked_the_admin_api_stays_open(qtbot, tmp_path) -> None:
    data_dir = tmp_path / "data"
    with LiveServer(data_dir, env=BEHIND_PROXY) as live:
        api = api_from(live.url, ADMIN_PC)
        dialog = open_setup(qtbot, api, data_dir)
        dialog.access.only.setChecked(False)
        assert not dialog.access.addresses.isEnabled()
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
        assert admin_allow(api)["source"] == "default"
        assert status_from(live.url, OTHER_PC).json() == {"needed": False}


def test_a_list_that_would_shut_the_admin_out_is_explained(qtbot, tmp_path) -> None:
    data_dir = tmp_path / "data"
    with LiveServer(data_dir, env=BEHIND_PROXY) as live:
        api = api_from(live.url, ADMIN_PC)
        dialog = open_setup(qtbot, api, data_dir)
        dialog.access.addresses.setText("")
        dialog.submit()  # ticked, no address: said at once, nothing sent
        assert dialog.message.text() == ("List at least one address, or untick “Only these "
                                         "addresses”.")
        dialog.access.addresses.setText(OTHER_PC)
        dialog.submit()
        qtbot.waitUntil(lambda: "would shut you out" in dialog.message.text(), timeout=10_000)
        assert ADMIN_PC in dialog.message.text()
        assert dialog.result() != QDialog.DialogCode.Accepted and dialog.buttons.isEnabled()
        assert api.setup_needed()
        dialog.access.addresses.setText(f"{ADMIN_PC}, {OTHER_PC}")
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
        assert admin_allow(api)["value"] == [ADMIN_PC, OTHER_PC]


def test_the_servers_own_list_is_shown_and_not_offered(qtbot, tmp_path) -> None:
    data_dir = tmp_path / "data"
    env = {**BEHIND_PROXY, "MODELPROXY_ADMIN_ALLOW": f"{ADMIN_PC},127.0.0.1"}
    with LiveServer(data_dir, env=env) as live:
        api = api_from(live.url, ADMIN_PC)
        dialog = open_setup(qtbot, api, data_dir)
        assert "MODELPROXY_ADMIN_ALLOW" in dialog.access.note.text()
        assert f"{ADMIN_PC}, 127.0.0.1" in dialog.access.note.text()
        assert not dialog.access.only.isEnabled() and not dialog.access.only.isChecked()
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
        assert admin_allow(api)["source"] == "environment"


def test_the_window_on_another_machine_offers_the_setup_first(qtbot, tmp_path) -> None:
    """`modelproxy gui --url URL` on a server with no admin: the setup dialog (the code typed,
    it is not on this machine), with the offer; with an admin, or no answer, the login."""
    from gui.main import remote_setup
    from tests.live import free_port

    data_dir = tmp_path / "data"
    with LiveServer(data_dir) as live:
        dialog = remote_setup(Tasks(), live.url)
        assert isinstance(dialog, SetupDialog)
        qtbot.addWidget(dialog)
        assert dialog.code.text() == ""
        assert dialog.access.only.isChecked()
        dialog.code.setText((data_dir / "setup-code").read_text().strip())
        dialog.password.setText("first-admin-pw")
        dialog.repeat.setText("first-admin-pw")
        dialog.submit()
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=10_000)
        assert dialog.api.user["username"] == "admin"
        assert remote_setup(Tasks(), live.url) is None  # set up: log in instead
    assert remote_setup(Tasks(), f"http://127.0.0.1:{free_port()}") is None
