"""Shared pieces of the web tests: the app served by real uvicorn on 127.0.0.1, a scripted model
that explores linux-sched through the REPL, a headless Chromium, and server-sent events.

``python tests/webkit.py docs/web.png`` asks a question through the page in Chromium and saves
the screenshot the README shows."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ghqa.settings import Settings
from ghqa.web.app import create_app

from enginekit import FAIR, run_python, submit
from fakeopenai import FakeOpenAI, Reply

QUESTION = "how does calc_delta_fair avoid division"
ANSWER = (
    f"`calc_delta_fair` returns `delta` unchanged for nice-0 tasks and otherwise calls "
    f"`__calc_delta` ({FAIR}:259-284), which multiplies by the cached inverse weight and shifts "
    f"right by `WMULT_SHIFT` ({FAIR}:228) instead of dividing."
)
SUB_REPLY = "It multiplies by the inverse weight `inv_weight` and shifts by WMULT_SHIFT."
#: A question containing this gets a second cell whose sub-call never returns (for Cancel).
STALL = "(stall)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("GHQA_ARTIFACTS") or Path(__file__).resolve().parent / "artifacts")
FIRST_CELL = 'd = repo.definition("calc_delta_fair")\nprint(d)'
SECOND_CELL = (
    'body = repo.read("kernel/sched/fair.c", 259, 284)\n'
    'notes = llm_query_batched([f"What does this do?\\n{body}", "Where is WMULT_SHIFT used?"])\n'
    "for n in notes:\n    print(n)"
)
STALLED_CELL = f'print(llm_query("{STALL} explain __calc_delta"))'


def scripted_model(pause: float = 0.0) -> Any:
    """A responder playing a root model that runs two cells (the second makes a batch of two
    sub-calls) and submits a cited answer; each root reply takes ``pause`` seconds."""

    def respond(body: dict[str, Any]) -> Reply:
        messages = body["messages"]
        first = str(messages[0].get("content") or "")
        if "tools" not in body:
            return Reply(SUB_REPLY, delay=120 if STALL in first else pause / 2)
        question = str(messages[1].get("content") or "") if len(messages) > 1 else ""
        turns = sum(1 for m in messages if m["role"] == "assistant")
        if turns == 0:
            return _delayed(run_python(FIRST_CELL), pause)
        if turns == 1:
            return _delayed(run_python(STALLED_CELL if STALL in question else SECOND_CELL), pause)
        return _delayed(submit(ANSWER, [f"{FAIR}:259-284", f"{FAIR}:228"]), pause)

    return respond


def _delayed(reply: Reply, delay: float) -> Reply:
    reply.delay = delay
    return reply


def child_env(model: FakeOpenAI, **extra: str) -> dict[str, str]:
    """The environment questions run with: this one without the user's settings and secrets,
    pointed at the scripted model."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GHQA_", "OPENAI_", "GITHUB_")) or k == "GHQA_DEBUG"
    }
    env.update(GHQA_BASE_URL=model.base_url, GHQA_MODEL="fake-model", GIT_CONFIG_NOSYSTEM="1")
    env.update(extra)
    return env


class LiveServer:
    """``create_app(...)`` served by uvicorn on 127.0.0.1 and a free port, in a thread."""

    def __init__(
        self,
        cache_dir: Path,
        env: Mapping[str, str],
        token: str | None = None,
        loopback_only: bool = True,
    ):
        settings = Settings.resolve(env, cache_dir=cache_dir)
        self.app = create_app(settings, token=token, loopback_only=loopback_only, env=env)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, ws="none", lifespan="on",
            timeout_graceful_shutdown=1,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **options)


def ask(client: httpx.Client, repo: str, question: str, **fields: str) -> str:
    """Submit the form; the id of the run it started."""
    form = {"repo": repo, "paths": "kernel/sched", "question": question, "strategy": "rlm"}
    response = client.post("/ask", data={**form, **fields})
    assert response.status_code == 303, response.text[:2000]
    location = response.headers["location"]
    assert location.startswith("/runs/")
    return location.removeprefix("/runs/")


def events(
    client: httpx.Client, run_id: str, timeout: float = 60, until: str = "done"
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The server-sent events of a run, parsed, up to and including the first ``until``."""
    with client.stream("GET", f"/runs/{run_id}/events", timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data = "message", ""
        deadline = time.monotonic() + timeout
        for line in response.iter_lines():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {until!r} event within {timeout}s")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and data:
                yield name, json.loads(data)
                if name == until:
                    return
                name, data = "message", ""


def chromium() -> str | None:
    """The system Chromium, when installed."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def main(argv: list[str]) -> int:
    """Ask the scripted model about linux-sched in Chromium and save a screenshot."""
    from playwright.sync_api import sync_playwright

    from helpers import make_sched_repo

    out = Path(argv[0] if argv else "docs/web.png")
    executable = chromium()
    if executable is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="ghqa-demo-") as tmp:
        repo = make_sched_repo(Path(tmp) / "linux")
        with FakeOpenAI(scripted_model(pause=0.2)) as model, LiveServer(
            Path(tmp) / "cache", child_env(model, GHQA_PRICE="0.4,1.6")
        ) as server, sync_playwright() as p:  # fmt: skip
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1240})
            page.goto(server.url + "/")
            page.fill("#repo", f"file://{repo}")
            page.fill("#paths", "kernel/sched")
            page.fill("#question", QUESTION)
            page.select_option("#strategy", "rlm")
            page.click("button.primary")
            page.wait_for_selector(".answer-card", timeout=60_000)
            # The answer, then the turn that made the batch of sub-calls, unfolded.
            page.click("details.turn >> nth=1 >> summary")
            page.click("details.turn >> nth=2 >> summary")
            page.click("#answer a.cite >> nth=0")
            page.wait_for_selector("#drawer tr.cited", timeout=10_000)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=False)
            browser.close()
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
