"""Input checks shared by the services. Each returns the clean value or raises ValidationError."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from app.errors import ValidationError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@/-]{0,99}$")


def name(value: Any, field: str = "name") -> str:
    """A display name: 1-100 characters, letters, digits, space and . _ - : @ /."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required", field)
    value = value.strip()
    if not _NAME.match(value):
        raise ValidationError(
            f"{field} must be 1-100 characters: letters, digits, spaces and . _ - : @ /", field
        )
    return value


def text(value: Any, field: str, max_length: int = 200) -> str:
    """A required single-line string."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required", field)
    value = value.strip()
    if len(value) > max_length or "\n" in value:
        raise ValidationError(f"{field} must be one line of at most {max_length} characters", field)
    return value


def http_url(value: Any, field: str = "base_url") -> str:
    """An absolute http(s) URL, without a trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required", field)
    value = value.strip().rstrip("/")
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValidationError(f"{field} must be an http:// or https:// URL, got {value!r}", field)
    return value


INT32_MAX = 2**31 - 1  # the widest a PostgreSQL `integer` column holds
INT64_MAX = 2**63 - 1
EARLIEST = dt.datetime(1970, 1, 1)
LATEST = dt.datetime(9999, 1, 1)


def limit(value: Any, field: str, maximum: int = INT32_MAX) -> int | None:
    """An optional whole number from 0 to `maximum` (None: unlimited)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{field} must be a whole number >= 0", field)
    try:
        number = int(value)
    except ValueError:
        message = f"{field} must be a whole number >= 0, got {value!r}"
        raise ValidationError(message, field) from None
    if not 0 <= number <= maximum:
        raise ValidationError(f"{field} must be a whole number >= 0 and <= {maximum}, got {number}",
                              field)
    return number


def positive_number(value: Any, field: str, maximum: float) -> float:
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a number", field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{field} must be a number, got {value!r}", field) from None
    if not 0 < number <= maximum:
        raise ValidationError(f"{field} must be more than 0 and at most {maximum}", field)
    return number


def whole(value: Any, field: str, low: int, high: int) -> int:
    """A whole number from `low` to `high` (a JSON integer: not a bool, a string or 1.5)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be a whole number from {low} to {high}, "
                              f"got {value!r}", field)
    if not low <= value <= high:
        raise ValidationError(f"{field} must be a whole number from {low} to {high}, "
                              f"got {value}", field)
    return value


def amount(value: Any, field: str, maximum: Decimal) -> Decimal | None:
    """An optional decimal number from 0 to `maximum` (None or "": none). Read from its
    text, so 0.1 stays 0.1 in the DECIMAL column."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationError(f"{field} must be a number, got {value!r}", field)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(f"{field} must be a number, got {value!r}", field) from None
    if not number.is_finite() or not 0 <= number <= maximum:
        raise ValidationError(f"{field} must be a number from 0 to {maximum}", field)
    return number


# The most their DECIMAL columns hold: (12, 6) for prices, (14, 6) for budgets.
MAX_PRICE = Decimal("999999.999999")  # USD per million tokens
MAX_BUDGET = Decimal("99999999.999999")  # USD a month


def price(value: Any, field: str) -> Decimal | None:
    """An optional price in USD per million tokens."""
    return amount(value, field, MAX_PRICE)


def budget(value: Any, field: str = "monthly_budget") -> Decimal | None:
    """An optional monthly budget in USD (None: no budget)."""
    return amount(value, field, MAX_BUDGET)


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false", field)
    return value


def one_of(value: Any, choices: Iterable[str], field: str) -> str:
    choices = sorted(choices)
    if value not in choices:
        raise ValidationError(f"{field} must be one of {', '.join(choices)}; got {value!r}", field)
    return value


def networks(value: Any, field: str = "allowed_ips") -> list[str]:
    """A list of IPv4/IPv6 addresses or CIDRs, normalised (e.g. 10.0.0.0/8, ::1/128)."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError(f"{field} must be a list of IP addresses or CIDRs", field)
    clean = []
    for item in value:
        try:
            clean.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
        except ValueError:
            message = f"{field}: {item!r} is not an IP address or CIDR"
            raise ValidationError(message, field) from None
    return clean


def headers(value: Any, field: str = "headers") -> dict[str, str]:
    """Extra HTTP headers: a mapping of header names to single-line string values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{field} must be an object of header names to values", field)
    token = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    for key, item in value.items():
        if not isinstance(key, str) or not token.match(key):
            raise ValidationError(f"{field}: {key!r} is not a valid header name", field)
        if not isinstance(item, str) or "\n" in item or "\r" in item:
            raise ValidationError(f"{field}: the value of {key} must be a one-line string", field)
    return dict(value)


def timestamp(value: Any, field: str) -> dt.datetime | None:
    """An optional ISO 8601 date or time; returned as naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{field} must be an ISO 8601 time such as 2026-12-31T23:59:59Z", field
            ) from None
    if moment.tzinfo is not None:
        if not EARLIEST.year < moment.year < LATEST.year:  # astimezone would overflow
            raise ValidationError(f"{field} must be between 1970 and 9999", field)
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    if not EARLIEST <= moment <= LATEST:
        raise ValidationError(f"{field} must be between 1970 and 9999", field)
    return moment


def row_id(value: int) -> bool:
    """Whether `value` can be a row id at all (larger ones overflow the database)."""
    return 0 < value <= INT64_MAX


def iso(moment: dt.datetime | None) -> str | None:
    """A stored naive-UTC time as ISO 8601 with a Z, for output."""
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"
