"""Build the one-file `modelproxy` binary with PyInstaller: `make package` → dist/modelproxy.

The binary is the same `modelproxy` command: serve, the management commands, and the
desktop window (which starts its own server by running this binary again).
"""

from __future__ import annotations

import sys
from pathlib import Path

import PyInstaller.__main__

ROOT = Path(__file__).resolve().parents[1]

ARGS = [
    "--noconfirm",
    "--onefile",
    "--name", "modelproxy",
    "--paths", str(ROOT),
    "--distpath", str(ROOT / "dist"),
    "--workpath", str(ROOT / "build" / "pyinstaller"),
    "--specpath", str(ROOT / "build"),
    # Our packages are imported lazily by the entry point (serve, desktop), so name them.
    "--collect-submodules", "app",
    "--collect-submodules", "server",
    "--collect-submodules", "gui",
    # APScheduler finds its scheduler and triggers by name at run time.
    "--hidden-import", "apscheduler.schedulers.gevent",
    "--hidden-import", "apscheduler.triggers.cron",
    "--hidden-import", "apscheduler.triggers.interval",
    "--hidden-import", "psycopg2",
    "--exclude-module", "tkinter",
    str(ROOT / "packaging" / "entry.py"),
]


def main() -> None:
    PyInstaller.__main__.run([*ARGS, *sys.argv[1:]])


if __name__ == "__main__":
    main()
