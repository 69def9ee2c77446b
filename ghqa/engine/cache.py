"""The response cache: a model reply stored under a hash of everything that shaped it.

The key is (model, messages, tools, parameters), so asking the same thing twice costs no model
call. Modes: ``on`` reads and writes, ``off`` does neither, ``replay`` only reads (a miss is an
error: the recording is incomplete), ``refresh`` only writes (re-records). SQLite in WAL mode
makes concurrent askers safe; an entry is one row, so a killed process leaves no half entry.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import EngineError
from ..sqlitedb import connect_wal

CACHE_VERSION = 1


def cache_key(payload: dict[str, Any]) -> str:
    """A stable hash of a request payload (everything but transport settings)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"v{CACHE_VERSION}\n{text}".encode()).hexdigest()


class ResponseCache:
    """Replies to model requests, persistent across runs and processes."""

    def __init__(self, path: Path | None, mode: str = "on"):
        self.mode = mode if path is not None else "off"
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.failed_puts = 0  # replies that could not be stored
        if self.mode != "off" and path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        try:
            db = connect_wal(path, threads=True)
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses("
                "key TEXT PRIMARY KEY, model TEXT NOT NULL, created REAL NOT NULL, "
                "response TEXT NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            text = str(exc).lower()
            if "full" in text or "disk i/o" in text or "readonly" in text:
                raise EngineError(
                    f"cannot write the response cache {path} ({exc}): free disk space, set "
                    "GHQA_CACHE_DIR to a writable directory, or run with --no-cache"
                ) from None
            raise EngineError(
                f"the response cache {path} is unreadable ({exc}): delete it, or run with "
                "--no-cache"
            ) from None
        return db

    def get(self, key: str) -> dict[str, Any] | None:
        if self._db is None or self.mode == "refresh":
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT response FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            if self.mode == "replay":
                raise EngineError(
                    "replay mode: this request was never recorded; record it with GHQA_CACHE=on"
                )
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, model: str, response: dict[str, Any]) -> None:
        if self._db is None or self.mode == "replay":
            return
        text = json.dumps(response, ensure_ascii=False)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses(key, model, created, response) "
                    "VALUES (?,?,?,?)",
                    (key, model, time.time(), text),
                )
            except sqlite3.Error:
                # A full disk, or a database locked for longer than the timeout: the reply in
                # hand (already paid for) matters more than keeping it; the next run asks again.
                self.failed_puts += 1

    def __len__(self) -> int:
        if self._db is None:
            return 0
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
