"""The version of the modelproxy-client distribution."""

__version__ = "0.1.0"
