"""A git smart-HTTP server on 127.0.0.1 for tests: ``git http-backend`` behind a tiny HTTP
server that can demand a token, like a private GitHub repository."""

from __future__ import annotations

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class GitHTTPServer:
    """Serves bare repositories under ``root`` as ``http://127.0.0.1:PORT/OWNER/NAME.git``."""

    def __init__(self, root: Path, token: str | None = None):
        self.root = root
        self.token = token
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.command, self.path, headers))
                if server.token is not None:
                    expected = base64.b64encode(f"x-access-token:{server.token}".encode()).decode()
                    scheme, _, value = headers.get("authorization", "").partition(" ")
                    if scheme.lower() != "basic" or value != expected:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="test"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                path, _, query = self.path.partition("?")
                length = int(headers.get("content-length", "0") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "REQUEST_METHOD": self.command,
                    "CONTENT_TYPE": headers.get("content-type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "GIT_PROTOCOL": headers.get("git-protocol", ""),
                    "HTTP_CONTENT_ENCODING": headers.get("content-encoding", ""),
                    "REMOTE_ADDR": "127.0.0.1",
                    "PATH": "/usr/local/bin:/usr/bin:/bin",
                }
                out = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True
                ).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                if not _:
                    head, _, payload = out.partition(b"\n\n")
                status = 200
                extra: list[tuple[str, str]] = []
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif name:
                        extra.append((name, value.strip()))
                self.send_response(status)
                for name, value in extra:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, source: Path, owner: str, name: str) -> Path:
        """Serve a bare copy of the repository at ``source`` as ``OWNER/NAME``."""
        dest = self.root / owner / f"{name}.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(dest)], check=True)
        for key in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
            subprocess.run(["git", "-C", str(dest), "config", key, "true"], check=True)
        return dest

    def __enter__(self) -> GitHTTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
