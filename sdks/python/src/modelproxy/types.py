"""Every response and message type (``TypedDict`` s), for annotations in your code."""

from modelproxy._types import *  # noqa: F403
from modelproxy._types import __all__  # noqa: F401
