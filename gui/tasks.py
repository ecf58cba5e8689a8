"""Running admin-API calls off the GUI thread and getting the answer back on it.

    tasks.run(lambda: api.items("tokens"), on_done=model.set_rows, on_error=banner.show)

The call runs in QThreadPool; `on_done`/`on_error` run on the GUI thread (queued
signals). `busy` tells the window how many calls are in flight, for a progress hint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from gui.api import APIError

log = logging.getLogger(__name__)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Call(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except APIError as exc:
            self.signals.failed.emit(exc)
            return
        except Exception as exc:  # a bug: shown in the banner and logged, never lost
            log.exception("a background call failed")
            self.signals.failed.emit(APIError(0, f"unexpected error: {exc!r}"))
            return
        self.signals.done.emit(result)


class Tasks(QObject):
    """Starts calls in a thread pool; emits `busy_changed(count)`."""

    busy_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self._busy = 0
        self._running: set[_Call] = set()  # keep them (and their signals) alive

    @property
    def busy(self) -> int:
        return self._busy

    def run(self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[APIError], None] | None = None) -> None:
        call = _Call(fn)
        call.setAutoDelete(False)
        self._running.add(call)

        def finished() -> None:
            self._running.discard(call)
            self._set_busy(self._busy - 1)

        if on_done:
            call.signals.done.connect(on_done)
        if on_error:
            call.signals.failed.connect(on_error)
        call.signals.done.connect(finished)
        call.signals.failed.connect(finished)
        self._set_busy(self._busy + 1)
        self.pool.start(call)

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until every call is done (for shutting down and for tests)."""
        return self.pool.waitForDone(msecs)

    def _set_busy(self, count: int) -> None:
        self._busy = count
        self.busy_changed.emit(count)
