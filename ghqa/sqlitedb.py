"""Opening ghqa's SQLite files: autocommit connections in WAL mode, safe to open concurrently."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def connect_wal(
    path: Path, timeout: float = 30.0, *, threads: bool = False, durable: bool = True
) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode (transactions are explicit: ``BEGIN ...``).

    Switching a new database to WAL needs it to itself, and SQLite answers "database is locked"
    at once, without waiting, when another connection is switching it at the same moment (two
    threads or processes opening a new cache together); that is retried here until
    ``timeout``. ``threads`` lets the connection be used from other threads (under a lock).
    Without ``durable``, nothing waits for the disk (``synchronous = OFF``), from the switch to
    WAL on: a killed process loses nothing committed, a crash of the machine may."""
    deadline = time.monotonic() + timeout
    db = sqlite3.connect(path, timeout=timeout, check_same_thread=not threads, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if not durable:
            db.execute("PRAGMA synchronous = OFF")
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                return db
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
    except BaseException:
        db.close()
        raise
