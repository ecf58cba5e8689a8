"""The appliance's exception tree. Callers catch the class that tells them what to do.

    ModelProxyError
    ├── SettingsError       a setting has a bad value (names the setting)
    ├── StorageError        the database cannot be opened, migrated or reached
    ├── SecretKeyError      the secret key is missing or is not the one the data was sealed with
    ├── ValidationError     bad input; nothing was changed (carries the field name)
    │   └── ConflictError   the input clashes with what exists (a duplicate name, ...)
    ├── ForbiddenError      the caller may not do this (a viewer writing, a wrong setup code)
    └── NotFoundError       no such provider, endpoint, token or admin
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "ModelProxyError",
    "NotFoundError",
    "SecretKeyError",
    "SettingsError",
    "StorageError",
    "ValidationError",
]


class ModelProxyError(Exception):
    """Base of every error the appliance raises on purpose. `str()` is for users."""


class SettingsError(ModelProxyError):
    """A setting has a bad value; the message names the setting."""


class StorageError(ModelProxyError):
    """The database cannot be opened, migrated or reached."""


class SecretKeyError(ModelProxyError):
    """The secret key is missing, or is not the key the stored secrets were sealed with."""


class ValidationError(ModelProxyError):
    """Bad input. Nothing was changed. `field` names the offending input, when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConflictError(ValidationError):
    """The input clashes with existing data, e.g. a duplicate name."""


class ForbiddenError(ModelProxyError):
    """The caller is known but may not do this."""


class NotFoundError(ModelProxyError):
    """No such object."""
