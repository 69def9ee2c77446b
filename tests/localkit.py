"""Shared pieces of the local model tests: a stand-in for llama-cpp-python's server, run the
way ghqa runs the real one (its own process, behind the same watcher), and a way to crash it."""

from __future__ import annotations

import os
import signal
import sys
import time

from ghqa.local import LocalServer
from ghqa.local import server as server_mod

#: Answers GET /v1/models like llama-cpp-python; argv: port alias [fail].
FAKE_SERVER = """
import http.server, json
port, alias = int(sys.argv[1]), sys.argv[2]
if len(sys.argv) > 3:
    print("loading model...\\nerror: failed to load model " + sys.argv[3], flush=True)
    sys.exit(3)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": alias}]}).encode()
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("ready", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


class FakeServer(LocalServer):
    fail: str | None = None

    def command(self, port: int) -> list[str]:
        extra = [self.fail] if self.fail else []
        code = server_mod.WATCHER + FAKE_SERVER
        return [sys.executable, "-c", code, str(port), self.model_alias, *extra]


def crash(server: FakeServer, sig: signal.Signals) -> None:
    pid = server.pid
    assert pid is not None
    os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while server.pid is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.pid is None
