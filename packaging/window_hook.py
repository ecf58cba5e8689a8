"""PyInstaller run-time hook: the window's part of the binary is unpacked when the window starts.

The bootloader extracts the binary's archive into a private temporary directory
(sys._MEIPASS, mode 0700, removed at exit) at every start; Qt is kept out of that in
`window.zip` (layout.py). The first import of `gui`, `PySide6` or `shiboken6` unpacks it
into the same directory, so from then on the files are where PyInstaller would have put
them, and `serve` never pays for them. Nothing is shared between processes or kept
across runs: no cache to trust, no race between two starts.

It also does what PyInstaller's own PySide6 hook (left out: it imports QtCore at every
start) does on Linux: point Qt at the bundled plug-ins.
"""

from __future__ import annotations

import os
import sys
import threading
import zipfile

TRIGGERS = frozenset({"gui", "PySide6", "shiboken6"})


class WindowArchive:
    """A meta path finder that finds nothing: it unpacks, then lets the others look."""

    def __init__(self, bundle: str) -> None:
        self.bundle = bundle
        self.archive = os.path.join(bundle, "window.zip")
        self.lock = threading.Lock()

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in TRIGGERS:
            self.unpack()

    def unpack(self) -> None:
        with self.lock:
            if self not in sys.meta_path:
                return
            with zipfile.ZipFile(self.archive) as archive:
                archive.extractall(self.bundle)
            os.remove(self.archive)  # its contents are beside it now
            os.environ["QT_PLUGIN_PATH"] = os.path.join(self.bundle, "PySide6", "Qt",
                                                        "plugins")
            sys.meta_path.remove(self)


def install(bundle: str) -> None:
    if os.path.exists(os.path.join(bundle, "window.zip")):
        sys.meta_path.insert(0, WindowArchive(bundle))


if hasattr(sys, "_MEIPASS"):  # in the binary (tests import this module to check it)
    install(sys._MEIPASS)
