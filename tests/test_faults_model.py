"""Model-server faults, end to end through the command line: each one ends in one clear error
line and a non-zero exit, or in an answer, within a bounded time; never a hang or a traceback.

Also home to the small repository and the CLI runner the other fault tests share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ghqa.cli import main

from fakeopenai import FakeOpenAI, Reply
from helpers import commit_all, git

CALC = "pkg/calc.py"
CALC_SOURCE = '''WMULT_SHIFT = 32


def inverse_weight(weight):
    """The inverse of weight, scaled by 2**WMULT_SHIFT."""
    return (1 << WMULT_SHIFT) // weight


def scale_delta(delta, weight):
    """delta / weight without a division: multiply by the inverse, then shift."""
    return (delta * inverse_weight(weight)) >> WMULT_SHIFT
'''
QUESTION = "how does scale_delta avoid division"
ANSWER = (
    f"`scale_delta` multiplies by the inverse weight and shifts right ({CALC}:9-11); the "
    f"inverse comes from `inverse_weight` ({CALC}:4-6)."
)


def make_small_repo(dest: Path, extra: dict[str, str] | None = None) -> Path:
    """A two-file git repository: the code under ``pkg`` and an unrelated README."""
    (dest / "pkg").mkdir(parents=True)
    (dest / CALC).write_text(CALC_SOURCE)
    (dest / "README").write_text("a small repository\n")
    for rel, text in (extra or {}).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    git(dest, "init", "-q", "-b", "main")
    commit_all(dest, "first")
    return dest


def run_ghqa(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``ghqa ARGS`` in a subprocess, with the test's environment plus ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "ghqa", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``ghqa ARGS`` run by :func:`ghqa.cli.main` in this process (no interpreter start), in a
    thread so that a run that hangs fails the test after ``timeout`` seconds."""
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    result: list[int] = []

    def target() -> None:
        try:
            main(list(args))
            result.append(0)
        except SystemExit as exc:
            result.append(exc.code if isinstance(exc.code, int) else 1)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"ghqa {' '.join(args)} still running after {timeout}s"
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["ghqa", *args], result[0] if result else 1, out, err)


def one_clear_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The run failed with exactly one ``Error:`` line on stderr (run with ``-q``) holding each
    of ``needles``, and no traceback; returns the line."""
    assert proc.returncode != 0, proc.stdout[-500:]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "unexpected" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def model_env(server: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {
        "GHQA_BASE_URL": server.base_url,
        "GHQA_MODEL": "fake-model",
        "GHQA_STRATEGY": "direct",
        "GHQA_RETRIES": "0",
        "GHQA_REQUEST_TIMEOUT": "10",
        **extra,
    }


@pytest.fixture
def small_repo(tmp_path: Path) -> str:
    return f"file://{make_small_repo(tmp_path / 'src' / 'small')}"


def ask_json(repo: str, env: dict[str, str], *extra: str, timeout: float = 60) -> dict[str, Any]:
    proc = run_ghqa(repo, "pkg", QUESTION, "--json", "-q", *extra, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


class Cli:
    """The command line, in this process, for one test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(self.monkeypatch, self.capsys, *args, env=env, timeout=timeout)

    def ask(self, repo: str, env: dict[str, str], timeout: float = 60) -> dict[str, Any]:
        proc = self(repo, "pkg", QUESTION, "--json", "-q", env=env, timeout=timeout)
        assert proc.returncode == 0, proc.stderr
        data: dict[str, Any] = json.loads(proc.stdout)
        return data


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


# ---------------------------------------------------------------- faults that end the run


def _refused_url() -> str:
    with FakeOpenAI([]) as gone:
        url = gone.base_url
    return url  # nothing listens there any more: connection refused


FATAL = {
    "connection refused": (None, {}, "cannot reach the model server"),
    "401": (Reply(status=401, error="Incorrect API key provided"), {}, "refused the API key"),
    "404 model": (
        Reply(status=404, error="The model `fake-model` does not exist"),
        {},
        "has no model 'fake-model' (404)",
    ),
    "429 always": (
        Reply(status=429, headers={"retry-after": "0"}, error="Rate limit reached"),
        {"GHQA_RETRIES": "2"},
        "kept rate-limiting requests (429) after retries",
    ),
    "500 always": (
        Reply(status=500, headers={"retry-after": "0"}, error="overloaded"),
        {"GHQA_RETRIES": "2"},
        "answered 500 for fake-model",
    ),
    "closed mid-body": (Reply(ANSWER, drop=True), {}, "broke off in the middle of a reply"),
    "stalled after headers": (
        Reply(hang=30),
        {"GHQA_REQUEST_TIMEOUT": "1"},
        "did not answer in time",
    ),
    "empty choice list": (
        Reply(
            body={"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
        ),  # fmt: skip
        {},
        "returned no choices",
    ),
}


@pytest.mark.parametrize("fault", list(FATAL))
def test_a_model_fault_is_one_clear_error(small_repo: str, fault: str, cli: Cli) -> None:
    reply, extra, needle = FATAL[fault]
    with FakeOpenAI(lambda body: reply or Reply(status=500)) as server:
        env = model_env(server, **extra)
        if reply is None:
            env["GHQA_BASE_URL"] = _refused_url()
        started = time.monotonic()
        proc = cli(small_repo, "pkg", QUESTION, "-q", env=env, timeout=60)
        elapsed = time.monotonic() - started
        assert not server.unexpected
    one_clear_error(proc, needle)
    assert elapsed < 20, f"{fault} took {elapsed:.1f}s"
    if fault == "429 always" or fault == "500 always":
        assert len(server.requests) == 3  # the first try and two retries, then it gave up


# ---------------------------------------------------------------- faults the run gets over


def test_429_with_retry_after_is_honoured_then_answered(small_repo: str, cli: Cli) -> None:
    script: list[Reply | str] = [
        Reply(status=429, headers={"retry-after": "1"}, error="Rate limit reached"),
        ANSWER,
    ]
    with FakeOpenAI(script) as server:
        started = time.monotonic()
        data = cli.ask(small_repo, model_env(server, GHQA_RETRIES="2"))
        elapsed = time.monotonic() - started
        assert len(server.requests) == 2 and not server.unexpected
    assert not data["partial"] and data["usage"]["calls"] == 1
    assert [c["label"] for c in data["citations"]] == [f"{CALC}:9-11", f"{CALC}:4-6"]
    assert elapsed >= 1.0, "the Retry-After of 1 s was not waited for"


@pytest.mark.parametrize(
    "fault",
    [
        Reply(status=500, headers={"retry-after": "0"}, error="overloaded"),
        Reply(status=502, headers={"retry-after": "0"}, error="bad gateway"),
        Reply(ANSWER, drop=True),
        Reply(hang=30),
    ],
    ids=["500", "502", "closed mid-body", "stalled after headers"],
)
def test_one_transient_fault_is_retried_and_the_answer_is_whole(
    small_repo: str, fault: Reply, cli: Cli
) -> None:
    with FakeOpenAI([fault, ANSWER]) as server:
        env = model_env(server, GHQA_RETRIES="1", GHQA_REQUEST_TIMEOUT="1")
        data = cli.ask(small_repo, env)
        assert len(server.requests) == 2 and not server.unexpected
    assert not data["partial"] and data["text"].startswith("`scale_delta` multiplies")
    assert len(data["citations"]) == 2


def test_a_one_megabyte_reply_is_answered_and_cached(small_repo: str, cli: Cli) -> None:
    filler = "".join(f"Line {i}: the inverse weight is cached.\n" for i in range(26_000))
    huge = ANSWER + "\n\n" + filler + f"\nFinally, see `inverse_weight` ({CALC}:4-6)."
    assert len(huge) > 1_000_000
    with FakeOpenAI(lambda body: Reply(huge)) as server:
        env = model_env(server)
        started = time.monotonic()
        data = cli.ask(small_repo, env)
        assert time.monotonic() - started < 30
        assert data["text"].endswith(f"({CALC}:4-6).") and len(data["text"]) > 1_000_000
        assert {c["label"] for c in data["citations"]} == {f"{CALC}:9-11", f"{CALC}:4-6"}
        again = cli.ask(small_repo, env)
        assert len(server.requests) == 1
    assert again["usage"]["calls"] == 0 and again["text"] == data["text"]


def test_a_fault_leaves_no_cache_entry_and_the_next_run_asks_again(small_repo: str) -> None:
    """In real processes: the failed run exits 1, the next one asks again and answers."""
    with FakeOpenAI([Reply(ANSWER, drop=True), ANSWER]) as server:
        env = model_env(server)
        one_clear_error(run_ghqa(small_repo, "pkg", QUESTION, "-q", env=env))
        data = ask_json(small_repo, env)
        assert len(server.requests) == 2
    assert data["usage"]["calls"] == 1 and not data["partial"]
