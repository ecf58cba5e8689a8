"""The system service: the shipped unit file, `modelproxy install-service` end to end in a
temporary root, its dry run and its refusals; each unit checked by `systemd-analyze verify`."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import service_unit
from app.cli import cli
from app.cli import service as service_cli
from app.service_unit import ServicePlan

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "packaging" / "systemd" / "modelproxy.service"
ANALYZE = shutil.which("systemd-analyze")
VENV_SCRIPT = Path(sys.executable).parent / "modelproxy"
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="install-service runs as root")


def verify(unit: Path) -> None:
    """systemd-analyze verify says nothing about a good unit (an unknown key or bad value
    is only a warning, so its silence is what is checked, not just its exit status)."""
    done = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), (
        done.returncode, done.stdout, done.stderr)


def install(*args: str) -> subprocess.CompletedProcess:
    """The real command, in its own process, as the admin runs it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "app.main", "install-service", *args],
                          capture_output=True, text=True, env=env, timeout=60)


def temp_root(tmp_path: Path) -> tuple[list[str], dict[str, Path]]:
    paths = {"unit_dir": tmp_path / "etc/systemd/system", "data_dir": tmp_path / "srv/mp",
             "env_file": tmp_path / "etc/modelproxy/modelproxy.env"}
    return (["--unit-dir", str(paths["unit_dir"]), "--data-dir", str(paths["data_dir"]),
             "--env-file", str(paths["env_file"])], paths)


def test_the_shipped_unit_is_the_one_install_service_writes_by_default() -> None:
    assert SHIPPED.read_text() == service_unit.unit_text(ServicePlan())
    text = SHIPPED.read_text()
    for line in ["User=modelproxy", "StateDirectory=modelproxy",
                 "Environment=MODELPROXY_DATA_DIR=/var/lib/modelproxy",
                 "Environment=MODELPROXY_HOST=0.0.0.0",
                 "EnvironmentFile=-/etc/modelproxy/modelproxy.env",
                 "ExecStart=/usr/local/bin/modelproxy serve", "Restart=on-failure",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "ReadWritePaths=/var/lib/modelproxy", "KillSignal=SIGTERM",
                 "TimeoutStopSec=30s"]:
        assert line in text.splitlines(), line


def test_the_stop_waits_longer_than_the_grace() -> None:
    assert ServicePlan().timeout_stop_s > ServicePlan().grace_s
    assert ServicePlan(grace_s=25).timeout_stop_s == 45
    assert "TimeoutStopSec=45s" in service_unit.unit_text(ServicePlan(grace_s=25))


def shipped_here(tmp_path: Path) -> Path:
    """The shipped unit with ExecStart on this machine's modelproxy (verify checks that the
    command exists; /usr/local/bin/modelproxy is where an admin puts the binary)."""
    text = SHIPPED.read_text().replace(f"ExecStart={service_unit.SHIPPED_EXEC} ",
                                       f"ExecStart={VENV_SCRIPT} ")
    assert text != SHIPPED.read_text()
    unit = tmp_path / service_unit.UNIT_NAME
    unit.write_text(text)
    return unit


@needs_analyze
def test_systemd_analyze_verifies_the_shipped_unit(tmp_path: Path) -> None:
    verify(shipped_here(tmp_path))


@needs_analyze
def test_systemd_analyze_catches_a_broken_unit(tmp_path: Path) -> None:
    unit = shipped_here(tmp_path)
    unit.write_text(unit.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    with pytest.raises(AssertionError, match="sometimes"):
        verify(unit)


@needs_root
def test_install_service_in_a_temporary_root(tmp_path: Path) -> None:
    args, paths = temp_root(tmp_path)
    done = install(*args, "--user", "daemon", "--port", "9876", "--host", "192.0.2.10")
    assert done.returncode == 0, done.stderr
    unit = paths["unit_dir"] / service_unit.UNIT_NAME
    text = unit.read_text()
    assert f"ExecStart={VENV_SCRIPT} serve" in text.splitlines()
    for line in ["User=daemon", f"Environment=MODELPROXY_DATA_DIR={paths['data_dir']}",
                 "Environment=MODELPROXY_PORT=9876", "Environment=MODELPROXY_HOST=192.0.2.10",
                 f"EnvironmentFile=-{paths['env_file']}", f"ReadWritePaths={paths['data_dir']}"]:
        assert line in text.splitlines(), line
    assert "StateDirectory" not in text  # not under /var/lib: install-service made it
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    env_file = paths["env_file"]
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text() == service_unit.env_file_text()
    data = paths["data_dir"].stat()
    assert stat.S_IMODE(data.st_mode) == 0o700
    assert data.st_uid == pwd.getpwnam("daemon").pw_uid
    assert "systemctl enable --now modelproxy" in done.stdout
    assert "journalctl -u modelproxy" in done.stdout
    assert f"{paths['data_dir'] / 'setup-code'}" in done.stdout
    if ANALYZE:
        verify(unit)


@needs_root
def test_install_service_keeps_the_settings_file_and_honours_its_grace(tmp_path: Path) -> None:
    args, paths = temp_root(tmp_path)
    paths["env_file"].parent.mkdir(parents=True)
    paths["env_file"].write_text("MODELPROXY_GRACE_S=40\n")
    done = install(*args, "--user", "daemon")
    assert done.returncode == 0, done.stderr
    assert f"{paths['env_file']} exists: kept" in done.stdout
    assert paths["env_file"].read_text() == "MODELPROXY_GRACE_S=40\n"
    assert "TimeoutStopSec=60s" in (paths["unit_dir"] / service_unit.UNIT_NAME).read_text()


def test_dry_run_says_everything_and_touches_nothing(tmp_path: Path) -> None:
    args, paths = temp_root(tmp_path)
    done = install(*args, "--dry-run", "--user", "daemon")
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []
    unit = paths["unit_dir"] / service_unit.UNIT_NAME
    assert f"would write {unit} (0644):" in done.stdout
    assert f"would write {paths['env_file']} (0600" in done.stdout
    assert f"would make {paths['data_dir']} (0700, owned by daemon)" in done.stdout
    assert f"ExecStart={VENV_SCRIPT} serve" in done.stdout
    assert "systemctl enable --now modelproxy" in done.stdout


def test_dry_run_offers_to_make_a_missing_user(tmp_path: Path) -> None:
    args, _paths = temp_root(tmp_path)
    done = install(*args, "--dry-run", "--user", "mp-nosuchuser")
    assert done.returncode == 0, done.stderr
    assert "would create the system user mp-nosuchuser" in done.stdout


def test_install_service_refuses_without_root(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_cli, "_euid", lambda: 1000)
    args, _paths = temp_root(tmp_path)
    refused = CliRunner().invoke(cli, ["install-service", *args])
    assert refused.exit_code == 1
    assert "Error: install-service must run as root" in refused.output
    assert "--dry-run" in refused.output
    assert list(tmp_path.iterdir()) == []
    dry = CliRunner().invoke(cli, ["install-service", *args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--user", "Bad User", "is not a user name"),
    ("--user", "root", "root is all-powerful: give the service a user of its own"),
    ("--user", "nobody", "nobody is shared by whatever runs unprivileged"),
    ("--data-dir", "relative/data", "must be an absolute path"),
    ("--data-dir", "/var/lib/../etc", "must be an absolute path"),
    ("--host", "0.0.0.0\nUser=root", "is not an address or host name"),
    ("--port", "70000", "70000 is not in the range 1<=x<=65535"),
])
def test_install_service_refuses_what_would_break_the_unit(
        tmp_path: Path, option: str, value: str, message: str) -> None:
    args, _paths = temp_root(tmp_path)
    refused = CliRunner().invoke(cli, ["install-service", *args, "--dry-run", option, value])
    assert refused.exit_code == 2
    assert message in refused.output
    assert list(tmp_path.iterdir()) == []


def test_install_service_warns_where_the_service_could_not_see_its_files(
        tmp_path: Path) -> None:
    done = install("--dry-run", "--user", "daemon", "--data-dir", str(tmp_path / "data"),
                   "--unit-dir", str(tmp_path / "units"), "--env-file", str(tmp_path / "e"))
    assert done.returncode == 0, done.stderr
    assert f"warning: the service cannot see {tmp_path / 'data'}" in done.stderr
    python = Path(sys.executable).resolve()
    if any(python.is_relative_to(p) for p in service_cli.HIDDEN_BY_PROTECT_HOME):
        assert f"warning: {python} is under a home directory" in done.stderr


def test_the_settings_files_examples_are_settings_the_server_takes() -> None:
    from app.settings import load_settings

    examples = dict(line[1:].split("=", 1) for line in service_unit.env_file_text().splitlines()
                    if line.startswith("#MODELPROXY_") and "TLS" not in line)  # TLS: real files
    assert set(examples) == {"MODELPROXY_ADMIN_ALLOW", "MODELPROXY_DATABASE_URL",
                             "MODELPROXY_HOST", "MODELPROXY_PORT", "MODELPROXY_GRACE_S"}
    settings = load_settings(environ=examples, env_file=None)
    assert settings.admin_allow == ("192.168.1.20", "192.168.1.21")
    assert settings.host == "0.0.0.0" and settings.port == 8787 and settings.grace_s == 10
    assert settings.database_url.startswith("postgresql://")
