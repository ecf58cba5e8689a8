"""What goes into the binary, and where (modelproxy.spec; tests/unit/test_packaging_layout.py).

The one-file binary extracts its archive into a temporary directory at every start, and
more than half of what PyInstaller collects is Qt, which `serve` never loads. So the
window's part — PySide6, shiboken6 and the system libraries only they link to — goes into
one inner archive, `window.zip`, that `window_hook.py` unpacks into that same directory
when the window starts; and the parts of Qt the window does not use are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import PurePosixPath

WINDOW_ARCHIVE = "window.zip"
WINDOW_PACKAGES = ("PySide6/", "shiboken6/")
QT_LIBRARIES = "PySide6/Qt/lib/"

# PySide6 bindings PyInstaller's hooks add because a Qt library we use links to theirs
# (QtCharts → OpenGL; Gui → DBus); the window imports QtCore, QtGui, QtWidgets, QtCharts.
UNUSED_QT_MODULES = ("PySide6.QtNetwork", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets",
                     "PySide6.QtDBus", "PySide6.QtQml", "PySide6.QtQuick",
                     "PySide6.QtQuickWidgets", "PySide6.QtSvg", "PySide6.QtSvgWidgets")

# Qt files collected for any PySide6 application that this window has no use for: the
# translations (the window is in English), embedded-device platforms (framebuffer, EGL
# without a window system, VNC) and their input plug-ins, the on-screen keyboard (which
# pulls in Qt Quick and QML), network plug-ins (the window talks HTTP with `requests`)
# and image formats it never reads. Kept: xcb, wayland and offscreen platforms, themes,
# input methods (compose, ibus), GL integrations, svg/ico/gif/jpeg.
UNUSED_QT_FILES = (
    "PySide6/Qt/translations/*",
    "PySide6/Qt/qml/*",
    "PySide6/Qt/plugins/platforms/libqeglfs.so",
    "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/platforms/libqminimal.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay.so",
    "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/egldeviceintegrations/*",
    "PySide6/Qt/plugins/generic/*",
    "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/tls/*",
    "PySide6/Qt/plugins/imageformats/libqicns.so",
    "PySide6/Qt/plugins/imageformats/libqtga.so",
    "PySide6/Qt/plugins/imageformats/libqtiff.so",
    "PySide6/Qt/plugins/imageformats/libqwbmp.so",
    "PySide6/Qt/plugins/imageformats/libqwebp.so",
)


@dataclass
class Layout:
    """Destination names (paths inside the bundle) by where they go."""

    main: set[str] = field(default_factory=set)
    window: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)


def unused(dest: str) -> bool:
    return any(fnmatch(dest, pattern) for pattern in UNUSED_QT_FILES)


def in_window_package(dest: str) -> bool:
    return dest.startswith(WINDOW_PACKAGES)


def reachable(roots: Iterable[str], needed: Mapping[str, Iterable[str]],
              by_soname: Mapping[str, str]) -> set[str]:
    """The entries `roots` load, directly or through one another (DT_NEEDED by soname;
    sonames not in the bundle are the system's)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        dest = todo.pop()
        if dest in seen:
            continue
        seen.add(dest)
        todo.extend(by_soname[name] for name in needed.get(dest, ()) if name in by_soname)
    return seen


def plan(binaries: Mapping[str, bool], datas: Iterable[str],
         needed: Mapping[str, Iterable[str]]) -> Layout:
    """Where each entry goes. `binaries` maps a binary's destination to whether it is
    loaded on its own (a Python extension module, a Qt plug-in, libpython, one we add)
    rather than only as another's dependency; `needed` gives each binary's DT_NEEDED."""
    layout = Layout()
    kept = {dest for dest in binaries if not unused(dest)}
    layout.dropped = set(binaries) - kept
    by_soname = {PurePosixPath(dest).name: dest for dest in kept}
    roots = {dest for dest in kept if binaries[dest]}
    loaded = reachable(roots, needed, by_soname)
    # A Qt library nothing kept links to came for a plug-in or binding left out.
    layout.dropped |= {dest for dest in kept if dest.startswith(QT_LIBRARIES)
                       and dest not in loaded}
    kept -= layout.dropped
    window_roots = {dest for dest in roots & kept if in_window_package(dest)}
    main_loaded = reachable(roots - window_roots, needed, by_soname)
    window_loaded = reachable(window_roots, needed, by_soname)
    for dest in kept:
        if in_window_package(dest) or dest in window_loaded - main_loaded:
            layout.window.add(dest)
        else:
            layout.main.add(dest)
    for dest in datas:
        if unused(dest):
            layout.dropped.add(dest)
        elif in_window_package(dest):
            layout.window.add(dest)
        else:
            layout.main.add(dest)
    return layout
