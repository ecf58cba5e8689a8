"""`modelproxy install-service`: run this executable as a systemd system service."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from dotenv import dotenv_values

from app import service_unit
from app.service_unit import ServicePlan

# ProtectHome=yes hides these from the service: an executable (or its Python) there never starts.
HIDDEN_BY_PROTECT_HOME = (Path("/home"), Path("/root"), Path("/run/user"))
PRIVATE_TMP = (Path("/tmp"), Path("/var/tmp"))  # PrivateTmp=yes: the service's own, empty
SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(): systemd is the init system
SHARED_USERS = {"root": "all-powerful", "nobody": "shared by whatever runs unprivileged"}
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_HOST = re.compile(r"[A-Za-z0-9.:_-]+")
_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")  # nothing a unit file would need quoted


def _euid() -> int:
    return os.geteuid()


def running_executable() -> Path:
    """The `modelproxy` being run: the one-file binary itself, or the script in the venv."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve()
    script = Path(sys.executable).parent / "modelproxy"  # not resolved: the venv's bin
    if script.is_file():
        return script.absolute()
    found = shutil.which("modelproxy")
    if found is None:
        raise click.ClickException(f"cannot find the modelproxy command beside {sys.executable} "
                                   "or on PATH; install ModelProxy (docs/install.md) first")
    return Path(found).absolute()


def hidden_paths(executable: Path) -> list[Path]:
    """What the service needs that ProtectHome=yes hides: the executable, its Python."""
    needed = {executable, executable.resolve()}
    if not getattr(sys, "frozen", False):
        needed.add(Path(sys.executable).resolve())
    return sorted(p for p in needed if any(p.is_relative_to(h) for h in HIDDEN_BY_PROTECT_HOME))


def _check(user: str, host: str, data_dir: Path, env_file: Path) -> None:
    if not _USER.fullmatch(user):
        raise click.BadParameter(f"{user!r} is not a user name (a-z, 0-9, _ and -)",
                                 param_hint="--user")
    if user in SHARED_USERS:
        raise click.BadParameter(f"{user} is {SHARED_USERS[user]}: give the service a user of "
                                 "its own", param_hint="--user")
    if not _HOST.fullmatch(host):
        raise click.BadParameter(f"{host!r} is not an address or host name", param_hint="--host")
    for hint, path in (("--data-dir", data_dir), ("--env-file", env_file)):
        if not _PATH.fullmatch(str(path)) or ".." in path.parts:
            raise click.BadParameter(f"{path} must be an absolute path without spaces or quotes",
                                     param_hint=hint)


def _grace_s(env_file: Path) -> float:
    """The stop grace the site set in its settings file, if any (the unit waits longer)."""
    if not env_file.is_file():
        return ServicePlan.grace_s
    raw = dotenv_values(env_file).get("MODELPROXY_GRACE_S")
    try:
        return float(raw) if raw else ServicePlan.grace_s
    except ValueError:
        raise click.ClickException(f"{env_file}: MODELPROXY_GRACE_S={raw!r} is not a number "
                                   "of seconds") from None


class Steps:
    """Each step is said; with dry_run nothing is done."""

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    def do(self, what: str, action: Callable[[], Any]) -> None:
        click.echo(f"would {what}" if self.dry_run else what)
        if not self.dry_run:
            action()


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, mode)  # an existing file keeps its mode through os.open


def _create_user(user: str, home: Path) -> None:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise click.ClickException(f"useradd is not installed: create the system user {user} "
                                   "yourself, then run install-service again")
    shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    _run([useradd, "--system", "--user-group", "--home-dir", str(home), "--no-create-home",
          "--shell", shell, user])


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        said = (done.stderr or done.stdout).strip()
        raise click.ClickException(f"{' '.join(command)} failed (exit {done.returncode})"
                                   + (f": {said}" if said else ""))


def _own_data_dir(path: Path, user: str) -> None:
    """Make the data directory the user's (0700), with what is in it (a move from a manual
    install, run as another user, would otherwise be unreadable to the service)."""
    record = pwd.getpwnam(user)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, record.pw_uid, record.pw_gid, follow_symlinks=False)


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


@click.command("install-service")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path),
              default=service_unit.UNIT_DIR, show_default=True,
              help="Where the unit file goes.")
@click.option("--user", default=service_unit.SERVICE_USER, show_default=True,
              help="The system user the service runs as (made if missing).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=service_unit.DATA_DIR, show_default=True,
              help="The service's data directory (absolute).")
@click.option("--host", default=ServicePlan.host, show_default=True,
              help="Address to listen on (0.0.0.0: the LAN).")
@click.option("--port", type=click.IntRange(1, 65535), default=ServicePlan.port,
              show_default=True, help="Port to listen on.")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              default=service_unit.ENV_FILE, show_default=True,
              help="The settings file the service reads (made, 0600, if missing).")
def install_service(dry_run: bool, unit_dir: Path, user: str, data_dir: Path, host: str,
                    port: int, env_file: Path) -> None:
    """Install ModelProxy as a systemd service running this executable as its own user;
    then start it with `systemctl enable --now modelproxy`."""
    _check(user, host, data_dir, env_file)
    if not dry_run and _euid() != 0:
        raise click.ClickException("install-service must run as root (it writes "
                                   f"{unit_dir / service_unit.UNIT_NAME} and makes the user "
                                   f"{user}); try: sudo {sys.argv[0] or 'modelproxy'} "
                                   "install-service, or --dry-run to see what it would do")
    executable = running_executable()
    for path in hidden_paths(executable):
        click.echo(f"warning: {path} is under a home directory, which the service cannot see "
                   "(ProtectHome=yes), so it will not start: install ModelProxy outside home "
                   "directories (the binary in /usr/local/bin, or a venv in /opt/modelproxy "
                   "made with a Python outside /home and /root)", err=True)
    if any(data_dir.is_relative_to(p) for p in PRIVATE_TMP + HIDDEN_BY_PROTECT_HOME):
        click.echo(f"warning: the service cannot see {data_dir} (PrivateTmp=yes, "
                   "ProtectHome=yes hide /tmp, /var/tmp and home directories): choose a data "
                   f"directory elsewhere, such as {service_unit.DATA_DIR}", err=True)
    plan = ServicePlan(exec_path=executable, user=user, data_dir=data_dir, host=host,
                       port=port, env_file=env_file, grace_s=_grace_s(env_file))
    steps = Steps(dry_run)
    _install(steps, plan, unit_dir / service_unit.UNIT_NAME)
    click.echo("Next:\n  systemctl enable --now modelproxy\n"
               f"  journalctl -u modelproxy -n 20   # the setup code for the first admin "
               f"(also in {data_dir / 'setup-code'})")


def _install(steps: Steps, plan: ServicePlan, unit_file: Path) -> None:
    if _user_exists(plan.user):
        click.echo(f"user {plan.user} exists")
    else:
        steps.do(f"create the system user {plan.user} (no login, home {plan.data_dir})",
                 lambda: _create_user(plan.user, plan.data_dir))
    if plan.state_directory is None:  # systemd makes and owns only /var/lib/NAME itself
        steps.do(f"make {plan.data_dir} (0700, owned by {plan.user})",
                 lambda: _own_data_dir(plan.data_dir, plan.user))
    if plan.env_file.exists():
        click.echo(f"{plan.env_file} exists: kept")
    else:
        steps.do(f"write {plan.env_file} (0600, root: systemd reads it before starting)",
                 lambda: _write(plan.env_file, service_unit.env_file_text(), 0o600))
    text = service_unit.unit_text(plan)
    steps.do(f"write {unit_file} (0644):\n{text}", lambda: _write(unit_file, text, 0o644))
    if SYSTEMD_RUNNING.is_dir():
        steps.do("run systemctl daemon-reload",
                 lambda: _run(["systemctl", "daemon-reload"]))
    else:
        click.echo(f"systemd is not running here ({SYSTEMD_RUNNING} is missing): skipped "
                   "`systemctl daemon-reload`")
