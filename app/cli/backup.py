"""`modelproxy backup PATH`: an online copy of the SQLite database."""

from __future__ import annotations

from pathlib import Path

import click

from app import jobs
from app.cli.common import Appliance, storage_options


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@storage_options
def backup(app: Appliance, path: Path) -> None:
    """Copy the SQLite database to PATH while the server may be running."""
    made = jobs.backup_sqlite(app.db, path)
    click.echo(f"backed up to {made} ({made.stat().st_size} bytes)")
