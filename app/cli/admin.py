"""`modelproxy admin ...`: the people who manage the appliance."""

from __future__ import annotations

import click

from app.cli.common import Appliance, json_option, print_rows, read_stdin_secret, storage_options
from app.services import admins


@click.group("admin")
def group() -> None:
    """Manage admins (the people who use the admin API and the desktop window)."""


@group.command("create")
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", type=click.Choice(admins.ROLES), default="admin", show_default=True)
@storage_options
def create(app: Appliance, username: str, password_stdin: bool, role: str) -> None:
    """Create an admin; the password comes from standard input."""
    if not password_stdin:
        raise click.UsageError("give the password on standard input with --password-stdin")
    password = read_stdin_secret("password")
    admin = admins.create(app.actor, username, password, role, rounds=app.settings.bcrypt_rounds)
    click.echo(f"created {admin.role} {admin.username!r} (id {admin.id})")


@group.command("list")
@json_option
@storage_options
def list_(app: Appliance, as_json: bool) -> None:
    """List admins."""
    rows = [admins.to_dict(a) for a in admins.list_all()]
    print_rows(rows, ["id", "username", "role", "created_at"], as_json)
