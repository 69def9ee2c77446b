"""git and disk faults: a force-pushed ref, a remote that disappears (between runs and in the
middle of a fetch), a damaged clone in the cache, and a full disk while writing the index.

Also home to :class:`GitPause`, a ``git`` on ``PATH`` that stops at a chosen git command until
the test lets it go (or kills the run there)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_faults_model import (
    ANSWER,
    CALC,
    QUESTION,
    Cli,
    ask_json,
    make_small_repo,
    model_env,
    one_clear_error,
    run_ghqa,
)

from ghqa.errors import IndexingError
from ghqa.index import build_index
from ghqa.index.store import IndexStore, store_path
from ghqa.pipeline import checkout
from ghqa.settings import Settings

from fakeopenai import FakeOpenAI, Reply
from helpers import commit_all, git

_SHIM = r"""#!/bin/sh
# A git that stops at the first command naming $PAUSE_ON (before or after running it), says so
# by creating $PAUSE_DIR/ready, and goes on once $PAUSE_DIR/resume exists.
match=""
for a in "$@"; do [ "$a" = "$PAUSE_ON" ] && match=1; done
if [ -z "$match" ] || ! mkdir "$PAUSE_DIR/taken" 2>/dev/null; then
  exec "$REAL_GIT" "$@"
fi
wait_resume() {
  i=0
  while [ ! -e "$PAUSE_DIR/resume" ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done
}
if [ "$PAUSE_WHEN" = after ]; then
  "$REAL_GIT" "$@"; status=$?
  touch "$PAUSE_DIR/ready"; wait_resume; exit $status
fi
touch "$PAUSE_DIR/ready"; wait_resume; exec "$REAL_GIT" "$@"
"""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class GitPause:
    """Runs ``ghqa`` with a ``git`` that pauses at the first ``git ... WORD ...`` command."""

    def __init__(self, tmp: Path, word: str, when: str = "before") -> None:
        self.dir = tmp / f"pause-{word}-{when}"
        self.dir.mkdir(parents=True)
        shim = self.dir / "bin" / "git"
        shim.parent.mkdir()
        shim.write_text(_SHIM)
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        real = shutil.which("git")
        assert real is not None
        self.env = {
            "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
            "PAUSE_ON": word,
            "PAUSE_WHEN": when,
            "PAUSE_DIR": str(self.dir),
            "REAL_GIT": real,
        }
        self.proc: subprocess.Popen[str] | None = None

    def start(self, args: list[str], env: dict[str, str] | None = None) -> GitPause:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {}), **self.env},
            start_new_session=True,  # its own process group: a kill takes git along
        )
        return self

    def wait_paused(self, timeout: float = 30) -> None:
        proc = self.proc
        assert proc is not None
        wait_until(
            lambda: (self.dir / "ready").exists() or proc.poll() is not None,
            timeout,
            "git to reach the pause",
        )
        if not (self.dir / "ready").exists():
            out, err = proc.communicate()
            raise AssertionError(f"the run ended before the pause: {err}")

    def resume(self, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assert self.proc is not None
        (self.dir / "resume").touch()
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=30)


def ghqa_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "ghqa", *args]


def clones(cache: Path) -> list[Path]:
    """The clones in the cache (directories holding a ``.git``)."""
    return sorted(p.parent for p in (cache / "repos").rglob(".git") if p.is_dir())


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return make_small_repo(tmp_path / "src" / "small")


def answering(prompts: list[str]) -> Callable[[dict[str, Any]], Reply]:
    """A model that answers every question with ``ANSWER`` and keeps the prompts it got."""

    def respond(body: dict[str, Any]) -> Reply:
        prompts.append("\n".join(str(m.get("content") or "") for m in body["messages"]))
        return Reply(ANSWER)

    return respond


# ---------------------------------------------------------------- the remote changes or goes


def test_a_force_pushed_ref_is_answered_at_the_new_commit(
    src: Path, isolated: Path, cli: Cli
) -> None:
    prompts: list[str] = []
    with FakeOpenAI(answering(prompts)) as server:
        first = cli.ask(f"file://{src}", model_env(server))
        rewritten = CALC_REWRITE
        (src / CALC).write_text(rewritten)
        git(src, "add", "-A")
        git(src, "commit", "-q", "--amend", "-m", "rewritten history")
        new = git(src, "rev-parse", "HEAD").strip()
        second = cli.ask(f"file://{src}", model_env(server))
    assert first["commit"] != new and second["commit"] == new
    assert "shifted by hand" not in prompts[0] and "shifted by hand" in prompts[1]
    assert second["usage"]["calls"] == 1  # new code, new prompt: not the old cached reply
    assert len(clones(isolated)) == 1


CALC_REWRITE = '''WMULT_SHIFT = 32


def inverse_weight(weight):
    """The inverse of weight, scaled by 2**WMULT_SHIFT."""
    return (1 << WMULT_SHIFT) // weight


def scale_delta(delta, weight):
    """shifted by hand"""
    return delta * inverse_weight(weight) >> WMULT_SHIFT
'''


def test_a_remote_gone_between_runs_is_one_clear_error_and_the_clone_survives(
    src: Path, isolated: Path, cli: Cli
) -> None:
    with FakeOpenAI(lambda body: Reply(ANSWER)) as server:
        first = cli.ask(f"file://{src}", model_env(server))
        moved = src.with_name("moved")
        src.rename(moved)
        proc = cli(f"file://{src}", "pkg", QUESTION, "-q", env=model_env(server))
        one_clear_error(proc, "Repository not found", "check the path")
        [clone] = clones(isolated)
        assert git(clone, "status", "--porcelain") == ""
        assert git(clone, "rev-parse", "HEAD").strip() == first["commit"]
        moved.rename(src)
        again = cli.ask(f"file://{src}", model_env(server))
        assert len(server.requests) == 1
    assert again["commit"] == first["commit"] and again["usage"]["calls"] == 0


def test_a_remote_gone_in_the_middle_of_a_fetch(src: Path, tmp_path: Path, isolated: Path) -> None:
    with FakeOpenAI(lambda body: Reply(ANSWER)) as server:
        first = ask_json(f"file://{src}", model_env(server))
        (src / "pkg" / "more.py").write_text("def more():\n    return 2\n")
        commit_all(src, "more")
        pause = GitPause(tmp_path, "fetch")
        args = ghqa_args(f"file://{src}", "pkg", QUESTION, "-q")
        pause.start(args, model_env(server)).wait_paused()
        moved = src.with_name("moved")
        src.rename(moved)  # the remote disappears while the fetch is under way
        started = time.monotonic()
        proc = pause.resume()
        assert time.monotonic() - started < 30
        one_clear_error(proc, "Repository not found")
        moved.rename(src)
        again = ask_json(f"file://{src}", model_env(server))
    assert again["commit"] != first["commit"] and not again["partial"]
    assert len(clones(isolated)) == 1


# ---------------------------------------------------------------- a damaged clone in the cache


def _truncate_packs(clone: Path) -> None:
    packs = list((clone / ".git" / "objects" / "pack").glob("*.pack"))
    assert packs
    for pack in packs:
        data = pack.read_bytes()
        pack.chmod(0o644)
        pack.write_bytes(data[: len(data) // 2])


def _remove_head(clone: Path) -> None:
    (clone / ".git" / "HEAD").unlink()


def _empty_state(clone: Path) -> None:
    (clone / ".git" / "ghqa-state.json").write_text("")


def _lose_objects(clone: Path) -> None:
    shutil.rmtree(clone / ".git" / "objects" / "pack")
    (clone / ".git" / "objects" / "pack").mkdir()


@pytest.mark.parametrize(
    ("damage", "notice"),
    [
        (_truncate_packs, "recloning"),
        (_remove_head, "recloning"),
        (_empty_state, "recloning"),
        (_lose_objects, ""),  # a partial clone fetches lost objects again by itself
    ],
    ids=["truncated pack", "missing HEAD", "empty state file", "lost packs"],
)
def test_a_damaged_clone_is_detected_and_recloned(
    src: Path, isolated: Path, damage: Callable[[Path], None], notice: str, cli: Cli
) -> None:
    with FakeOpenAI(lambda body: Reply(ANSWER)) as server:
        first = cli.ask(f"file://{src}", model_env(server))
        [clone] = clones(isolated)
        damage(clone)
        proc = cli(f"file://{src}", "pkg", QUESTION, "--json", env=model_env(server))
        assert proc.returncode == 0, proc.stderr
        assert notice in proc.stderr
        again = json.loads(proc.stdout)
        assert len(server.requests) == 1  # the same prompt: the cached reply
    assert again["commit"] == first["commit"] and again["text"] == first["text"]
    assert again["citations"] == first["citations"]
    [clone] = clones(isolated)
    assert git(clone, "fsck", "--connectivity-only") is not None
    assert (clone / CALC).read_text() == (src / CALC).read_text()


# ---------------------------------------------------------------- a full disk


def _generated_module(functions: int) -> str:
    return "".join(
        f"def generated_function_{i}(value):\n    return helper_{i % 7}(value) + {i}\n\n"
        for i in range(functions)
    )


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (needs root and mount); the test is skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """A file taking all but about ``leave`` bytes of ``disk``."""
    free = shutil.disk_usage(disk).free
    filler = disk / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_while_indexing_is_one_clear_error_and_leaves_no_index(
    tmp_path: Path, tiny_disk: Path
) -> None:
    src = make_small_repo(tmp_path / "src" / "gen", {"pkg/gen.py": _generated_module(3000)})
    repo = f"file://{src}"
    env = {"GHQA_CACHE_DIR": str(tiny_disk / "cache")}
    fetched = run_ghqa("fetch", repo, "pkg", "-q", env=env)
    assert fetched.returncode == 0, fetched.stderr
    filler = _fill(tiny_disk, leave=96_000)
    proc = run_ghqa("symbols", repo, "pkg", "--name", "generated_function_7", "-q", env=env)
    one_clear_error(proc, "Cannot write the index", "free disk space")
    store = store_path(tiny_disk / "cache")
    if store.exists():  # whatever is there holds no snapshot a later run could trust
        db = sqlite3.connect(store)
        try:
            assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
        finally:
            db.close()
    filler.unlink()
    proc = run_ghqa("symbols", repo, "pkg", "--prefix", "generated_function_", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3000
    assert "pkg/gen.py:22-23\tfunction\tgenerated_function_7" in proc.stdout


class _FullDisk:
    """Wraps a SQLite connection: writing the files of a snapshot fails as on a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def executemany(self, sql: str, rows: Any) -> Any:
        if sql.startswith("INSERT INTO files"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.executemany(sql, rows)


def test_an_injected_disk_full_error_leaves_no_half_index(
    src: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as the tmpfs test, for machines that cannot mount one: SQLite's own error is
    injected at the last write of the snapshot's transaction."""
    co = checkout(f"file://{src}", ["pkg"], settings=settings)
    real_init = IndexStore.__init__

    def failing_init(self: IndexStore, path: Path) -> None:
        real_init(self, path)
        self.db = _FullDisk(self.db)  # type: ignore[assignment]

    monkeypatch.setattr(IndexStore, "__init__", failing_init)
    with pytest.raises(IndexingError, match="Cannot write the index .*disk is full.*free disk"):
        build_index(co, settings)
    monkeypatch.undo()
    store = IndexStore(store_path(settings.cache_root))
    try:
        assert store.snapshot(co.commit, co.paths) is None
        tables = ("blobs", "symbols", "refs", "snapshots", "files")
        counts = {t: store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        assert set(counts.values()) == {0}, counts  # the whole transaction was rolled back
    finally:
        store.close()
    index = build_index(co, settings)
    try:
        assert [s.name for s in index.symbols(path=CALC, kind="function")] == [
            "inverse_weight",
            "scale_delta",
        ]
    finally:
        index.close()


class _FullResponses(_FullDisk):
    """A response cache whose disk is full: storing a reply fails."""

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)


def test_a_full_disk_when_storing_a_reply_keeps_the_answer(
    src: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ghqa.engine.cache import ResponseCache

    real_open = ResponseCache._open
    monkeypatch.setattr(
        ResponseCache, "_open", staticmethod(lambda path: _FullResponses(real_open(path)))
    )
    with FakeOpenAI(lambda body: Reply(ANSWER)) as server:
        first = cli.ask(f"file://{src}", model_env(server))
        assert first["text"] == ANSWER and len(first["citations"]) == 2
        monkeypatch.setattr(ResponseCache, "_open", staticmethod(real_open))
        again = cli.ask(f"file://{src}", model_env(server))
        assert len(server.requests) == 2  # nothing was stored, so the model was asked again
    assert again["text"] == first["text"] and again["usage"]["calls"] == 1
