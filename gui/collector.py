"""Python's cyclic garbage collector, run on the GUI thread only.

Left alone, the collector runs in whichever thread happens to allocate — often one of
the worker threads doing an API call — and may then destroy Qt widgets there, which
crashes the process. So automatic collection is turned off and a timer on the GUI thread
collects instead, generation by generation, as the thresholds say.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class GuiCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self, interval=INTERVAL_MS, timeout=self.check)
        self.timer.start()

    def check(self) -> None:
        counts = gc.get_count()
        if counts[0] > self.threshold[0]:
            generation = 0
            if counts[1] > self.threshold[1]:
                generation = 2 if counts[2] > self.threshold[2] else 1
            gc.collect(generation)


_installed: list[GuiCollector] = []


def install(app: QObject) -> GuiCollector:
    """Move garbage collection to the GUI thread of `app` (once per process)."""
    if not _installed:
        _installed.append(GuiCollector(app))
    return _installed[0]


def uninstall() -> None:
    """Give collection back to Python (when the GUI is done, e.g. after GUI tests)."""
    while _installed:
        _installed.pop().timer.stop()
    gc.enable()
