"""Management commands. They work on the data directory directly; a running server picks
their changes up. User mistakes print one line to stderr and exit 1, never a traceback."""

from __future__ import annotations

import sys
from typing import Any

import click

from app import __version__
from app.cli import admin, backup, endpoint, logs, provider, secret, service, tls, token
from app.cli.common import Group
from app.settings import load_settings

__all__ = ["cli"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelproxy")
def cli() -> None:
    """ModelProxy: a self-hosted gateway in front of AI model providers."""


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8787).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory.")
@click.option("--database-url", help="sqlite:///PATH or postgresql://...")
@click.option("--workers", help="Worker processes: a number or auto (one per CPU); more "
              "than 1 needs MODELPROXY_REDIS_URL (default 1).")
@click.option("--tls-cert", type=click.Path(dir_okay=False),
              help="Serve HTTPS with this certificate (PEM; the server's first, then any "
                   "intermediates). Needs --tls-key.")
@click.option("--tls-key", type=click.Path(dir_okay=False),
              help="The certificate's private key (PEM, unencrypted).")
def serve(**flags: Any) -> None:
    """Run the proxy and admin API server."""
    from server import process

    settings = load_settings(flags)
    if settings.workers == 1 or process.is_worker():
        from server.runner import serve as run_server  # patched already by app.main

        sys.exit(run_server(settings))
    from server.supervisor import supervise

    sys.exit(supervise(settings))


@cli.command()
@click.option("--port", type=int, help="Port of the local server (default 8787).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory.")
def desktop(**flags: Any) -> None:
    """Open the window on this machine's server, starting one if none is running."""
    from gui.main import run_desktop

    sys.exit(run_desktop(load_settings(flags)))


@cli.command()
@click.option("--url", help="The server, e.g. https://office-server:8787 (asked if not given).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="The CA certificate (PEM) that signed an https:// server's certificate.")
def gui(url: str | None, ca_file: str | None) -> None:
    """Open the window on a server elsewhere."""
    from gui.main import run_gui

    sys.exit(run_gui(url, ca_file))


for module in (admin, provider, endpoint, token, secret, tls):
    cli.add_command(module.group)
cli.add_command(logs.logs)
cli.add_command(logs.usage)
cli.add_command(backup.backup)
cli.add_command(backup.restore)
cli.add_command(service.install_service)
