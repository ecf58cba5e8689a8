"""Can the window open on this display? Checked before Qt is asked to.

Qt's xcb platform plugin (X11) needs libraries that a base X install may lack: without
them `QApplication` aborts the process (SIGABRT, rc 134) with "xcb-cursor0 or
libxcb-cursor0 is needed" and nothing a person can act on. The launcher asks first and
says which packages to install. The packaged binary carries the rarer of these
libraries itself (packaging/build.py), so there the check passes on a stock X desktop.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

# What Qt's xcb plugin (libqxcb.so and libQt6XcbQpa.so.6) links to, beyond Qt and libc,
# by soname, with the Debian/Ubuntu package that holds each.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


ELSEWHERE = ("Or run `modelproxy serve` here and manage it from another machine with "
             "`modelproxy gui --url http://THIS-HOST:8787`.")


def qt_platform(environ: Mapping[str, str] | None = None) -> str:
    """The platform plugin Qt will try first: QT_QPA_PLATFORM's first entry, else on
    Linux wayland in a Wayland session and xcb otherwise."""
    env = os.environ if environ is None else environ
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if not sys.platform.startswith("linux"):
        return "native"
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def missing_libraries(libraries: Mapping[str, str]) -> list[str]:
    """The sonames in `libraries` that the dynamic loader cannot load here (the same
    search Qt's plugin gets: LD_LIBRARY_PATH, which the packaged binary points at what it
    carries, then the system's)."""
    missing = []
    for soname in libraries:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def display_problem(environ: Mapping[str, str] | None = None,
                    libraries: Mapping[str, str] | None = None) -> str | None:
    """Why the window cannot open here, in words a person can act on; None if it can."""
    env = os.environ if environ is None else environ
    if qt_platform(env) != "xcb":
        return None
    libraries = XCB_LIBRARIES if libraries is None else libraries
    missing = missing_libraries(libraries)
    if missing:
        return _missing_message(missing, libraries)
    if not x_display_answers(env.get("DISPLAY")):
        return (f"the window cannot open: no X display answers at DISPLAY="
                f"{env.get('DISPLAY') or '(not set)'}.\n" + ELSEWHERE)
    return None


def x_display_answers(display: str | None) -> bool:
    """Whether an X server accepts a connection at `display` (what Qt would do next, and
    abort if it cannot)."""
    if not display:
        return False
    xcb = ctypes.CDLL("libxcb.so.1")
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)  # never NULL: an error object
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)


def _missing_message(missing: list[str], libraries: Mapping[str, str]) -> str:
    packages = sorted({libraries[name] for name in missing})
    return ("the window cannot open on this X display: Qt's X11 (xcb) support needs "
            f"{', '.join(missing)}, which this machine does not have.\n"
            f"Install them (Debian, Ubuntu): sudo apt-get install {' '.join(packages)}\n"
            + ELSEWHERE)


def ensure_display() -> bool:
    """Print why the window cannot open (and return False) before Qt would abort."""
    problem = display_problem()
    if problem is None:
        return True
    print(f"Error: {problem}", file=sys.stderr)
    return False
