"""What a request in flight gets when a graceful stop's grace period runs out."""

from __future__ import annotations

from greenlet import GreenletExit

STOPPED = "the server stopped before the request finished"


class ServerStopped(GreenletExit):
    """Thrown into every request still running when the grace period ends. A GreenletExit,
    so nothing that catches Exception (an adapter, Flask) takes it for an error of its
    own and gevent logs no traceback; the client API catches it to answer 503 and log
    the request's row."""
