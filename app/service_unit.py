"""The systemd unit that runs `modelproxy serve` as a system service, and the settings file
beside it. Pure text: `modelproxy install-service` (app/cli/service.py) writes them, and
packaging/systemd/modelproxy.service is `unit_text(ServicePlan())` (a test keeps it so)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.settings import DEFAULT_PORT, Settings

UNIT_NAME = "modelproxy.service"
UNIT_DIR = Path("/etc/systemd/system")
ENV_FILE = Path("/etc/modelproxy/modelproxy.env")
DATA_DIR = Path("/var/lib/modelproxy")
STATE_ROOT = PurePosixPath("/var/lib")  # systemd's StateDirectory= lives under it
SERVICE_USER = "modelproxy"
SHIPPED_EXEC = Path("/usr/local/bin/modelproxy")  # where docs/install.md puts the binary
# A stop waits for requests in flight for up to MODELPROXY_GRACE_S; systemd must wait
# longer than that before it kills, or the last requests lose their log rows.
STOP_MARGIN_S = 20


@dataclass(frozen=True)
class ServicePlan:
    """What one service installation is made of."""

    exec_path: Path = SHIPPED_EXEC
    user: str = SERVICE_USER
    data_dir: Path = DATA_DIR
    host: str = "0.0.0.0"  # the LAN: clients on other machines call this server
    port: int = DEFAULT_PORT
    env_file: Path = ENV_FILE
    grace_s: float = Settings.grace_s

    @property
    def state_directory(self) -> str | None:
        """The data directory as systemd's StateDirectory= (made and owned by systemd at
        each start), when it lies under /var/lib; else None (install-service makes it)."""
        path = PurePosixPath(self.data_dir)
        if path.parent == STATE_ROOT:
            return path.name
        return None

    @property
    def timeout_stop_s(self) -> int:
        return max(30, math.ceil(self.grace_s) + STOP_MARGIN_S)


def unit_text(plan: ServicePlan) -> str:
    """The unit file's text for `plan`."""
    state = plan.state_directory
    state_lines = (f"StateDirectory={state}\nStateDirectoryMode=0700\n" if state else "")
    return f"""\
# ModelProxy as a system service: written by `modelproxy install-service` (docs/install.md).
# Site settings (admin addresses, TLS, PostgreSQL, provider keys) go in {plan.env_file}:
# systemd reads it as root, so it can stay 0600; its values win over the ones below.
[Unit]
Description=ModelProxy, a gateway in front of AI model providers
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={plan.user}
# Absolute: a relative data directory would depend on the working directory.
Environment=MODELPROXY_DATA_DIR={plan.data_dir}
Environment=MODELPROXY_HOST={plan.host}
Environment=MODELPROXY_PORT={plan.port}
EnvironmentFile=-{plan.env_file}
ExecStart={plan.exec_path} serve
WorkingDirectory={plan.data_dir}
{state_lines}UMask=0077
Restart=on-failure
RestartSec=2s
# serve stops gracefully on SIGTERM: it stops accepting, finishes the requests in flight
# for up to MODELPROXY_GRACE_S (default 10 s), writes their log rows and exits 0.
KillSignal=SIGTERM
TimeoutStopSec={plan.timeout_stop_s}s
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ReadWritePaths={plan.data_dir}

[Install]
WantedBy=multi-user.target
"""


def env_file_text() -> str:
    """The settings file made when there is none: every line a comment to start from."""
    return """\
# ModelProxy settings for the system service (read by systemd at each start; after a
# change: systemctl restart modelproxy). One NAME=value a line; see docs/install.md.
#
# Only these addresses may use the admin API and /metrics (IPs or CIDRs, comma-separated).
# Set here, this wins over the list stored at first-run setup (and undoes a lock-out).
#MODELPROXY_ADMIN_ALLOW=192.168.1.20,192.168.1.21
#
# HTTPS (docs/tls.md): LAN clients send bearer tokens, which plain HTTP shows to the LAN.
#MODELPROXY_TLS_CERT=/etc/modelproxy/tls/server.pem
#MODELPROXY_TLS_KEY=/etc/modelproxy/tls/server-key.pem
#
# PostgreSQL instead of SQLite in the data directory:
#MODELPROXY_DATABASE_URL=postgresql://modelproxy:PASSWORD@db-host/modelproxy
#
# Where the server listens (the unit says 0.0.0.0:8787):
#MODELPROXY_HOST=0.0.0.0
#MODELPROXY_PORT=8787
#
# How long a stop waits for requests in flight (keep it below the unit's TimeoutStopSec):
#MODELPROXY_GRACE_S=10
"""
