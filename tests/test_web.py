"""`ghqa serve`: the web application under real uvicorn on 127.0.0.1, questions answered by
real `ghqa ask` processes against the scripted model, the history in real SQLite, the code view
read from real partial clones."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ghqa.pipeline import checkout
from ghqa.settings import Settings
from ghqa.web.answerview import answer_view
from ghqa.web.history import History, RunRecord
from ghqa.web.security import Redactor
from ghqa.web.traceview import TraceView, read_records

from enginekit import FAIR
from fakeopenai import FakeOpenAI
from helpers import commit_all
from webkit import (
    QUESTION,
    STALL,
    SUB_REPLY,
    LiveServer,
    ask,
    child_env,
    events,
    scripted_model,
)

SECRET_KEY = "sk-test-0123456789abcdefSECRET"
GITHUB_TOKEN = "ghp_0123456789abcdefghijTOKEN"


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(scripted_model(pause=0.25), api_key=SECRET_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def web(model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    cache = tmp_path_factory.mktemp("webcache")
    env = child_env(model, OPENAI_API_KEY=SECRET_KEY, GHQA_GITHUB_TOKEN=GITHUB_TOKEN)
    with LiveServer(cache, env) as server:
        yield server


@pytest.fixture(scope="module")
def repo(sched_template: Path) -> str:
    return f"file://{sched_template}"


@pytest.fixture
def client(web: LiveServer) -> Iterator[httpx.Client]:
    with web.client() as c:
        yield c


@pytest.fixture(scope="module")
def answered(web: LiveServer, repo: str) -> dict[str, Any]:
    """One question answered through the page, with every event its stream sent."""
    with web.client() as c:
        run_id = ask(c, repo, QUESTION)
        seen = list(events(c, run_id))
        return {"id": run_id, "events": seen, "record": c.get(f"/runs/{run_id}/answer.json").json()}


# ---------------------------------------------------------------- asking and watching


def test_a_question_streams_stages_turns_batches_and_usage(answered: dict[str, Any]) -> None:
    seen = answered["events"]
    names = [name for name, _ in seen]
    progress = [data["message"] for name, data in seen if name == "progress"]
    assert any(m.startswith("fetching") for m in progress)
    assert any(m.startswith("indexed") for m in progress)
    assert "strategy rlm: chosen by the user" in progress
    kinds = [data["kind"] for name, data in seen if name == "node"]
    assert kinds[:3] == ["question", "route", "strategy"]
    assert kinds.count("turn") == 3 and kinds.count("cell") == 2 and kinds.count("batch") == 1
    assert kinds[-1] == "answer"
    nodes = {data["id"]: data for name, data in seen if name == "node"}
    batch = next(d for d in nodes.values() if d["kind"] == "batch")
    second_turn = [d for d in nodes.values() if d["kind"] == "turn"][1]
    assert batch["parent"] == second_turn["id"], "the batch is shown in the turn that made it"
    subs = [d for d in nodes.values() if d["parent"] == batch["id"]]
    assert len(subs) == 2 and all("sub-call" in d["html"] for d in subs)
    cell = next(d for d in nodes.values() if d["kind"] == "cell")
    assert 'class="hl"' in cell["html"] and "calc_delta_fair" in cell["html"]
    assert "static inline u64 calc_delta_fair" in cell["html"], "the cell's output is shown"
    tokens = [data["tokens"] for name, data in seen if name == "usage"]
    assert tokens == sorted(tokens) and tokens[-1] > 0 and len(set(tokens)) >= 3
    assert names[-1] == "done"
    done = seen[-1][1]
    assert done["state"] == "done" and done["usage"]["calls"] == 5
    assert done["usage"]["sub_calls"] == 2 and done["usage"]["strategy"] == "rlm"


def test_the_answer_links_its_citations_to_the_code_view(answered: dict[str, Any]) -> None:
    html = answered["events"][-1][1]["html"]
    assert "<code>calc_delta_fair</code>" in html
    links = re.findall(r'<a href="(/code\?[^"]+)" class="cite">', html)
    assert len(links) >= 2 and all("commit=" in link and "start=" in link for link in links)
    assert "kernel%2Fsched%2Ffair.c" in links[0]
    assert "rlm · fake-model · 5 calls" in html


def test_the_history_keeps_the_run_and_its_page_renders_the_trace(
    answered: dict[str, Any], client: httpx.Client, web: LiveServer
) -> None:
    record = answered["record"]
    assert record["status"] == "done" and record["question"] == QUESTION
    assert record["answer"]["strategy"] == "rlm" and len(record["answer"]["commit"]) == 40
    assert record["options"] == {"strategy": "rlm"} and record["paths"] == ["kernel/sched"]
    assert any("indexed" in message for _, message in record["progress"])
    page = client.get(f"/runs/{answered['id']}").text
    assert "data-events" not in page, "a finished run is not followed"
    assert page.count('class="node node-turn"') == 3
    assert page.count('class="node node-cell"') == 2
    assert SUB_REPLY in page and "llm_query_batched" in page
    assert 'class="badge badge-done" id="run-state">done<' in page
    index = client.get("/").text
    assert QUESTION in index and f"/runs/{answered['id']}" in index
    again = client.get(f"/?from={answered['id']}").text
    assert f">{QUESTION}</textarea>" in again and 'value="kernel/sched"' in again
    raw = client.get(f"/runs/{answered['id']}/trace.jsonl")
    types = [json.loads(line)["type"] for line in raw.text.splitlines()]
    assert types[0] == "question" and types[-1] == "answer"


def test_the_code_view_shows_the_cited_lines_with_context(
    answered: dict[str, Any], client: httpx.Client
) -> None:
    html = answered["events"][-1][1]["html"]
    link = re.findall(r'<a class="cite" href="(/code\?[^"]+)"', html)[0].replace("&amp;", "&")
    page = client.get(link + "&fragment=1")
    assert page.status_code == 200
    rows = re.findall(r'<tr id="L(\d+)"( class="cited")?>', page.text)
    cited = [int(n) for n, c in rows if c]
    assert cited == list(range(259, 285))
    assert int(rows[0][0]) == 247 and int(rows[-1][0]) == 296, "12 lines of context each side"
    assert "__calc_delta" in page.text and '<span class="k' in page.text
    whole = client.get(link + "&context=all")
    assert len(re.findall(r'<tr id="L\d+"', whole.text)) > 10_000
    assert "<!doctype html>" in whole.text and "<!doctype html>" not in page.text


def test_two_questions_at_once_share_the_cache(
    web: LiveServer, model: FakeOpenAI, sched_repo: Path
) -> None:
    repo = f"file://{sched_repo}"  # a repository no other test has fetched: both clone it
    with web.client() as c:
        first = ask(c, repo, "how is calc_delta_fair used by update_curr")
        second = ask(c, repo, "what does __calc_delta return")
        states = [list(events(c, first))[-1][1]["state"], list(events(c, second))[-1][1]["state"]]
        records = [c.get(f"/runs/{i}/answer.json").json() for i in (first, second)]
    assert states == ["done", "done"]
    assert records[0]["answer"]["commit"] == records[1]["answer"]["commit"]
    assert {r["answer"]["question"] for r in records} == {
        "how is calc_delta_fair used by update_curr", "what does __calc_delta return",
    }  # fmt: skip


def test_cancel_stops_the_process_and_keeps_what_was_done(
    web: LiveServer, repo: str, client: httpx.Client
) -> None:
    run_id = ask(client, repo, f"why is vruntime weighted {STALL}")
    stream = events(client, run_id, until="done")
    for name, data in stream:
        if name == "node" and data["kind"] == "cell":
            break
    live = web.app.state.web.runs.get(run_id)
    pid = live.process.pid
    started = time.monotonic()
    response = client.post(f"/runs/{run_id}/cancel", headers={"Accept": "application/json"})
    assert response.json() == {"cancelling": True}
    rest = list(stream)
    assert time.monotonic() - started < 8
    assert ("state", {"state": "cancelling"}) in rest
    assert rest[-1][0] == "done" and rest[-1][1]["state"] == "cancelled"
    assert "Cancelled." in rest[-1][1]["html"]
    assert _gone(pid)
    record = client.get(f"/runs/{run_id}/answer.json").json()
    assert record["status"] == "cancelled" and record["answer"] is None
    page = client.get(f"/runs/{run_id}").text
    assert page.count('class="node node-cell"') == 1, "the finished cell is kept"
    assert "did not finish" in page
    assert client.post(f"/runs/{run_id}/cancel", headers={"Accept": "application/json"}).json() == {
        "cancelling": False
    }
    trace = Path(web.app.state.web.history.get(run_id).trace_path)
    assert trace.is_file()
    deleted = client.post(f"/runs/{run_id}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/"
    assert client.get(f"/runs/{run_id}").status_code == 404
    assert run_id not in client.get("/").text and not trace.exists()


def web_origin(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def _gone(pid: int, wait: float = 5.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_failed_run_says_why(web: LiveServer, client: httpx.Client, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    missing.mkdir()
    run_id = ask(client, str(missing), "what is this")
    done = list(events(client, run_id))[-1][1]
    assert done["state"] == "failed"
    assert "Not a git repository" in done["html"] and "Traceback" not in done["html"]
    page = client.get(f"/runs/{run_id}").text
    assert "the run failed before the engine started" in page


# ---------------------------------------------------------------- the form


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"question": "   "}, "question", "the question is empty"),
        ({"repo": "not a repo!"}, "repo", "Invalid repository"),
        ({"paths": "../etc"}, "paths", "&#39;..&#39; is not allowed"),
        ({"ref": "-rf"}, "ref", "Invalid ref"),
        ({"strategy": "magic"}, "strategy", "strategy must be one of"),
        ({"max_calls": "many"}, "max_calls", "max calls must be a number"),
        ({"max_cost": "-1"}, "max_cost", "max cost must be at least 0"),
    ],
)
def test_bad_fields_are_shown_on_the_form(
    client: httpx.Client, repo: str, fields: dict[str, str], field: str, message: str
) -> None:
    form = {"repo": repo, "paths": "kernel/sched", "question": "why", **fields}
    response = client.post("/ask", data=form)
    assert response.status_code == 400
    assert message in response.text
    assert re.search(rf'id="{field}"[^>]*class="invalid"', response.text)
    assert 'value="kernel/sched"' in response.text or field == "paths", "typed values are kept"


def test_pages_use_no_assets_from_other_hosts(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert url.startswith("/") and not url.startswith("//"), url
    for asset in ("/static/app.css", "/static/app.js", "/highlight.css", "/static/favicon.svg"):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100
        assert not re.search(r"""(url\(|@import|src=|href=|fetch\()\s*['"]?(https?:)?//""",
                             response.text)  # fmt: skip
    assert "@media (prefers-color-scheme: dark)" in client.get("/highlight.css").text


# ---------------------------------------------------------------- secrets and access


def test_secrets_reach_no_page_stream_history_or_download(
    answered: dict[str, Any], client: httpx.Client, web: LiveServer, model: FakeOpenAI
) -> None:
    assert model.headers[0]["authorization"] == f"Bearer {SECRET_KEY}", "the key was used"
    run_id = answered["id"]
    texts = [
        json.dumps(answered["events"]),
        client.get("/").text,
        client.get(f"/runs/{run_id}").text,
        client.get(f"/runs/{run_id}/answer.json").text,
        client.get(f"/runs/{run_id}/trace.jsonl").text,
        client.get("/traces").text,
    ]
    cache = web.app.state.web.settings.cache_root
    texts += [p.read_text(errors="replace") for p in (cache / "web").rglob("*.jsonl")]
    texts.append((cache / "web-history-v1.sqlite").read_bytes().decode("latin-1"))
    for text in texts:
        assert SECRET_KEY not in text and GITHUB_TOKEN not in text


def test_a_leaked_secret_is_redacted_from_answers_and_traces(tmp_path: Path) -> None:
    redactor = Redactor([SECRET_KEY, "short", None, "12345678901"])
    assert redactor.secrets == [SECRET_KEY]
    trace = tmp_path / "t.jsonl"
    cell = {"id": 1, "parent": None, "type": "cell", "t": 0, "output": f"key={SECRET_KEY}"}
    trace.write_text(json.dumps(cell) + "\n")
    view = TraceView(redactor)
    view.feed(read_records(trace))
    assert view.roots[0].data["output"].head == "key=***"
    assert redactor.value({"a": [f"x{SECRET_KEY}"]}) == {"a": ["x***"]}


def test_only_loopback_host_names_are_served(web: LiveServer) -> None:
    port = web.url.rsplit(":", 1)[1]
    with web.client() as c:
        assert c.get("/").status_code == 200
        assert c.get("/", headers={"Host": f"localhost:{port}"}).status_code == 200
        rebound = c.get("/", headers={"Host": "attacker.example"})
    assert rebound.status_code == 421


def test_cross_site_posts_are_refused(client: httpx.Client, repo: str) -> None:
    form = {"repo": repo, "question": "why"}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert client.post("/ask", data=form, headers=headers).status_code == 403
    cancel = "/runs/20240101-000000-abcdef/cancel"
    assert client.post(cancel, headers={"Origin": "null"}).status_code == 403
    own = {"Origin": web_origin(client), "Sec-Fetch-Site": "same-origin"}
    same = client.post("/ask", data={**form, "question": ""}, headers=own)
    assert same.status_code == 400, "the page's own origin is let through (to the form check)"


def test_with_a_token_every_request_needs_it(tmp_path: Path, model: FakeOpenAI) -> None:
    token = "t0ken-for-the-tests-0123456789"
    env = child_env(model)
    with LiveServer(tmp_path / "cache", env, token=token, loopback_only=False) as server:
        with server.client() as c:
            refused = c.get("/")
            assert refused.status_code == 401 and token not in refused.text
            assert c.get("/static/app.js").status_code == 401
            assert c.get("/", params={"token": "wrong-" + token}).status_code == 401
            opened = c.get("/", params={"token": token, "from": "x"})
            assert opened.status_code == 303 and opened.headers["location"] == "/?from=x"
            cookie = opened.headers["set-cookie"]
            assert "HttpOnly" in cookie and token not in cookie
            page = c.get("/")  # the cookie is kept by the client
            assert page.status_code == 200 and token not in page.text
        with server.client(headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.get("/traces").status_code == 200
        with server.client(headers={"Host": "some-machine.lan:80"}) as c:
            assert c.get("/", params={"token": token}).status_code == 303


# ---------------------------------------------------------------- traces from files


def test_a_trace_written_by_the_command_line_opens_from_a_path_or_an_upload(
    answered: dict[str, Any], client: httpx.Client, web: LiveServer, tmp_path: Path
) -> None:
    trace = tmp_path / "from-cli.jsonl"
    trace.write_bytes(client.get(f"/runs/{answered['id']}/trace.jsonl").content)
    by_path = client.get("/traces/view", params={"path": str(trace)})
    assert by_path.status_code == 200
    for page in (by_path.text,):
        assert QUESTION in page and page.count('class="node node-turn"') == 3
        assert re.search(r'<a href="/code\?[^"]+" class="cite">', page), "citations open code"
    upload = client.post(
        "/traces", files={"file": ("t.jsonl", trace.read_bytes(), "application/x-ndjson")}
    )
    assert upload.status_code == 303
    shown = client.get(upload.headers["location"])
    assert shown.status_code == 200 and QUESTION in shown.text
    assert shown.text.count('class="node node-cell"') == 2
    listed = client.get("/traces")  # the page lists the CLI's own traces folder
    assert listed.status_code == 200


def test_files_that_are_not_traces_are_not_shown(client: httpx.Client, tmp_path: Path) -> None:
    secret = tmp_path / "notes.txt"
    secret.write_text("root:x:0:0:private line\n")
    for params in ({"path": str(secret)}, {"path": str(tmp_path)}, {"path": "/nonexistent"}):
        response = client.get("/traces/view", params=params)
        assert response.status_code == 400 and "private line" not in response.text
    upload = client.post("/traces", files={"file": ("n.txt", secret.read_bytes(), "text/plain")})
    assert upload.status_code == 400 and "not a ghqa trace" in upload.text
    assert "private line" not in upload.text


def test_an_unfinished_trace_is_shown_up_to_where_it_stops(
    client: httpx.Client, answered: dict[str, Any], tmp_path: Path
) -> None:
    lines = client.get(f"/runs/{answered['id']}/trace.jsonl").text.splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[: len(lines) // 2]) + '\n{"id": 99, "par')
    page = client.get("/traces/view", params={"path": str(cut)})
    assert page.status_code == 200 and "This trace has no answer" in page.text
    assert 'class="node node-turn"' in page.text


# ---------------------------------------------------------------- the code view


def test_the_code_view_reads_the_pinned_commit_after_the_checkout_moved(
    sched_repo: Path, isolated: Path, client: httpx.Client
) -> None:
    from ghqa.web.codeview import read_code

    settings = Settings.resolve({}, cache_dir=isolated)
    repo = f"file://{sched_repo}"
    old = checkout(repo, ["kernel/sched"], None, settings).commit
    fair = sched_repo / FAIR
    fair.write_text(fair.read_text().replace("static u64 __calc_delta(", "static u64 renamed("))
    new = commit_all(sched_repo, "rename")
    assert checkout(repo, ["kernel/sched"], None, settings).commit == new
    before = read_code(settings, repo, old, FAIR, 259, 259)
    after = read_code(settings, repo, new, FAIR, 259, 259)
    assert before.error is None and after.error is None
    assert "__calc_delta" in before.lines[12].html and "renamed" in after.lines[12].html
    assert before.lines[12].cited and not before.lines[11].cited
    unknown = read_code(settings, repo, "0" * 40, FAIR, 1, 2)
    assert unknown.error == f"commit {'0' * 12} of {sched_repo} is not in the cache"
    outside = read_code(settings, repo, old, "kernel/fork.c", 1, 1)
    assert outside.error == f"the content of kernel/fork.c at {old[:12]} is not in the cache"
    for path, problem in (("../etc/passwd", "'..' is not allowed"),
                          ("kernel/sched/nope.c", "is not a file at commit")):  # fmt: skip
        assert problem in str(read_code(settings, repo, old, path, 1, 1).error)
    assert "past the end" in str(read_code(settings, repo, old, FAIR, 99_999, 99_999).error)


def test_the_code_view_links_github_repositories(client: httpx.Client) -> None:
    commit = "a" * 40
    response = client.get(
        "/code",
        params={"repo": "torvalds/linux", "commit": commit, "path": FAIR, "start": 259, "end": 284},
    )
    assert response.status_code == 404
    assert "is not in the cache" in response.text
    assert f"https://github.com/torvalds/linux/blob/{commit}/{FAIR}#L259-L284" in response.text


# ---------------------------------------------------------------- answers as HTML


def test_answer_markdown_cannot_inject_html() -> None:
    data = {
        "text": (
            "See kernel/sched/fair.c:259-284. <script>alert(1)</script>"
            " <img src=x onerror=alert(1)> [click](javascript:alert(1)) ![pixel](http://tracker.example/p.png)"
            " [docs](https://docs.kernel.org/)\n\n```c\nint x; /* </code><b>bold</b> */\n```"
        ),
        "citations": [{"path": FAIR, "start": 259, "end": 284, "commit": "c" * 40,
                       "url": f"https://github.com/t/l/blob/{'c' * 40}/{FAIR}#L259-L284"}],
        "strategy": "direct", "repo": "t/l", "commit": "c" * 40, "usage": {"calls": 1},
    }  # fmt: skip
    view = answer_view(data, lambda p, s, e: f"/code?path={p}&start={s}&end={e}")
    html = str(view.html)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "javascript:" not in html.split("[click]")[0]
    assert 'href="javascript' not in html and "tracker.example/p.png" not in html.split("<a")[0]
    assert 'target="_blank"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert f'<a href="/code?path={FAIR}&amp;start=259&amp;end=284" class="cite">' in html
    assert view.sources[0].external and view.sources[0].external.startswith("https://github.com/")
    assert view.footer.startswith("direct · no model")


# ---------------------------------------------------------------- the history


def test_runs_left_running_by_a_dead_server_become_interrupted(tmp_path: Path) -> None:
    history = History(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout  # fmt: skip
    history.add(RunRecord("20240101-000000-aaaaaa", "r", "q", "/t", server_pid=int(dead)))
    history.add(RunRecord("20240101-000001-bbbbbb", "r", "q2", "/t", server_pid=os.getpid()))
    assert history.mark_orphans(own_pid=12345678) == 1
    states = {r.id: r.status for r in history.recent()}
    assert states == {"20240101-000000-aaaaaa": "interrupted", "20240101-000001-bbbbbb": "running"}
    with sqlite3.connect(tmp_path / "web-history-v1.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert history.delete("20240101-000001-bbbbbb") is None, "a running row is kept"
    assert history.delete("20240101-000000-aaaaaa") is not None
    assert [r.id for r in history.recent()] == ["20240101-000001-bbbbbb"]


# ---------------------------------------------------------------- the command


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    code = "from ghqa.web.command import serve_command; serve_command()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--no-browser", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_serve_prints_one_line_serves_and_stops_on_ctrl_c(isolated: Path) -> None:
    proc = _serve("--port", "0", "--cache-dir", str(isolated / "c"))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"ghqa serve: (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, line
        response = httpx.get(match[1] + "traces", timeout=10)
        assert response.status_code == 200 and "Open a trace" in response.text
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out == "" and "Traceback" not in err
    assert (isolated / "c" / "web-history-v1.sqlite").is_file()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--host", "0.0.0.0"], {}, "Error: listening on 0.0.0.0 lets other machines in"),
        (["--host", "0.0.0.0"], {"GHQA_SERVE_TOKEN": "short"}, "at least 16 characters"),
        (["--host", "10.255.255.1"], {"GHQA_SERVE_TOKEN": "x" * 20}, "cannot listen on"),
        (["--port", "70000"], {}, "Invalid value for '--port'"),
    ],
)
def test_serve_refuses_bad_input_in_one_line(
    args: list[str], env: dict[str, str], message: str
) -> None:
    proc = _serve(*args, env=env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and message in err, err
    assert "Traceback" not in err and out == ""
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1


def test_serve_says_when_the_port_is_taken(web: LiveServer) -> None:
    port = web.url.rsplit(":", 1)[1]
    proc = _serve("--port", port)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err.strip().startswith(f"Error: cannot listen on 127.0.0.1:{port}")
    assert "--port 0" in err and len(err.strip().splitlines()) == 1
