"""What the binary carries, and where (packaging/layout.py, packaging/window_hook.py).

The binary itself is built and run by `make package` in CI; these check its rules cheaply.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    """A packaging/ module (not importable by name: `packaging` is also a PyPI package)."""
    spec = importlib.util.spec_from_file_location(f"packaging_{name}",
                                                  ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


layout = load("layout")

QT = "PySide6/Qt/lib/"
PLUGINS = "PySide6/Qt/plugins/"
BINARIES = {  # destination: loaded on its own
    "libpython3.11.so.1.0": True,
    "_ssl.cpython-311-x86_64-linux-gnu.so": True,
    "libcrypto.so.3": False,
    "libglib-2.0.so.0": False,
    "libxcb-cursor.so.0": True,
    "PySide6/QtGui.abi3.so": True,
    QT + "libQt6Gui.so.6": False,
    QT + "libQt6Core.so.6": False,
    QT + "libQt6Quick.so.6": False,
    QT + "libQt6Network.so.6": False,
    PLUGINS + "platforms/libqxcb.so": True,
    PLUGINS + "platforminputcontexts/libqtvirtualkeyboardplugin.so": True,
    PLUGINS + "tls/libqopensslbackend.so": True,
}
NEEDED = {
    "_ssl.cpython-311-x86_64-linux-gnu.so": ["libcrypto.so.3", "libc.so.6"],
    "PySide6/QtGui.abi3.so": ["libQt6Gui.so.6"],
    QT + "libQt6Gui.so.6": ["libQt6Core.so.6", "libglib-2.0.so.0"],
    PLUGINS + "platforms/libqxcb.so": ["libQt6Gui.so.6", "libxcb-cursor.so.0"],
    PLUGINS + "platforminputcontexts/libqtvirtualkeyboardplugin.so": ["libQt6Quick.so.6"],
    PLUGINS + "tls/libqopensslbackend.so": ["libQt6Network.so.6", "libcrypto.so.3"],
}
DATAS = ["app/data/prices.json", "PySide6/Qt/translations/qtbase_de.qm",
         "certifi/cacert.pem"]


def test_qt_goes_into_the_window_archive_and_the_server_keeps_what_it_loads() -> None:
    plan = layout.plan(BINARIES, DATAS, NEEDED)

    assert plan.window == {"PySide6/QtGui.abi3.so", QT + "libQt6Gui.so.6",
                           QT + "libQt6Core.so.6", PLUGINS + "platforms/libqxcb.so",
                           "libglib-2.0.so.0"}  # glib: only Qt links to it
    # libcrypto: _ssl needs it too; libxcb-cursor: the display check loads it by name.
    assert plan.main == {"libpython3.11.so.1.0", "_ssl.cpython-311-x86_64-linux-gnu.so",
                         "libcrypto.so.3", "libxcb-cursor.so.0", "app/data/prices.json",
                         "certifi/cacert.pem"}


def test_unused_qt_parts_are_left_out_with_the_libraries_only_they_need() -> None:
    plan = layout.plan(BINARIES, DATAS, NEEDED)

    assert plan.dropped == {PLUGINS + "platforminputcontexts/libqtvirtualkeyboardplugin.so",
                            PLUGINS + "tls/libqopensslbackend.so", QT + "libQt6Quick.so.6",
                            QT + "libQt6Network.so.6", "PySide6/Qt/translations/qtbase_de.qm"}
    everything = set(BINARIES) | set(DATAS)
    assert plan.main | plan.window | plan.dropped == everything
    assert not plan.main & plan.window


def test_no_qt_module_the_window_imports_is_excluded() -> None:
    imported = set()
    for path in (ROOT / "gui").rglob("*.py"):
        imported |= set(re.findall(r"\bPySide6\.(Qt\w+)", path.read_text()))

    assert {"QtCore", "QtGui", "QtWidgets", "QtCharts"} <= imported
    assert not {f"PySide6.{name}" for name in imported} & set(layout.UNUSED_QT_MODULES)


def test_the_window_archive_is_unpacked_by_the_first_import_of_the_window(tmp_path,
                                                                         monkeypatch) -> None:
    hook = load("window_hook")
    with zipfile.ZipFile(tmp_path / "window.zip", "w") as archive:
        archive.writestr("PySide6/Qt/lib/libQt6Core.so.6", b"\x7fELF")
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.delenv("QT_PLUGIN_PATH", raising=False)
    hook.install(str(tmp_path))
    finder = sys.meta_path[0]

    assert finder.find_spec("app.cli") is None
    assert not (tmp_path / "PySide6").exists()  # serve's imports leave it packed

    assert finder.find_spec("gui.main") is None  # it unpacks, then lets the others find
    assert (tmp_path / "PySide6/Qt/lib/libQt6Core.so.6").read_bytes() == b"\x7fELF"
    assert not (tmp_path / "window.zip").exists()
    assert finder not in sys.meta_path
    assert os.environ["QT_PLUGIN_PATH"] == str(tmp_path / "PySide6/Qt/plugins")


def test_without_a_window_archive_nothing_is_installed(tmp_path, monkeypatch) -> None:
    hook = load("window_hook")
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    before = list(sys.meta_path)

    hook.install(str(tmp_path))

    assert sys.meta_path == before
