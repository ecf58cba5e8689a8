"""Admin API access: the address allow-list, sessions, roles, login, logout, first-run setup.

Every route needs a live admin session except those in PUBLIC. Reads are open to both
roles; writes (any method but GET) need the `admin` role, except logging out.
"""

from __future__ import annotations

import datetime as dt
import time

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from app.errors import ForbiddenError, ValidationError
from app.services import admin_access, admins, sessions, setup
from app.services.audit import Actor
from server.admin_api.common import client_ip, json_body, state
from server.errors import error_response

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
PUBLIC = {"admin_api.login", "admin_api.setup_status", "admin_api.setup", "admin_api.openapi"}


@bp.before_request
def authenticate() -> ResponseReturnValue | None:
    address = client_ip()
    if not state().gateway.admin_access.admits(address):  # the address: what to add
        return error_response(403, f"the admin API is not open to this address ({address})",
                              "ip_not_allowed")
    if request.endpoint in PUBLIC:
        return None
    token = sessions.bearer(request.headers.get("Authorization"))
    session = sessions.resolve(token) if token else None
    if session is None:
        return error_response(401, "log in first: POST /admin/api/login, then send "
                              "'Authorization: Bearer <session>'", "invalid_session")
    g.admin, g.session_token = session.admin, token
    if request.method != "GET" and request.endpoint != "admin_api.logout" \
            and g.admin.role != "admin":
        return error_response(403, "viewers can only read", "read_only")
    return None


def admin_role_only() -> None:
    if g.admin.role != "admin":
        raise ForbiddenError("only admins may see or change admins")


@bp.post("/login")
def login() -> ResponseReturnValue:
    body = json_body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValidationError("username and password are required", "username")
    address = client_ip()
    with state().login_guard.attempt(address, username) as attempt:
        if attempt.wait > 0:
            response = error_response(429, "too many failed logins; try again later",
                                      "login_locked")
            response.headers["Retry-After"] = str(int(attempt.wait) + 1)
            return response
        admin = admins.authenticate(username, password, state().run_bcrypt)
        if admin is None:
            hold_back = attempt.failed()
        else:
            attempt.succeeded()
    if admin is None:
        time.sleep(hold_back)  # a greenlet's sleep under serve
        return error_response(401, "wrong username or password", "invalid_credentials")
    ttl = dt.timedelta(hours=state().settings.session_hours)
    token, session = sessions.start(admin, address, ttl)
    return jsonify({"token": token, "expires_at": sessions.to_dict(session)["expires_at"],
                    "user": admins.to_dict(admin)})


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    sessions.end(g.session_token)
    return "", 204


@bp.get("/me")
def me() -> ResponseReturnValue:
    return jsonify(admins.to_dict(g.admin))


@bp.get("/setup")
def setup_status() -> ResponseReturnValue:
    """Whether the first admin still has to be created (the desktop window asks this); while
    it has, also the admin allow-list in force and the address the server sees the caller
    at, so that the setup can offer to open the admin API to that address only."""
    needed = not admins.exists()
    if not needed:
        return jsonify({"needed": False})
    allow, source = admin_access.in_force(state().settings)
    return jsonify({"needed": True, "address": client_ip(), "admin_allow": allow,
                    "admin_allow_source": source})


@bp.post("/setup", endpoint="setup")
def setup_first_admin() -> ResponseReturnValue:
    body = json_body()
    admin = setup.create_first_admin(state().settings, Actor("setup", client_ip()),
                                     body.get("username"), body.get("password"),
                                     body.get("code"), state().run_bcrypt,
                                     body.get("admin_allow"))
    state().catalog.apply_change()  # a stored admin allow-list applies at once
    return jsonify(admins.to_dict(admin)), 201
