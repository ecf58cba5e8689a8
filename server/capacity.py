"""How many client connections a server can hold: its open-file limit, raised at start,
and the connection cap that keeps it below that limit.

At the common service default of 1,024 open files, ~1,014 connections that never finish
their request used every descriptor, and the server answered nobody (accept failed with
EMFILE). The soft limit is raised to the hard one; connections past the cap are refused
with a 503 instead, and the descriptors left over serve the database, the upstream
connections (up to one per client request in flight) and the files the server writes.
"""

from __future__ import annotations

from dataclasses import dataclass

try:
    import resource
except ImportError:  # Windows: no such limit to raise
    resource = None  # type: ignore[assignment]

RESERVED_FILES = 100  # database pool, log and key files, the listening socket, the pipes
AUTO_CAP_MAX = 10_000  # the cap chosen when none is configured never goes higher
_RAISE_AT_MOST = 1 << 20  # where the hard limit is "unlimited"


@dataclass(frozen=True)
class FileLimit:
    before: int
    after: int  # the soft limit now in force

    @property
    def raised(self) -> bool:
        return self.after > self.before


def raise_file_limit() -> FileLimit | None:
    """Raise the soft open-file limit to the hard one; None where there is no limit."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    target = _RAISE_AT_MOST if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        for value in (target, 10_240):  # macOS refuses more than its kern.maxfilesperproc
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (value, hard))
            except (ValueError, OSError):
                continue
            return FileLimit(soft, value)
    return FileLimit(soft, soft)


def connection_cap(configured: int | None, file_limit: int | None) -> tuple[int, str | None]:
    """The connection cap to use, and a note when `configured` had to be lowered.

    Unconfigured: half of the files left after RESERVED_FILES (a proxied request holds a
    client and an upstream connection), at most AUTO_CAP_MAX. Configured: as asked, but
    never more than the files left (idle keep-alive clients need no upstream file)."""
    if file_limit is None:
        return configured or AUTO_CAP_MAX, None
    spare = max(1, file_limit - RESERVED_FILES)
    if configured is None:
        return max(1, min(AUTO_CAP_MAX, spare // 2)), None
    if configured > spare:
        return spare, (f"lowered from {configured} to {spare}: the open-file limit is "
                       f"{file_limit}")
    return configured, None
