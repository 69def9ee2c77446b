"""Several ``ghqa`` processes asking about the same repository at once share one clone, one
index and one response cache: no duplicate clone, no damaged index, no lost cache entry."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

from test_faults_git import clones, ghqa_args
from test_faults_model import make_small_repo
from test_recovery import digest_answer, env_for

from ghqa.engine.engine import RESPONSES_FILE
from ghqa.index.store import store_path

from fakeopenai import FakeOpenAI, Reply

QUESTIONS = [
    "how does scale_delta avoid division",
    "what does inverse_weight return",
    "where is WMULT_SHIFT defined",
    "why does scale_delta shift right",
    "how does scale_delta avoid division",  # the same question twice, at the same time
    "what does inverse_weight return",
]


def ask_all(repo: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Every question in its own process, all started before any is waited for."""
    procs = [
        subprocess.Popen(
            ghqa_args(repo, "pkg", question, "--json", "-q"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        for question in QUESTIONS
    ]
    answers = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        assert proc.returncode == 0, err
        answers.append(json.loads(out))
    return answers


def test_asks_side_by_side_share_the_clone_the_index_and_the_cache(
    tmp_path: Path, isolated: Path
) -> None:
    repo = f"file://{make_small_repo(tmp_path / 'src' / 'small')}"
    # The model answers only once every process is waiting for it: the asks really overlap,
    # and none holds a lock on the shared caches while it waits for the model.
    meeting = threading.Barrier(len(QUESTIONS), timeout=60)

    def respond(body: dict[str, Any]) -> Reply:
        meeting.wait()
        return digest_answer(body)

    with FakeOpenAI(respond) as server:
        first = ask_all(repo, env_for(server, isolated))
        assert len(server.requests) == len(QUESTIONS) and not server.unexpected

    # One clone, one index with one intact snapshot, one cache entry per distinct question.
    [clone] = clones(isolated)
    commit = first[0]["commit"]
    assert {a["commit"] for a in first} == {commit}
    assert not [p for p in clone.parent.iterdir() if p.name.startswith(clone.name) and p != clone
                and p.is_dir()]  # fmt: skip
    index = sqlite3.connect(store_path(isolated))
    try:
        assert index.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        snapshots = index.execute("SELECT commit_sha, paths FROM snapshots").fetchall()
        assert snapshots == [(commit, '["pkg"]')]
        files = index.execute("SELECT path FROM files").fetchall()
        assert files == [("pkg/calc.py",)]
        assert index.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1
    finally:
        index.close()
    responses = sqlite3.connect(isolated / RESPONSES_FILE)
    try:
        count = responses.execute("SELECT count(*) FROM responses").fetchone()[0]
    finally:
        responses.close()
    assert count == len(set(QUESTIONS))
    by_question = {q: a["text"] for q, a in zip(QUESTIONS, first, strict=True)}
    assert all(a["text"] == by_question[q] for q, a in zip(QUESTIONS, first, strict=True))

    # Asked again, side by side: every reply comes from the cache, the same as before.
    with FakeOpenAI(lambda body: Reply(status=500, error="no model call expected")) as server:
        again = ask_all(repo, env_for(server, isolated))
        assert server.requests == []
    assert [a["text"] for a in again] == [a["text"] for a in first]
    assert all(a["usage"]["calls"] == 0 and a["usage"]["cached_calls"] == 1 for a in again)
    assert len(clones(isolated)) == 1
