"""What the fake servers share: an HTTP server on 127.0.0.1 in a daemon thread that closes
promptly, even while handlers sleep or keep-alive connections sit idle."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

S = TypeVar("S", bound="LoopbackServer")


class LoopbackServer:
    """Subclasses say which server to run (:meth:`make_server`) and the URL suffix."""

    url_suffix = ""

    def __init__(self) -> None:
        self.base_url = ""
        self._stop = threading.Event()
        self._track_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    @property
    def closing(self) -> bool:
        return self._stop.is_set()

    def start(self: S) -> S:
        if self._httpd is None:
            self._httpd = self.make_server()
            self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}{self.url_suffix}"
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop promptly, even while handlers sleep or wait on idle keep-alive connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()
        httpd.shutdown()
        with self._track_lock:
            conns, handlers = list(self._conns), list(self._handlers)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 1.0
        for thread in handlers:
            thread.join(max(0.0, deadline - time.monotonic()))
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def sleep(self, seconds: float) -> bool:
        """Sleep unless closing; False when the server is closing."""
        return not self._stop.wait(seconds) if seconds > 0 else not self._stop.is_set()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._track_lock:
            (self._conns.add if add else self._conns.discard)(conn)
            (self._handlers.add if add else self._handlers.discard)(threading.current_thread())

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class QuietServer(ThreadingHTTPServer):
    """Serves ``fake`` with ``handler`` on a free port; handler errors other than dropped
    connections go to ``fake.unexpected``."""

    daemon_threads = True

    def __init__(self, fake: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError) and not self.fake.closing:
            self.fake.unexpected.append(f"handler error: {exc!r}")


class TrackedHandler(BaseHTTPRequestHandler):
    """A quiet handler whose connection the server can shut at close."""

    server: Any

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK cost 40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.fake.track(self.connection, add=False)
        super().finish()
