"""Shared pieces of the engine tests: an indexed linux-sched checkout and model settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ghqa.index import RepoIndex
from ghqa.pipeline import open_index
from ghqa.settings import Settings

from fakeopenai import FakeOpenAI, Reply

FAIR = "kernel/sched/fair.c"


def index_sched(repo: Path, cache: Path) -> RepoIndex:
    return open_index(
        f"file://{repo}", ["kernel/sched"], None, Settings.resolve({}, cache_dir=cache)
    )


def model_settings(server: FakeOpenAI, cache_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "cache_dir": cache_dir,
        "base_url": server.base_url,
        "api_key": "sk-test-key",
        "model": "fake-model",
        "retries": 1,
        "request_timeout": 10.0,
    }
    values.update(overrides)
    return Settings.resolve({}, **values)


def run_python(code: str) -> Reply:
    return Reply(tool_calls=[{"name": "run_python", "arguments": json.dumps({"code": code})}])


def submit(answer: str, citations: list[str]) -> Reply:
    args = json.dumps({"answer": answer, "citations": citations})
    return Reply(tool_calls=[{"name": "submit", "arguments": args}])


def last_user_text(request: dict[str, Any]) -> str:
    """The content of the last message of a request (a tool result or a user turn)."""
    return str(request["messages"][-1].get("content") or "")


def all_text(request: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in request["messages"])
