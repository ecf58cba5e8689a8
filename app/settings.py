"""One Settings object, built once: flags > environment (and `.env`) > defaults."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv import dotenv_values

from app.errors import SettingsError

ENV_PREFIX = "MODELPROXY_"
DEFAULT_PORT = 8787
DEFAULT_BODY_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Field `x` is read from `MODELPROXY_X`."""

    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file in the data directory
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    secret_key: str | None = None  # None: the key file in the data directory
    max_body_bytes: int = DEFAULT_BODY_LIMIT
    grace_s: float = 10.0  # how long a graceful stop waits for in-flight requests
    header_timeout_s: float = 10.0  # a request's line and headers must arrive in this time
    body_timeout_s: float = 60.0  # ... and its whole body in this time
    keepalive_s: float = 30.0  # an idle keep-alive connection is closed after this
    max_connections: int | None = None  # None: from the open-file limit (server/capacity.py)
    bcrypt_rounds: int = 12
    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()  # exact origins, e.g. https://app.example.com
    admin_allow: tuple[str, ...] = ()  # who may use the admin API (empty: anyone) and /metrics
    session_hours: float = 12.0
    log_level: str = "INFO"
    tls_cert: Path | None = None  # serve HTTPS with this certificate (PEM) ...
    tls_key: Path | None = None  # ... and its private key (PEM)
    workers: int = 1  # gevent worker processes of `serve` ("auto": one per CPU)
    redis_url: str = ""  # empty: limits and notices kept in this process's memory
    openai_api_key: str | None = field(default=None, repr=False)
    openrouter_api_key: str | None = field(default=None, repr=False)
    anthropic_api_key: str | None = field(default=None, repr=False)
    # Whether data_dir was given relative to the working directory (it is made absolute
    # here, once): a server started from another folder would use another appliance.
    data_dir_relative: bool = field(default=False, compare=False, metadata={"derived": True})

    def __post_init__(self) -> None:
        given = Path(self.data_dir).expanduser()
        if not given.is_absolute():
            object.__setattr__(self, "data_dir_relative", True)
        object.__setattr__(self, "data_dir", given.resolve())

    @property
    def database(self) -> str:
        """The database URL in force: the configured one or the SQLite default."""
        return self.database_url or f"sqlite:///{self.data_dir / 'modelproxy.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.database.startswith("sqlite:")

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"


# Environment variables read without the MODELPROXY_ prefix (the providers' own names).
_PLAIN_ENV = {"openai_api_key": "OPENAI_API_KEY", "openrouter_api_key": "OPENROUTER_API_KEY",
              "anthropic_api_key": "ANTHROPIC_API_KEY"}


def env_name(name: str) -> str:
    """The environment variable that sets field `name`."""
    return _PLAIN_ENV.get(name, ENV_PREFIX + name.upper())


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> Settings:
    """Build Settings from flags (None values ignored), then environ, then `.env`, then defaults.

    Raises SettingsError naming the setting when a value is bad.
    """
    sources: dict[str, Any] = _env_file_values(env_file) if env_file else {}
    sources.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.metadata.get("derived"):
            continue
        raw = sources.get(env_name(f.name))
        if raw not in (None, ""):
            values[f.name] = _parse(f.name, raw)
    for name, value in (flags or {}).items():
        if value is not None:
            values[name] = _parse(name, value)
    settings = Settings(**values)
    _check(settings)
    return settings


def _env_file_values(env_file: str | Path) -> dict[str, str]:
    try:
        if not Path(env_file).is_file():
            return {}
    except PermissionError:
        # A working directory this user may not look into (`sudo -u modelproxy ...` run
        # from an admin's home): there is no .env of its own there.
        return {}
    try:
        return {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    except OSError as exc:
        raise SettingsError(f"{env_file}: cannot read it ({exc.strerror})") from None


def _parse(name: str, raw: Any) -> Any:
    parser = _PARSERS.get(name, str)
    try:
        return parser(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{env_name(name)}: {exc}") from None


def _int_in(low: int, high: int):
    def parse(raw: Any) -> int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected {low}..{high}, got {value}")
        return value

    return parse


def _positive_float(raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"expected a number >= 0, got {value}")
    return value


def _timeout(raw: Any) -> float:
    value = _positive_float(raw)
    if not 0 < value <= 3600:
        raise ValueError(f"expected a number of seconds above 0 and at most 3600, got {value:g}")
    return value


def _networks(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR") from None
    return tuple(items)


def _log_level(raw: Any) -> str:
    level = str(raw).upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level


def parse_origins(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else str(raw).replace(",", " ").split()
    for item in items:
        parsed = urlparse(item)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc or parsed.path:
            raise ValueError(f"{item!r} is not an origin such as https://app.example.com")
    return tuple(items)


def _workers(raw: Any) -> int:
    if str(raw).strip().lower() == "auto":
        return os.cpu_count() or 1
    return _int_in(1, 64)(raw)


def _redis_url(raw: Any) -> str:
    url = str(raw).strip()
    if urlparse(url).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(f"expected redis://HOST:PORT/DB, rediss://... or unix://PATH, "
                         f"got {url!r}")
    return url


_PARSERS = {
    "data_dir": lambda raw: Path(raw).expanduser(),
    "port": _int_in(1, 65535),
    "max_body_bytes": _int_in(1024, 1024**3),
    "grace_s": _positive_float,
    "header_timeout_s": _timeout,
    "body_timeout_s": _timeout,
    "keepalive_s": _timeout,
    "max_connections": _int_in(1, 1_000_000),
    "bcrypt_rounds": _int_in(4, 16),
    "trusted_proxies": _networks,
    "cors_origins": parse_origins,
    "admin_allow": _networks,
    "session_hours": _positive_float,
    "log_level": _log_level,
    "tls_cert": lambda raw: Path(raw).expanduser(),
    "tls_key": lambda raw: Path(raw).expanduser(),
    "workers": _workers,
    "redis_url": _redis_url,
}


def data_dir_notice(settings: Settings, existed: bool) -> str | None:
    """A warning for a data directory just made from a relative path, else None: started
    from another folder, the server made a new, empty appliance instead of using the one
    the admin set up."""
    if existed or not settings.data_dir_relative:
        return None
    return (f"made a new, empty data directory {settings.data_dir}, relative to the working "
            f"directory {Path.cwd()}; if this server has been set up before, stop it and "
            f"start it with an absolute --data-dir or {env_name('data_dir')}")


def _check(settings: Settings) -> None:
    url = settings.database_url
    if url:
        scheme = urlparse(url).scheme
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise SettingsError(
                f"{env_name('database_url')}: expected sqlite:///PATH or postgresql://..., "
                f"got scheme {scheme or 'none'!r}"
            )
    if settings.secret_key is not None and len(settings.secret_key) < 32:
        raise SettingsError(
            f"{env_name('secret_key')}: must be at least 32 characters "
            "(try: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if settings.tls_cert is not None or settings.tls_key is not None:
        from app import tls  # cryptography's x509: only loaded when TLS is asked for

        tls.check_pair(settings.tls_cert, settings.tls_key)
