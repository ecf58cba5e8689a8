"""`modelproxy tls self-signed`: an office CA and a server certificate, for an office that
has no CA of its own."""

from __future__ import annotations

from pathlib import Path

import click

from app import tls


@click.group("tls")
def group() -> None:
    """Certificates for serving HTTPS."""


@group.command("self-signed")
@click.option("--host", "hosts", multiple=True,
              help="A DNS name clients use for the server (repeatable), e.g. modelproxy.lan.")
@click.option("--ip", "ips", multiple=True,
              help="An IP address clients use for the server (repeatable).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for ca.pem, ca.key, server.pem, server.key.")
@click.option("--days", type=click.IntRange(1, tls.SERVER_CERT_DAYS),
              default=tls.SERVER_CERT_DAYS, show_default=True,
              help="How long the server certificate is valid.")
def self_signed(hosts: tuple[str, ...], ips: tuple[str, ...], out: Path, days: int) -> None:
    """Make an office CA (or reuse the one in --out) and a server certificate it signs."""
    try:
        made = tls.make_office_ca(out.resolve(), list(hosts), list(ips), days)
    except ValueError as exc:  # an --ip that is not an address
        raise click.BadParameter(str(exc), param_hint="--ip") from None
    click.echo(f"server certificate: {made.cert}\nits key:            {made.key}\n"
               f"the CA clients trust: {made.ca_cert}")
    click.echo(f"Serve with: modelproxy serve --tls-cert {made.cert} --tls-key {made.key}\n"
               f"Keep {made.ca_key} private (offline if you can): it signs certificates "
               f"every client trusts. Run this again with the same --out to renew the "
               f"server certificate under the same CA.", err=True)
