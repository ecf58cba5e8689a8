"""Admins: the people who manage the appliance. Role `admin` does everything, `viewer` reads."""

from __future__ import annotations

from typing import Any

import peewee as pw

from app.crypto import (
    RunBlocking,
    check_secret,
    dummy_hash,
    hash_rounds,
    hash_secret,
    run_inline,
)
from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import Admin, database_proxy
from app.services import audit
from app.services import validation as v
from app.services.audit import Actor

ROLES = ("admin", "viewer")
MIN_PASSWORD = 8
MAX_PASSWORD = 72  # bcrypt reads no further


def password_hash(password: Any, rounds: int = 12,
                  run_blocking: RunBlocking = run_inline) -> str:
    """The bcrypt hash to store for a new password (checked first), made by `run_blocking`."""
    _check_password(password)
    return run_blocking(hash_secret, password, rounds)


def create(actor: Actor, username: Any, password: Any, role: Any = "admin",
           rounds: int = 12, run_blocking: RunBlocking = run_inline,
           hashed: str | None = None) -> Admin:
    """A new admin; bcrypt runs through `run_blocking`, before the transaction (or not at
    all when the caller passes the password's `hashed` form)."""
    clean_name = v.name(username, "username")
    clean_role = v.one_of(role, ROLES, "role")
    _check_password(password)
    if Admin.select().where(pw.fn.LOWER(Admin.username) == clean_name.lower()).exists():
        raise ConflictError(f"an admin named {clean_name!r} already exists", "username")
    hashed = hashed or password_hash(password, rounds, run_blocking)
    with database_proxy.atomic():
        admin = Admin.create(username=clean_name, role=clean_role, password_hash=hashed)
        audit.record(actor, "admin.create", "admin", admin.id,
                     {"username": clean_name, "role": clean_role})
    return admin


def set_role(actor: Actor, admin_id: int, role: Any) -> Admin:
    admin = get(admin_id)
    clean_role = v.one_of(role, ROLES, "role")
    if admin.role == "admin" and clean_role != "admin":
        _keep_one_admin(admin)
    with database_proxy.atomic():
        admin.role = clean_role
        admin.save()
        audit.record(actor, "admin.update", "admin", admin.id, {"role": clean_role})
    return admin


def set_password(actor: Actor, admin_id: int, password: Any, rounds: int = 12,
                 run_blocking: RunBlocking = run_inline) -> Admin:
    admin = get(admin_id)
    hashed = password_hash(password, rounds, run_blocking)
    with database_proxy.atomic():
        admin.password_hash = hashed
        admin.save()
        audit.record(actor, "admin.update", "admin", admin.id, {"password": "(changed)"})
    return admin


def delete(actor: Actor, admin_id: int) -> None:
    admin = get(admin_id)
    if admin.role == "admin":
        _keep_one_admin(admin)
    with database_proxy.atomic():
        admin.delete_instance()
        audit.record(actor, "admin.delete", "admin", admin_id, {"username": admin.username})


def authenticate(username: str, password: str,
                 run_blocking: RunBlocking = run_inline) -> Admin | None:
    """The admin with these credentials, or None (the same answer for either being wrong),
    in the same time whether or not the admin exists: an unknown name is checked against a
    valid hash of the admins' cost. bcrypt runs through `run_blocking`."""
    admin = Admin.get_or_none(Admin.username == username) if _could_be_name(username) else None
    if admin is None:
        run_blocking(_check_against_nothing, password, _usual_rounds())
        return None
    return admin if run_blocking(check_secret, password, admin.password_hash) else None


def get(admin_id: int) -> Admin:
    admin = Admin.get_or_none(Admin.id == admin_id) if v.row_id(admin_id) else None
    if admin is None:
        raise NotFoundError(f"no admin with id {admin_id}")
    return admin


def list_all() -> list[Admin]:
    return list(Admin.select().order_by(Admin.username))


def exists() -> bool:
    return Admin.select().exists()


def to_dict(admin: Admin) -> dict[str, Any]:
    return {"id": admin.id, "username": admin.username, "role": admin.role,
            "created_at": v.iso(admin.created_at)}


def _check_password(password: Any) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters", "password")
    if len(password.encode()) > MAX_PASSWORD:
        raise ValidationError(f"password must be at most {MAX_PASSWORD} bytes", "password")


def _keep_one_admin(admin: Admin) -> None:
    others = Admin.select().where((Admin.role == "admin") & (Admin.id != admin.id)).exists()
    if not others:
        raise ConflictError("cannot remove or demote the last admin", "role")


def _could_be_name(username: str) -> bool:
    """Whether `username` passes the check every admin's name passed (so a 4 MB or
    unencodable name never reaches the database)."""
    try:
        v.name(username, "username")
    except ValidationError:
        return False
    return True


def _check_against_nothing(password: str, rounds: int) -> None:
    """Spend what checking a real password costs (making the dummy hash, once per cost,
    happens here too: off the event loop)."""
    check_secret(password, dummy_hash(rounds))


def _usual_rounds(default: int = 12) -> int:
    """The bcrypt cost the admins' passwords are stored with (that of the first admin)."""
    stored = Admin.select(Admin.password_hash).order_by(Admin.id).limit(1).scalar()
    return (hash_rounds(stored) if stored else None) or default
