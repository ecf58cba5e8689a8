"""Whether `modelproxy serve` will supervise several workers, decided before anything is
imported: the one process and each worker monkey-patch with gevent first thing
(server/runner.py), the supervisor never does (server/supervisor.py). Standard library
only, and only the sources Settings reads `workers` from: the flag, the environment, .env.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

_ENV_LINE = re.compile(r"""^\s*(?:export\s+)?MODELPROXY_WORKERS\s*=\s*['"]?([^'"\s#]*)""")


def supervises(args: Sequence[str], environ: Mapping[str, str] | None = None,
               env_file: str | Path = ".env") -> bool:
    """True when `serve ARGS` asks for more than one worker and this process is not itself
    a worker. A value this cannot read counts as one worker: the process is then patched,
    and Settings reports the bad value."""
    environ = os.environ if environ is None else environ
    if "MODELPROXY_LISTEN_FD" in environ:
        return False
    raw = _flag(args)
    if raw is None:
        raw = environ.get("MODELPROXY_WORKERS") or _from_env_file(env_file)
    return _count(raw) > 1


def _flag(args: Sequence[str]) -> str | None:
    value = None
    for i, arg in enumerate(args):
        if arg == "--workers" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--workers="):
            value = arg.split("=", 1)[1]
    return value


def _from_env_file(env_file: str | Path) -> str | None:
    path = Path(env_file)
    if not path.is_file():
        return None
    found = None
    for line in path.read_text(errors="replace").splitlines():
        if match := _ENV_LINE.match(line):
            found = match.group(1)
    return found


def _count(raw: str | None) -> int:
    if raw is None:
        return 1
    if raw.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        return int(raw)
    except ValueError:
        return 1
