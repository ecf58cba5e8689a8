"""How the limit store calls Redis on the hot path: connections of its own (`Connections`)
and scripts called by their SHA1 (`Script`), with a call whose reply was lost sent once
more, marked (see limit_scripts: `again`)."""

from __future__ import annotations

import hashlib
import os

import redis
from hiredis import pack_command
from redis.exceptions import NoScriptError


class Connections:
    """The hot path's own connections to Redis, one per call in flight, made as needed
    from the client's settings and kept open. redis-py's pool and client layers cost ~30
    us of CPU a call here (its pool polls the socket and checks its health on every take,
    and the client times each command for its observability hooks), as much as sending
    the call and reading its reply. A connection that failed is closed (a reply may be
    half read) and opens again on its next use; a forked worker starts its own."""

    def __init__(self, client: redis.Redis) -> None:
        pool = client.connection_pool
        self._make = lambda: pool.connection_class(**pool.connection_kwargs)
        self._pid = os.getpid()
        self._idle: list[redis.connection.AbstractConnection] = []

    def call(self, command: tuple[object, ...], again: tuple[object, ...] | None = None):
        """`command`'s reply; `again` is what to send instead if it must be sent twice
        (Redis may have run the first: the connection broke after sending it)."""
        if self._pid != os.getpid():  # the parent's sockets are not this process's
            self._pid, self._idle = os.getpid(), []
        conn = self._idle.pop() if self._idle else self._make()
        try:
            try:
                return self._once(conn, command)
            except redis.ConnectionError:
                # A connection Redis closed (it restarted) fails at its first use: once
                # more, on a new one. A second failure is Redis's own.
                return self._once(conn, command if again is None else again)
        finally:
            self._idle.append(conn)

    def close(self) -> None:
        for conn in self._idle:
            conn.disconnect()

    @staticmethod
    def _once(conn: redis.connection.AbstractConnection, command: tuple[object, ...]):
        try:
            # Packed by hiredis (C): redis-py's packer makes the same bytes but encodes each
            # argument in Python first (an admit and its settle send ~30: ~3,000 of the
            # ~27,000 bytecodes of a request). No health check: a connection that went
            # bad fails its call, which is tried once more (`call`).
            conn.send_packed_command([pack_command(command)], check_health=False)
            return conn.read_response()
        except redis.ResponseError:
            raise  # Redis's answer, read whole: the connection stays good
        except BaseException:
            conn.disconnect()  # timed out or cut short: what is half read goes with it
            raise


class Script:
    """A script called by its SHA1: on the hot path (admit, one settle) through
    `Connections`, in a pipeline through redis-py, which, unlike its Script objects, sends
    no SCRIPT EXISTS before each pipeline. Loaded again when Redis answers that it does
    not know it (a restarted Redis has no scripts)."""

    def __init__(self, client: redis.Redis, source: str, conns: Connections) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._conns = conns

    def __call__(self, keys: list[str], args: list[object],
                 again: list[object] | None = None):
        """The script's reply; `again`: its arguments where it is sent a second time
        after a reply that did not come (see limit_scripts)."""
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        resend = None if again is None else ("EVALSHA", self.sha, len(keys), *keys, *again)
        try:
            return self._conns.call(command, resend)
        except NoScriptError:  # it did not run
            self.load()
            return self._conns.call(command, resend)

    def queue(self, pipe: redis.client.Pipeline, keys: list[str], args: list[object]) -> None:
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    def load(self) -> None:
        self.client.script_load(self.source)
