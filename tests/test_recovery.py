"""A ``ghqa`` process killed (SIGKILL) at the worst moments: while creating the clone, while
indexing, during the model call, while writing the FAQ file. The next run repairs what was left
half done and gives the same answer as a run that was never interrupted."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_faults_git import GitPause, clones, ghqa_args, wait_until
from test_faults_model import ANSWER, QUESTION, make_small_repo, run_ghqa

from ghqa.index.store import IndexStore, store_path
from ghqa.pipeline import ask
from ghqa.settings import Settings

from fakeopenai import FakeOpenAI, Reply
from helpers import git


def digest_answer(body: dict[str, Any]) -> Reply:
    """``ANSWER`` tagged with a digest of the prompt: equal answers mean equal prompts (the same
    code, from the same checkout and index)."""
    text = json.dumps(body["messages"], sort_keys=True)
    return Reply(f"{ANSWER} [prompt {hashlib.sha256(text.encode()).hexdigest()[:16]}]")


def env_for(server: FakeOpenAI, cache: Path) -> dict[str, str]:
    return {
        "GHQA_BASE_URL": server.base_url,
        "GHQA_MODEL": "fake-model",
        "GHQA_STRATEGY": "direct",
        "GHQA_RETRIES": "0",
        "GHQA_CACHE_DIR": str(cache),
    }


def essence(answer: dict[str, Any]) -> tuple[str, list[str], str]:
    return answer["text"], [c["label"] for c in answer["citations"]], answer["commit"]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_small_repo(tmp_path / "src" / "small")


def uninterrupted(src: Path, server: FakeOpenAI, cache: Path) -> tuple[str, list[str], str]:
    settings = Settings.resolve(
        {}, cache_dir=cache, base_url=server.base_url, model="fake-model", strategy="direct"
    )
    answer = ask(f"file://{src}", QUESTION, ["pkg"], settings=settings)
    return essence(answer.to_dict())


def ask_cli(src: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = run_ghqa(f"file://{src}", "pkg", QUESTION, "--json", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _check_cache(cache: Path, commit: str) -> None:
    """One clone, clean at ``commit``; an index that opens and holds its snapshot."""
    [clone] = clones(cache)
    assert git(clone, "status", "--porcelain") == ""
    assert git(clone, "rev-parse", "HEAD").strip() == commit
    store = IndexStore(store_path(cache))
    try:
        assert store.snapshot(commit, ("pkg",)) is not None
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("word", "when"),
    [("fetch", "before"), ("checkout", "after"), ("--full-tree", "after")],
    ids=["during the first fetch", "right after the checkout", "during indexing"],
)
def test_killed_while_cloning_or_indexing(src: Path, tmp_path: Path, word: str, when: str) -> None:
    cache = tmp_path / "killed-cache"
    with FakeOpenAI(digest_answer) as server:
        expected = uninterrupted(src, server, tmp_path / "baseline-cache")
        pause = GitPause(tmp_path, word, when)
        pause.start(ghqa_args(f"file://{src}", "pkg", QUESTION, "-q"), env_for(server, cache))
        pause.wait_paused()
        pause.kill()
        again = ask_cli(src, env_for(server, cache))
        assert essence(again) == expected  # the same prompt, so the same code was sent
        assert again["usage"]["calls"] == 1
    _check_cache(cache, expected[2])


def test_killed_during_the_model_call(src: Path, tmp_path: Path) -> None:
    cache = tmp_path / "killed-cache"
    with FakeOpenAI(digest_answer) as server:
        expected = uninterrupted(src, server, tmp_path / "baseline-cache")
    with FakeOpenAI(lambda body: Reply("never seen", delay=60)) as slow:
        proc = subprocess.Popen(
            ghqa_args(f"file://{src}", "pkg", QUESTION, "-q"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env_for(slow, cache)},
            start_new_session=True,
        )
        wait_until(lambda: bool(slow.requests) or proc.poll() is not None, 30, "the model call")
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    with FakeOpenAI(digest_answer) as server:
        again = ask_cli(src, env_for(server, cache))
        assert essence(again) == expected and again["usage"]["calls"] == 1
        third = ask_cli(src, env_for(server, cache))
        assert len(server.requests) == 1
    assert essence(third) == expected and third["usage"]["calls"] == 0
    _check_cache(cache, expected[2])


# ---------------------------------------------------------------- the FAQ file

_PAUSE_AT_REPLACE = """
import os, sys, time
from pathlib import Path
real = os.replace
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith("FAQ.md"):
        Path(os.environ["PAUSE_DIR"], "ready").touch()
        time.sleep(60)
    return real(src, dst, *args, **kwargs)
os.replace = replace
from ghqa.cli import main
main(sys.argv[1:])
"""

FAQ_QUESTIONS = ["How does scale_delta avoid division?", "What does inverse_weight return?"]


def _faq_site(root: Path, src: Path) -> Path:
    root.mkdir(parents=True)
    config = root / "faq.yml"
    config.write_text(
        f"repository: file://{src}\npaths: [pkg]\noutput: docs/FAQ.md\nstrategy: direct\n"
        "questions:\n" + "".join(f"  - {json.dumps(q)}\n" for q in FAQ_QUESTIONS)
    )
    return config


def _temporaries(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "docs").glob(".*.tmp"))


def test_killed_while_writing_the_faq_file(src: Path, tmp_path: Path) -> None:
    def faq(site: Path, cache: Path, server: FakeOpenAI) -> subprocess.CompletedProcess[str]:
        config = site / "faq.yml"
        env = env_for(server, cache)
        return run_ghqa("faq", str(config), "--root", str(site), "-q", env=env)

    with FakeOpenAI(digest_answer) as server:
        base = _faq_site(tmp_path / "baseline", src)
        assert faq(base.parent, tmp_path / "baseline-cache", server).returncode == 0
        expected = (base.parent / "docs" / "FAQ.md").read_text()
        assert all(q in expected for q in FAQ_QUESTIONS)

        site = _faq_site(tmp_path / "site", src).parent
        cache = tmp_path / "killed-cache"
        pause_dir = tmp_path / "pause"
        pause_dir.mkdir()
        config = str(site / "faq.yml")
        proc = subprocess.Popen(
            [sys.executable, "-c", _PAUSE_AT_REPLACE, "faq", config, "--root", str(site), "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env_for(server, cache), "PAUSE_DIR": str(pause_dir)},
            start_new_session=True,
        )
        ready = pause_dir / "ready"
        wait_until(lambda: ready.exists() or proc.poll() is not None, 60, "the FAQ write")
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert not (site / "docs" / "FAQ.md").exists()
        assert len(_temporaries(site)) == 1  # what the killed run left

        calls = len(server.requests)
        again = faq(site, cache, server)
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == calls  # every answer came from the response cache
    assert (site / "docs" / "FAQ.md").read_text() == expected
    assert _temporaries(site) == []
