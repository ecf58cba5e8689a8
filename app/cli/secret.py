"""`modelproxy secret ...`: the key that encrypts provider keys."""

from __future__ import annotations

import click

from app.cli.common import Appliance, read_stdin_secret, storage_options
from app.services import secret_key


@click.group("secret")
def group() -> None:
    """Manage the secret key that encrypts provider keys."""


@group.command("rotate")
@click.option("--new-key-stdin", is_flag=True,
              help="Read the new key from standard input (needed with MODELPROXY_SECRET_KEY).")
@storage_options
def rotate(app: Appliance, new_key_stdin: bool) -> None:
    """Re-encrypt every provider key under a new secret key."""
    new_key = read_stdin_secret("new key") if new_key_stdin else None
    count = secret_key.rotate(app.settings, app.actor, new_key)
    click.echo(f"re-encrypted {count} provider key(s) under the new secret key")
    if app.settings.secret_key:
        click.echo("Now set MODELPROXY_SECRET_KEY to the new key before the next start. "
                   "A server running now keeps the old key in its environment: it goes on "
                   "with the provider keys it has opened, but cannot save a provider key "
                   "until it is restarted with the new key.", err=True)
    else:
        click.echo(f"A running server picks the new key up from {app.settings.key_file} "
                   "within 5 seconds.", err=True)
