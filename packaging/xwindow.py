"""The window on a real X server, driven as a person would: Xvfb, xdotool, screenshots.

Used by smoke.py (the packaged binary) and tests/gui/test_x11.py (the venv's command):
offscreen Qt cannot see what a desktop's X server needs (item: the window aborted with
rc 134 on a stock Debian 12 display). Needs Xvfb, xdotool and xwininfo (`bash .ci/qt-deps
x11`); screenshots need ImageMagick's `import`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

TOOLS = ("Xvfb", "xdotool", "xwininfo")

# Of the libraries Qt's xcb plug-in needs, those a base X install may lack (the ones
# packaging/build.py puts in the binary).
EXTRA_X11_LIBRARIES = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                       "libxcb-image.so.0", "libxcb-render-util.so.0", "libxcb-util.so.1",
                       "libxcb-xkb.so.1", "libxkbcommon-x11.so.0")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class XServer:
    """Xvfb on a display number it picks itself; `env` has DISPLAY set."""

    def __init__(self, size: str = "1400x900x24") -> None:
        self.size = size
        self.process: subprocess.Popen[bytes] | None = None
        self.display = ""

    def __enter__(self) -> XServer:
        read, write = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", self.size, "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()  # written once the server accepts clients
        if not number:
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display}

    def x(self, *args: str) -> str:
        """Run an X client (xdotool, xwininfo…) on this display; its output."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True,
                              timeout=30).stdout

    def window_names(self) -> list[str]:
        """The names of the top-level windows, as `xwininfo -root -tree` lists them."""
        names = []
        for line in self.x("xwininfo", "-root", "-tree").splitlines():
            start = line.find('"')
            end = line.find('"', start + 1)
            if start >= 0 and end > start:
                names.append(line[start + 1:end])
        return names

    def wait_window(self, name: str, timeout: float = 30.0) -> str:
        """The id of a window whose name starts with `name`, once one is mapped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.x("xdotool", "search", "--onlyvisible", "--name", f"^{name}").split()
            if ids:
                return ids[0]
            time.sleep(0.2)
        raise AssertionError(f"no window named {name!r} within {timeout:.0f} s; "
                             f"windows: {self.window_names()}")

    def focus(self, window: str) -> None:
        self.x("xdotool", "windowfocus", "--sync", window)

    def type(self, window: str, text: str) -> None:
        self.focus(window)
        self.x("xdotool", "type", "--delay", "15", text)

    def keys(self, window: str, *keys: str) -> None:
        self.focus(window)
        self.x("xdotool", "key", "--delay", "60", *keys)

    def screenshot(self, path: Path) -> Path | None:
        """The whole screen as a PNG (None without ImageMagick's `import`)."""
        if shutil.which("import") is None:
            return None
        self.x("import", "-window", "root", str(path))
        return path if path.is_file() else None


def without_libraries(command: Sequence[str], sonames: Sequence[str], scratch: Path
                      ) -> list[str]:
    """`command` run where `sonames` cannot be loaded, as on a desktop that lacks them: in
    a private mount namespace each system copy is covered by an empty file. Needs root and
    util-linux's unshare; otherwise `command` unchanged."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return list(command)
    listed = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    paths = sorted({os.path.realpath(line.split(" => ")[1].strip())
                    for line in listed.splitlines()
                    if " => " in line and line.strip().split(" ")[0] in sonames})
    if not paths:
        return list(command)
    empty = scratch / "absent.so"
    empty.write_bytes(b"")
    covers = "; ".join(f"mount --bind {empty} {path}" for path in paths)
    return ["unshare", "--mount", "sh", "-c", f'{covers} && exec "$@"', "sh", *command]
