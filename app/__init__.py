"""ModelProxy: the appliance core (no Flask, no Qt)."""

__version__ = "0.1.0"
