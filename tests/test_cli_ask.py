"""`ghqa REPO [PATH]... QUESTION`: output modes, options, configuration, and bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ghqa.cli import main

from enginekit import FAIR, all_text, run_python, submit
from fakeopenai import FakeOpenAI, Reply

QUESTION = "how does calc_delta_fair avoid division"
ANSWER = (
    f"`calc_delta_fair` calls `__calc_delta` ({FAIR}:259-284), which multiplies by the inverse "
    f"weight and shifts by `WMULT_SHIFT` ({FAIR}:228) instead of dividing."
)


def ghqa(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ghqa", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def repo(sched_repo: Path) -> str:
    return f"file://{sched_repo}"


@pytest.fixture
def server() -> Any:
    with FakeOpenAI(lambda body: Reply(ANSWER)) as s:
        yield s


def model_env(server: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {"GHQA_BASE_URL": server.base_url, "GHQA_MODEL": "fake-model", **extra}


def test_answers_in_markdown_with_sources_and_a_footer(repo: str, server: FakeOpenAI) -> None:
    proc = ghqa(repo, "kernel/sched", QUESTION, env=model_env(server))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("`calc_delta_fair` calls")
    assert f"- `{FAIR}:259-284`" in out and f"- `{FAIR}:228`" in out
    footer = out.strip().splitlines()[-1]
    assert footer.startswith("direct · fake-model · 1 call · ") and "tokens" in footer
    commit = json.loads(ghqa("fetch", repo, "kernel/sched", "--json", "-q").stdout)["commit"]
    assert footer.endswith(f"@{commit[:12]}")
    assert "strategy direct" in proc.stderr and "indexing" in proc.stderr


def test_ask_subcommand_json_and_quiet(repo: str, server: FakeOpenAI) -> None:
    proc = ghqa("ask", repo, "kernel/sched", QUESTION, "--json", "-q", env=model_env(server))
    assert proc.returncode == 0 and proc.stderr == ""
    data = json.loads(proc.stdout)
    assert data["strategy"] == "direct" and data["question"] == QUESTION
    assert [c["label"] for c in data["citations"]] == [f"{FAIR}:259-284", f"{FAIR}:228"]
    assert data["usage"]["calls"] == 1 and len(data["commit"]) == 40


def test_verbose_progress_and_trace_file(repo: str, server: FakeOpenAI, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    proc = ghqa(repo, "kernel/sched", QUESTION, "-v", "--trace", str(trace), env=model_env(server))
    assert proc.returncode == 0
    assert "strategy=direct" in proc.stderr and "elapsed=" in proc.stderr
    types = [json.loads(line)["type"] for line in trace.read_text().splitlines()]
    assert types[0] == "question" and "model_call" in types and types[-1] == "answer"


def test_cache_and_no_cache(repo: str, server: FakeOpenAI) -> None:
    env = model_env(server)
    ghqa(repo, "kernel/sched", QUESTION, "-q", env=env)
    again = ghqa(repo, "kernel/sched", QUESTION, "-q", env=env)
    assert " 0 calls (1 cached) · 0 tokens" in again.stdout
    assert len(server.requests) == 1
    fresh = ghqa(repo, "kernel/sched", QUESTION, "-q", "--no-cache", env=env)
    assert " 1 call · " in fresh.stdout and len(server.requests) == 2


def test_rlm_strategy_with_two_models_and_budgets(repo: str) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        if "tools" not in body:
            return Reply("It multiplies by an inverse.")
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        code = 'print(repo.definition("calc_delta_fair"))\nprint(llm_query("explain"))'
        return [run_python(code), submit(ANSWER, [f"{FAIR}:259-284"])][min(turns, 1)]

    with FakeOpenAI(responder, models=["big", "small"]) as server:
        env = {"GHQA_BASE_URL": server.base_url}
        args = ["--strategy", "rlm", "--model", "big", "--sub-model", "small", "--json", "-q"]
        data = json.loads(ghqa(repo, "kernel/sched", QUESTION, *args, env=env).stdout)
        assert data["strategy"] == "rlm" and not data["partial"]
        assert data["usage"]["models"] == {"big": 2, "small": 1}
        limited = ghqa(repo, "kernel/sched", QUESTION, "-s", "rlm", "--max-calls", "1",
                       "--no-cache", env=env)  # fmt: skip
    assert limited.returncode == 3  # printed, but partial
    assert "partial answer: the limit of 1 model calls was reached" in limited.stderr
    assert "PARTIAL" in limited.stdout.strip().splitlines()[-1]


def test_settings_come_from_the_environment_and_dotenv(
    repo: str, server: FakeOpenAI, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"GHQA_BASE_URL={server.base_url}\nGHQA_MODEL=from-dotenv\n")
    proc = ghqa(repo, "kernel/sched", QUESTION, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert server.requests[-1]["model"] == "from-dotenv"
    proc = ghqa(repo, "kernel/sched", QUESTION, "-q", "--no-cache", cwd=tmp_path,
                env={"GHQA_MODEL": "from-env"})  # fmt: skip
    assert server.requests[-1]["model"] == "from-env"


def test_openai_variables_are_honoured(repo: str) -> None:
    with FakeOpenAI(lambda body: Reply(ANSWER), api_key="sk-right-key") as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-right-key"}
        proc = ghqa(repo, "kernel/sched", QUESTION, "-q", "-m", "fake-model", env=env)
        assert proc.returncode == 0, proc.stderr
        assert server.headers[-1]["authorization"] == "Bearer sk-right-key"


# ---------------------------------------------------------------- bad input


def _one_clear_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith(("Error", "Usage"))]
    assert lines, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_empty_question(repo: str, server: FakeOpenAI) -> None:
    _one_clear_line(ghqa(repo, "kernel/sched", "  ", env=model_env(server)), "question is empty")


def test_huge_question(repo: str, server: FakeOpenAI) -> None:
    huge = "why " * 250_000  # 1 MB: more than one argument may hold, so it comes on stdin
    proc = subprocess.run(
        [sys.executable, "-m", "ghqa", repo, "kernel/sched", "-"],
        input=huge, capture_output=True, text=True, env={**os.environ, **model_env(server)},
    )  # fmt: skip
    _one_clear_line(proc, "the question is 1,000,000 characters long; keep it under 20,000")
    assert server.requests == []


def test_question_from_stdin(repo: str, server: FakeOpenAI) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ghqa", repo, "kernel/sched", "-", "-q", "--json"],
        input=QUESTION + "\n", capture_output=True, text=True,
        env={**os.environ, **model_env(server)},
    )  # fmt: skip
    assert json.loads(proc.stdout)["question"] == QUESTION


def test_unknown_option(repo: str) -> None:
    _one_clear_line(ghqa(repo, QUESTION, "--colour"), "No such option '--colour'")


def test_missing_question(repo: str) -> None:
    _one_clear_line(ghqa("ask", repo), "give a repository and a question")


def test_unreachable_server(repo: str) -> None:
    env = {"GHQA_BASE_URL": "http://127.0.0.1:9/v1", "GHQA_MODEL": "m", "GHQA_RETRIES": "0"}
    _one_clear_line(ghqa(repo, "kernel/sched", QUESTION, env=env), "cannot reach the model server")


def test_wrong_key(repo: str) -> None:
    with FakeOpenAI([ANSWER], api_key="right") as server:
        env = model_env(server, OPENAI_API_KEY="wrong")
        _one_clear_line(ghqa(repo, "kernel/sched", QUESTION, env=env), "refused the API key")


def test_unknown_model(repo: str) -> None:
    reply = Reply(status=404, error="The model `nope` does not exist")
    with FakeOpenAI([reply]) as server:
        env = model_env(server, GHQA_MODEL="nope")
        _one_clear_line(ghqa(repo, "kernel/sched", QUESTION, env=env), "has no model 'nope'")


def test_bad_setting_value(repo: str) -> None:
    proc = ghqa(repo, "kernel/sched", QUESTION, env={"GHQA_MAX_CALLS": "many"})
    _one_clear_line(proc, "GHQA_MAX_CALLS='many' is not a valid int")


def test_without_a_key_or_the_local_extra_it_shows_the_code(
    repo: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ghqa.local

    monkeypatch.setattr(ghqa.local, "local_available", lambda *a: "pip install 'ghqa[local]'")
    with pytest.raises(SystemExit) as exit_info:
        main([repo, "kernel/sched", QUESTION, "-q"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert "259| static u64 __calc_delta(u64 delta_exec" in out
    cited = [(int(a), int(b)) for a, b in re.findall(rf"`{FAIR}:(\d+)-(\d+)`", out)]
    assert any(a <= 259 and b >= 284 for a, b in cited), cited  # __calc_delta is a source
    assert err.count("\n") == 1 and err.startswith("Error: no model configured")
    assert "set OPENAI_API_KEY" in err and "pip install 'ghqa[local]'" in err


def _children(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _alive(pids: list[int], wait: float = 3.0) -> list[int]:
    """Those of ``pids`` still running (not gone, not a zombie) after up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        running = []
        for pid in pids:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] != "Z":
                running.append(pid)
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def test_ctrl_c_stops_promptly_and_leaves_the_cache_usable(repo: str, isolated: Path) -> None:
    code = 'print(repo.definition("calc_delta_fair"))'
    slow = [run_python(code), Reply(ANSWER, delay=30)]
    with FakeOpenAI(slow) as server:
        env = {**os.environ, **model_env(server)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "ghqa", repo, "kernel/sched", QUESTION, "-s", "rlm"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.requests) == 2
        workers = _children(proc.pid)
        assert workers, "the rlm run should have a sandbox worker by now"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - started < 5
    assert proc.returncode == 130 and "Interrupted." in err and "Traceback" not in err
    assert _alive(workers) == [], "the sandbox worker outlived the interrupted run"
    with FakeOpenAI([ANSWER]) as server:
        again = ghqa(repo, "kernel/sched", QUESTION, "-q", env=model_env(server))
    assert again.returncode == 0 and all_text(server.requests[0])


# ---------------------------------------------------------------- help and config


def test_help_is_short_and_has_examples() -> None:
    proc = ghqa("--help")
    assert proc.returncode == 0
    assert (
        'ghqa torvalds/linux kernel/sched "how does calc_delta_fair avoid division"' in proc.stdout
    )
    assert len(proc.stdout.splitlines()) < 40
    ask_help = ghqa("ask", "--help").stdout
    options = "--strategy --model --sub-model --base-url --max-calls --max-tokens --max-cost"
    for option in (*options.split(), "--timeout", "--no-cache", "--trace", "--json"):
        assert option in ask_help


def test_config_shows_sources_masks_keys_and_checks_the_model(server: FakeOpenAI) -> None:
    env = model_env(server, OPENAI_API_KEY="sk-abcdefghijklmnopqrstuvwxyz1234")
    proc = ghqa("config", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sk-abcdefghij" not in proc.stdout and "…1234" in proc.stdout
    assert any(line.startswith("api_key") and "OPENAI_API_KEY" in line
               for line in proc.stdout.splitlines())  # fmt: skip
    assert any(
        line.startswith("model ") and "GHQA_MODEL" in line for line in proc.stdout.splitlines()
    )
    assert "ok   git: git version" in proc.stdout and "ok   model:" in proc.stdout


def test_config_reports_an_unreachable_model_server() -> None:
    proc = ghqa("config", env={"GHQA_BASE_URL": "http://127.0.0.1:9/v1"})
    assert proc.returncode == 1
    assert "FAIL model: cannot reach the model server" in proc.stdout


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--max-tokens", "50", "the limit of 50 tokens was reached"),
        ("--max-cost", "0", "the cost limit of $0 was reached"),
        ("--timeout", "0.001", "the wall-clock limit of 0.001s was reached"),
    ],
)
def test_budget_options(
    repo: str, server: FakeOpenAI, option: str, value: str, reason: str
) -> None:
    env = model_env(server, GHQA_PRICE="1,1")
    args = [repo, "kernel/sched", QUESTION, "--json", "-q", "-s", "direct", option, value]
    proc = ghqa(*args, "--no-cache", env=env)
    data = json.loads(proc.stdout)
    assert data["partial"] and reason in data["reason"]
    assert proc.returncode == 3


@pytest.mark.parametrize("last", ["kernel/sched", "kernel/sched/fair.c", "COPYING"])
def test_a_missing_question_is_said_with_the_usage_line(repo: str, last: str) -> None:
    proc = ghqa(repo, last)
    assert proc.returncode == 2
    assert proc.stderr.startswith("Usage: ghqa ask ")
    assert f'the question is missing ("{last}" is a path)' in proc.stderr
    assert ghqa(repo, "kernel/sched", "fair.c").returncode == 2  # two paths, no question
