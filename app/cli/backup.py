"""`modelproxy backup PATH` and `modelproxy restore PATH`: the appliance in one file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click

from app import backups
from app.cli.common import Appliance, storage_options
from app.settings import load_settings


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@storage_options
def backup(app: Appliance, path: Path) -> None:
    """Back the appliance up to PATH while the server may be running: one file, readable
    by you only, with the SQLite database and the secret key that opens its provider keys."""
    made = backups.make(app.db, app.settings, path)
    click.echo(f"backed up to {made} ({made.stat().st_size} bytes, mode 0600)")
    if app.settings.secret_key:
        click.echo("The secret key is MODELPROXY_SECRET_KEY, so it is not in the backup: keep "
                   "it with the backup, which cannot be restored without it.", err=True)


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Replace the appliance already in the data directory (backed up first).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory.")
@click.option("--database-url", help="sqlite:///PATH (PostgreSQL: use pg_restore).")
def restore(path: Path, force: bool, **flags: Any) -> None:
    """Restore a backup made by `modelproxy backup` (or a nightly one) into the data
    directory: the database and its secret key. The server must be stopped."""
    settings = load_settings(flags)
    backups.target_database(settings)  # PostgreSQL: refused with what to do instead
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".restore-") as work:
        restored = backups.restore(settings, backups.unpack(path, Path(work)), force)
    click.echo(f"restored {path} into {restored.database}")
    click.echo({"restored": f"the secret key was restored to {settings.key_file}",
                "kept": f"the backup opens with the key already at {settings.key_file}",
                "environment": "its provider keys open with MODELPROXY_SECRET_KEY",
                "not needed": "it holds no sealed provider key"}[restored.key])
    if restored.replaced:
        click.echo(f"what was there before is backed up in {restored.replaced}")
