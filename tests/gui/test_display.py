"""The window says why it cannot open on an X display instead of Qt aborting the process
(rc 134, "xcb-cursor0 or libxcb-cursor0 is needed")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gui.display import XCB_LIBRARIES, display_problem, missing_libraries, qt_platform
from gui.server_process import answers
from tests.live import free_port

ABSENT = {"libmodelproxy-absent.so.9": "libmodelproxy-absent9", "libc.so.6": "libc6"}
ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_library_is_named_with_its_debian_package() -> None:
    assert missing_libraries(ABSENT) == ["libmodelproxy-absent.so.9"]
    problem = display_problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}, ABSENT)
    assert "libmodelproxy-absent.so.9" in problem
    assert "sudo apt-get install libmodelproxy-absent9\n" in problem
    assert "libc6" not in problem  # only what is missing is asked for


def test_the_xcb_plugin_libraries_include_the_ones_a_stock_desktop_lacks() -> None:
    for soname, package in (("libxcb-cursor.so.0", "libxcb-cursor0"),
                            ("libxcb-icccm.so.4", "libxcb-icccm4"),
                            ("libxcb-keysyms.so.1", "libxcb-keysyms1")):
        assert XCB_LIBRARIES[soname] == package


def test_other_platforms_are_not_checked() -> None:
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, ABSENT) is None
    assert display_problem({"QT_QPA_PLATFORM": "wayland;xcb"}, ABSENT) is None


def test_which_platform_qt_tries_first() -> None:
    assert qt_platform({}) == "xcb"
    assert qt_platform({"DISPLAY": ":0"}) == "xcb"
    assert qt_platform({"QT_QPA_PLATFORM": "xcb:display=:1"}) == "xcb"
    assert qt_platform({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}) == (
        "wayland")
    assert qt_platform({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}) == "xcb"


def test_no_x_display_is_said_in_words() -> None:
    every_library_present = {"libc.so.6": "libc6"}
    problem = display_problem({"QT_QPA_PLATFORM": "xcb"}, every_library_present)
    assert "no X display answers at DISPLAY=(not set)" in problem
    problem = display_problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":4242"},
                              every_library_present)
    assert "no X display answers at DISPLAY=:4242" in problem


def _desktop(tmp_path: Path, port: int, libraries: dict[str, str] | None,
             display: str) -> subprocess.CompletedProcess[str]:
    """`modelproxy desktop` in a child process, on platform xcb, with the table of the
    plug-in's libraries replaced by `libraries` (one of them absent)."""
    swap = f"gui.display.XCB_LIBRARIES = {libraries!r}\n" if libraries else ""
    script = ("import gui.display\n" + swap + "from app.main import main\n"
              f"main(['desktop', '--port', '{port}', '--data-dir', {str(tmp_path)!r}])\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": display,
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=30, cwd=ROOT)


def test_desktop_exits_with_the_packages_to_install_instead_of_aborting(tmp_path) -> None:
    port = free_port()
    done = _desktop(tmp_path, port, ABSENT, ":0")
    assert done.returncode == 1, done.stderr  # not 134 (SIGABRT from Qt)
    assert done.stderr.startswith("Error: the window cannot open on this X display")
    assert "sudo apt-get install libmodelproxy-absent9" in done.stderr
    assert "Traceback" not in done.stderr
    assert not answers(f"http://127.0.0.1:{port}")  # no server was started for nothing


def test_desktop_without_an_x_display_says_so(tmp_path) -> None:
    done = _desktop(tmp_path, free_port(), {"libc.so.6": "libc6"}, ":4242")
    assert done.returncode == 1, done.stderr
    assert "no X display answers at DISPLAY=:4242" in done.stderr
