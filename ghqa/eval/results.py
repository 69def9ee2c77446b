"""One graded answer of an evaluation, and the SQLite cache that keeps them across runs.

A result is keyed by the question (id, text and grading spec), the strategy, the model, the
commit, the repeat index and the settings that shape an answer, so a rerun only computes what
changed. Failed runs (exceptions) are not kept: the next run tries them again."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings import Settings
from ..sqlitedb import connect_wal
from .grade import Grade
from .questions import EvalQuestion

RESULTS_FILE = "eval-results-v1.sqlite"
#: Settings that change what an answer is (beyond the model and the strategy).
_SHAPING_SETTINGS = (
    "sub_model", "temperature", "extra_params", "reply_tokens", "context_tokens", "tools",
    "max_iterations", "max_calls", "max_tokens", "max_cost", "timeout", "max_errors",
)  # fmt: skip


@dataclass
class AnswerRecord:
    """One answer to one question by one strategy (one repeat), with its grade and usage."""

    question_id: str
    strategy: str  # as asked: whole, grep, direct, chunked, rlm, auto
    repeat: int
    used: str  # what answered (auto's choice, or chunked after an rlm fallback)
    text: str
    citations: list[str]  # verified, as path:start-end
    dropped: list[str]  # "path:start-end: reason"
    grade: Grade
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    seconds: float = 0.0
    partial: bool = False
    error: str | None = None  # an exception, or why the answer is partial (a budget stop)
    commit: str = ""
    trace: str | None = None
    notes: list[str] = field(default_factory=list)
    from_cache: bool = False  # not stored: whether this run read it from the cache

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def failed(self) -> bool:
        """An exception: no answer at all (not kept in the cache)."""
        return self.error is not None and not self.text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["from_cache"]
        grade = self.grade
        data["tokens"] = self.tokens
        data["grade"].update(
            fact_recall=grade.fact_recall,
            citation_recall=grade.citation_recall,
            context_recall=grade.context_recall,
            citation_precision=grade.citation_precision,
            verified_rate=grade.verified_rate,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerRecord:
        raw = dict(data["grade"])
        grade = Grade(
            facts=tuple(bool(x) for x in raw["facts"]),
            spans=tuple(bool(x) for x in raw["spans"]),
            verified=int(raw["verified"]),
            on_target=int(raw["on_target"]),
            dropped=int(raw["dropped"]),
            forbidden=tuple(str(x) for x in raw.get("forbidden", ())),
            context=tuple(bool(x) for x in raw.get("context", ())),
        )
        known = {k: v for k, v in data.items() if k in _RECORD_FIELDS and k != "grade"}
        return cls(grade=grade, **known)


_RECORD_FIELDS = set(AnswerRecord.__dataclass_fields__) - {"from_cache"}


def result_key(
    question: EvalQuestion,
    strategy: str,
    model: str,
    commit: str,
    repeat: int,
    settings: Settings,
) -> str:
    """The cache key of one result."""
    shaping = {name: getattr(settings, name) for name in _SHAPING_SETTINGS}
    payload = {
        "id": question.id,
        "spec": question.spec_hash,
        "strategy": strategy,
        "model": model,
        "base_url": settings.base_url,
        "commit": commit,
        "repeat": repeat,
        "settings": shaping,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Graded results in SQLite (WAL, one row per result); ``read=False`` only writes."""

    def __init__(self, path: Path, read: bool = True):
        self.path = path
        self.read = read
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = connect_wal(path, threads=True)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS results("
                "key TEXT PRIMARY KEY, created REAL NOT NULL, record TEXT NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"the evaluation cache {path} is unreadable ({exc}): delete it, or run with "
                "--no-cache"
            ) from None

    def get(self, key: str) -> AnswerRecord | None:
        if not self.read:
            return None
        with self._lock:
            row = self._db.execute("SELECT record FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            record = AnswerRecord.from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            return None
        record.from_cache = True
        return record

    def put(self, key: str, record: AnswerRecord) -> None:
        if record.failed:
            return
        text = json.dumps(record.to_dict(), ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO results(key, created, record) VALUES (?, ?, ?)",
                (key, time.time(), text),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM results").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
