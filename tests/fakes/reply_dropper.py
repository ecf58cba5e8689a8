"""A loopback TCP relay in front of a Redis that can lose replies: `drop(n)` makes it
close the next `n` client connections that get a reply, after Redis ran the command and
before the reply reaches the client (what a network cut at the wrong moment does)."""

from __future__ import annotations

import contextlib
import socket
import threading


class ReplyDropper:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._to_drop = 0
        self.dropped = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def drop(self, count: int = 1) -> None:
        with self._lock:
            self._to_drop = count

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self._upstream)
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if replies and self._take_drop():
                    break  # Redis answered; the client never hears it
                sink.sendall(data)
        except OSError:
            pass  # the other direction closed the pair
        for end in (source, sink):
            with contextlib.suppress(OSError):  # already gone
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def _take_drop(self) -> bool:
        with self._lock:
            if self._to_drop <= 0:
                return False
            self._to_drop -= 1
            self.dropped += 1
            return True
