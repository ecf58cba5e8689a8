"""The connection cap stays below the open-file limit (server/capacity.py)."""

from __future__ import annotations

import resource

from server.capacity import AUTO_CAP_MAX, RESERVED_FILES, connection_cap, raise_file_limit


def test_unconfigured_cap_leaves_a_file_per_upstream_connection() -> None:
    assert connection_cap(None, 1024) == ((1024 - RESERVED_FILES) // 2, None)
    assert connection_cap(None, 1 << 20) == (AUTO_CAP_MAX, None)
    assert connection_cap(None, 50)[0] == 1


def test_a_configured_cap_is_kept_unless_the_files_cannot_hold_it() -> None:
    assert connection_cap(800, 1024) == (800, None)
    cap, note = connection_cap(5000, 1024)
    assert cap == 1024 - RESERVED_FILES and "lowered from 5000" in note
    assert connection_cap(200, None) == (200, None)


def test_the_soft_file_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        limit = raise_file_limit()
        assert limit is not None and limit.before == min(256, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit.after
        assert limit.raised == (hard > 256)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
