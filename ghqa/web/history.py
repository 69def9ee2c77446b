"""The questions asked through the web page, kept in SQLite beside the cache.

One row per question: what was asked (repository, paths, ref, options), how it ended, the
answer as JSON, the progress lines and where its trace file is. Several servers may share a
cache directory: every write is one short transaction, and a row left ``running`` by a server
that died is marked ``interrupted`` by the next one to start."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..sqlitedb import connect_wal

HISTORY_FILE = "web-history-v1.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    repo TEXT NOT NULL,
    paths TEXT NOT NULL,
    ref TEXT,
    question TEXT NOT NULL,
    options TEXT NOT NULL,
    trace_path TEXT NOT NULL,
    server_pid INTEGER,
    answer TEXT,
    error TEXT,
    progress TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
"""

#: How a run can end (``running`` until then).
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")


@dataclass
class RunRecord:
    """One question asked through the page."""

    id: str
    repo: str
    question: str
    trace_path: str
    paths: list[str] = field(default_factory=list)
    ref: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    status: str = "running"
    server_pid: int | None = None
    answer: dict[str, Any] | None = None
    error: str | None = None
    progress: list[list[Any]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def partial(self) -> bool:
        return bool(self.answer and self.answer.get("partial"))

    @property
    def badge(self) -> str:
        """The status as shown: running, done, partial, failed, cancelled or interrupted."""
        if self.status == "done" and self.partial:
            return "partial"
        return self.status

    @property
    def strategy(self) -> str | None:
        """The strategy that answered (or the one asked for, before an answer exists)."""
        if self.answer and self.answer.get("strategy"):
            return str(self.answer["strategy"])
        chosen = self.options.get("strategy")
        return str(chosen) if chosen else None

    @property
    def tokens(self) -> int | None:
        usage = (self.answer or {}).get("usage") or {}
        tokens = usage.get("tokens")
        return int(tokens) if isinstance(tokens, int) else None


class History:
    """The history database under the cache directory."""

    def __init__(self, cache_root: Path):
        self.path = cache_root / HISTORY_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = connect_wal(self.path)
        try:
            yield db
        finally:
            db.close()

    def add(self, record: RunRecord) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO runs(id, created, finished, status, repo, paths, ref, question, "
                "options, trace_path, server_pid, answer, error, progress) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.created,
                    record.finished,
                    record.status,
                    record.repo,
                    json.dumps(record.paths),
                    record.ref,
                    record.question,
                    json.dumps(record.options),
                    record.trace_path,
                    record.server_pid,
                    _dump(record.answer),
                    record.error,
                    json.dumps(record.progress),
                ),
            )

    def finish(
        self,
        run_id: str,
        status: str,
        answer: dict[str, Any] | None,
        error: str | None,
        progress: list[list[Any]],
    ) -> None:
        if status not in FINAL_STATES:
            raise ValueError(f"not a final state: {status}")
        with self._db() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished = ?, answer = ?, error = ?, progress = ? "
                "WHERE id = ?",
                (status, time.time(), _dump(answer), error, json.dumps(progress), run_id),
            )

    def get(self, run_id: str) -> RunRecord | None:
        with self._db() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _record(row) if row else None

    def recent(self, limit: int = 100) -> list[RunRecord]:
        """The latest runs, newest first."""
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM runs ORDER BY created DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_record(r) for r in rows]

    def delete(self, run_id: str) -> RunRecord | None:
        """Forget a finished run; its trace file is removed too. Running ones are kept."""
        record = self.get(run_id)
        if record is None or record.running:
            return None
        with self._db() as db:
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        with contextlib.suppress(OSError):
            Path(record.trace_path).unlink()
        return record

    def mark_orphans(self, own_pid: int) -> int:
        """Rows left ``running`` by servers that are gone become ``interrupted``."""
        with self._db() as db:
            rows = db.execute("SELECT id, server_pid FROM runs WHERE status = 'running'").fetchall()
        orphans = [
            run_id for run_id, pid in rows if pid != own_pid and not _alive(pid)
        ]  # fmt: skip
        with self._db() as db:
            for run_id in orphans:
                db.execute(
                    "UPDATE runs SET status = 'interrupted', finished = ?, "
                    "error = 'the server stopped before the run finished' WHERE id = ?",
                    (time.time(), run_id),
                )
        return len(orphans)


_COLUMNS = (
    "id, created, finished, status, repo, paths, ref, question, options, trace_path, "
    "server_pid, answer, error, progress"
)


def _record(row: tuple[Any, ...]) -> RunRecord:
    (run_id, created, finished, status, repo, paths, ref, question, options, trace_path,
     server_pid, answer, error, progress) = row  # fmt: skip
    return RunRecord(
        id=run_id,
        created=created,
        finished=finished,
        status=status,
        repo=repo,
        paths=_load(paths, []),
        ref=ref,
        question=question,
        options=_load(options, {}),
        trace_path=trace_path,
        server_pid=server_pid,
        answer=_load(answer, None),
        error=error,
        progress=_load(progress, []),
    )


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _load(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
