"""First run: with no admin yet, a one-time setup code (printed at start and written alone
to `<data-dir>/setup-code`, mode 0600) lets whoever can read it create the first admin."""

from __future__ import annotations

import secrets
from pathlib import Path

from app.crypto import RunBlocking, run_inline, same, write_key_file
from app.errors import ConflictError, ForbiddenError
from app.models import Admin, database_proxy
from app.services import admin_access, admins, audit, options, stored_settings
from app.services.audit import Actor
from app.settings import Settings

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread


def code_file(settings: Settings) -> Path:
    return settings.data_dir / "setup-code"


def ensure_code(settings: Settings) -> str | None:
    """The setup code while no admin exists (made once, kept across restarts); else None."""
    path = code_file(settings)
    if admins.exists():
        path.unlink(missing_ok=True)
        return None
    if path.is_file():
        return path.read_text().strip()
    code = "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))
    write_key_file(path, code)
    return code


def create_first_admin(settings: Settings, actor: Actor, username: object, password: object,
                       code: object, run_blocking: RunBlocking = run_inline,
                       admin_allow: object = None) -> Admin:
    """Create the first admin if `code` is the setup code; the code is then spent. The cheap
    checks come first, so only the code's holder makes the server hash a password (through
    `run_blocking`, outside the transaction); they are made again inside it.

    `admin_allow` (a list of addresses and CIDRs; None: leave it) is stored with the admin,
    the admin allow-list from then on; one that leaves out the caller's own address is
    refused, as is any while MODELPROXY_ADMIN_ALLOW is set (that one wins)."""
    path = code_file(settings)
    _check_allowed(path, code)
    allow = (None if admin_allow is None
             else options.checked(settings, actor, admin_access.OPTION, admin_allow))
    hashed = admins.password_hash(password, settings.bcrypt_rounds, run_blocking)
    with database_proxy.atomic():
        _check_allowed(path, code)
        admin = admins.create(actor, username, password, "admin", hashed=hashed)
        if allow is not None:
            stored_settings.set_value(admin_access.OPTION, allow)
            audit.record(actor, "settings.update", "settings", None,
                         {admin_access.OPTION: allow})
    path.unlink(missing_ok=True)
    return admin


def _check_allowed(path: Path, code: object) -> None:
    if admins.exists():
        raise ConflictError("setup is already done: an admin exists; log in instead")
    expected = path.read_text().strip() if path.is_file() else None
    if not isinstance(code, str) or expected is None or not same(code.strip().upper(),
                                                                  expected):
        raise ForbiddenError(f"the setup code is wrong (see the server's output or {path})")
