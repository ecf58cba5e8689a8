"""Build the one-file `modelproxy` binary with PyInstaller: `make package` → dist/modelproxy.

The binary is the same `modelproxy` command: serve, the management commands, and the
desktop window (which starts its own server by running this binary again).

It carries the X11 libraries Qt's xcb plug-in needs that a stock desktop lacks (Debian 12
has no libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1 unless something pulled them in),
taken from the build machine: without them the window aborted on such a desktop.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "modelproxy.spec"  # what goes in, and where: layout.py

# Of gui.display.XCB_LIBRARIES, those not part of every X install (libxcb, libX11 and
# the core xcb extensions come with any X client; PyInstaller leaves libxcb.so.1 and
# libX11 to the system on purpose).
BUNDLED_X11 = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
               "libxcb-image.so.0", "libxcb-render-util.so.0", "libxcb-util.so.1",
               "libxcb-xkb.so.1", "libxkbcommon-x11.so.0")


def system_libraries(ldconfig_output: str) -> dict[str, Path]:
    """soname → path of the native (first listed) copy, from `ldconfig -p`."""
    found: dict[str, Path] = {}
    for line in ldconfig_output.splitlines()[1:]:
        name, arrow, path = line.strip().partition(" => ")
        if arrow:
            found.setdefault(name.split(" (")[0], Path(path))
    return found


def x11_binaries() -> list[tuple[str, str]]:
    """(path, ".") for BUNDLED_X11 as found here (Analysis binaries); warns about the others."""
    if not sys.platform.startswith("linux"):
        return []
    listed = system_libraries(subprocess.run(["ldconfig", "-p"], capture_output=True,
                                             text=True, check=True).stdout)
    args, absent = [], []
    for soname in BUNDLED_X11:
        if soname in listed:
            args.append((str(listed[soname]), "."))
        else:
            absent.append(soname)
    if absent:
        print(f"warning: not on this build machine, so not in the binary: {', '.join(absent)}"
              " (`bash .ci/qt-deps x11` installs them); the window will need them installed "
              "where it runs", file=sys.stderr)
    return args


def main() -> None:
    import PyInstaller.__main__

    started = time.monotonic()
    # Its warnings, not its hundred lines of progress (`--log-level INFO` brings them back).
    PyInstaller.__main__.run(["--noconfirm", "--log-level", "WARN",
                              "--distpath", str(ROOT / "dist"),
                              "--workpath", str(ROOT / "build" / "pyinstaller"),
                              *sys.argv[1:], str(SPEC)])
    binary = ROOT / "dist" / "modelproxy"
    print(f"build: {binary} in {time.monotonic() - started:.0f} s, "
          f"{binary.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
