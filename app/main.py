"""The `modelproxy` entry point.

`serve` must monkey-patch with gevent before anything else is imported, so this module
imports nothing heavy at the top and hands each command to its layer lazily. The
supervisor of several workers is the exception: it is never patched (app/serve_mode.py).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args and _display_available():
        args = ["desktop"]  # double-clicked: open the window
    if args[:1] == ["serve"]:
        from app.serve_mode import supervises

        if not supervises(args[1:]):
            import server.runner  # noqa: F401  (patches the standard library first)
    from app.cli import cli

    cli.main(args=args, prog_name="modelproxy")


def _display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


if __name__ == "__main__":
    main()
