"""The index store: SQLite, content-addressed by blob.

Symbols and references belong to a blob (a file's content, with its language), so a file that
did not change between two commits is never parsed again. A *snapshot* names the files of one
commit under some paths; it is written in the same transaction as any blob it needed, so a
snapshot that exists is complete, and a run killed half way leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import IndexingError
from ..sqlitedb import connect_wal
from .symbols import RefRow, SymbolRow

#: Bump when extraction changes: the file name carries it, so old indexes are simply not used.
INDEX_VERSION = 4
_SCHEMA_VERSION = 1

_SCHEMA = """
-- A blob's symbols and references are rows sym_lo..sym_hi and ref_lo..ref_hi of their tables
-- (written together, in one transaction): its rows are found by id, with no index on blob.
CREATE TABLE IF NOT EXISTS blobs(
    id INTEGER PRIMARY KEY,
    sha TEXT NOT NULL,
    lang TEXT NOT NULL,
    size INTEGER NOT NULL,
    flags TEXT NOT NULL,
    sym_lo INTEGER NOT NULL,
    sym_hi INTEGER NOT NULL,
    ref_lo INTEGER NOT NULL,
    ref_hi INTEGER NOT NULL,
    UNIQUE(sha, lang)
);
CREATE TABLE IF NOT EXISTS symbols(
    id INTEGER PRIMARY KEY,
    blob INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    scope TEXT
);
CREATE INDEX IF NOT EXISTS symbols_name ON symbols(name);
-- The uses of one name of one kind in a blob: how many, and the lines they are on ("12 40 40").
CREATE TABLE IF NOT EXISTS refs(
    id INTEGER PRIMARY KEY,
    blob INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    lines TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_name ON refs(name);
CREATE TABLE IF NOT EXISTS snapshots(
    id INTEGER PRIMARY KEY,
    commit_sha TEXT NOT NULL,
    paths TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE(commit_sha, paths)
);
CREATE TABLE IF NOT EXISTS files(
    snapshot INTEGER NOT NULL,
    path TEXT NOT NULL,
    blob INTEGER NOT NULL,
    lang TEXT NOT NULL,
    flags TEXT NOT NULL,
    PRIMARY KEY(snapshot, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_blob ON files(blob, snapshot);
"""

BlobKey = tuple[str, str]  # sha, grammar applied ("" for none)
FileRow = tuple[str, BlobKey, str, frozenset[str]]  # path, blob, language, path flags
BlobRow = tuple[BlobKey, int, frozenset[str], list[SymbolRow], list[RefRow]]


def store_path(cache_root: Path) -> Path:
    return cache_root / f"index-v{INDEX_VERSION}.sqlite"


def _out_of_space(e: sqlite3.Error) -> bool:
    text = str(e).lower()
    return "full" in text or "disk i/o" in text or "readonly" in text


def paths_key(paths: Sequence[str]) -> str:
    return json.dumps(sorted(paths))


class IndexStore:
    """A connection to the index database (one per thread).

    The index is a cache of what the repositories' files say, so it is written without waiting
    for the disk (``synchronous = OFF``): a killed process loses nothing committed, and a file
    that a crash of the machine left unreadable is set aside and built again.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.db = self._open(path)
            except sqlite3.DatabaseError as e:
                if type(e) is not sqlite3.DatabaseError:  # locked, full, read-only: not damage
                    raise
                _set_aside(path)
                self.db = self._open(path)
        except sqlite3.DatabaseError as e:
            if _out_of_space(e):
                raise IndexingError(
                    f"Cannot write the index at {path} ({e}): free disk space or set "
                    "GHQA_CACHE_DIR to a writable directory"
                ) from None
            raise IndexingError(
                f"The index at {path} is unusable ({e}): delete it and run again"
            ) from None
        except OSError as e:
            raise IndexingError(
                f"Cannot write the index at {path} ({e.strerror or e}): free disk space or set "
                "GHQA_CACHE_DIR to a writable directory"
            ) from None

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = connect_wal(path, timeout=60, durable=False)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                db.execute("COMMIT")
            db.execute("SELECT count(*) FROM snapshots").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self.db.close()

    def snapshot(self, commit: str, paths: Sequence[str]) -> int | None:
        row = self.db.execute(
            "SELECT id FROM snapshots WHERE commit_sha = ? AND paths = ?",
            (commit, paths_key(paths)),
        ).fetchone()
        return int(row[0]) if row else None

    def known_blobs(self, keys: Iterable[BlobKey]) -> dict[BlobKey, int]:
        """Ids of the (sha, lang) pairs already in the store."""
        found: dict[tuple[str, str], int] = {}
        keys = list(keys)
        for i in range(0, len(keys), 400):
            part = keys[i : i + 400]
            shas = sorted({k[0] for k in part})
            marks = ",".join("?" * len(shas))
            rows = self.db.execute(
                f"SELECT id, sha, lang FROM blobs WHERE sha IN ({marks})", shas
            ).fetchall()
            wanted = set(part)
            for blob_id, sha, lang in rows:
                if (sha, lang) in wanted:
                    found[(sha, lang)] = blob_id
        return found

    def write_snapshot(
        self,
        commit: str,
        paths: Sequence[str],
        files: Sequence[FileRow],
        new_blobs: Iterable[BlobRow],
    ) -> int:
        """Store new blobs with their symbols, then the snapshot of ``files``, in one
        transaction. ``new_blobs`` is consumed as it comes (parsing can still be going on), and
        closed if the snapshot turns out to exist already."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            existing = self.snapshot(commit, paths)
            if existing is not None:  # another process finished the same work first
                db.execute("COMMIT")
                _close(new_blobs)
                return existing
            ids = self.known_blobs(f[1] for f in files)
            # The next ids of each table: this transaction is the only writer.
            blob_id, sym, ref = db.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM blobs), "
                "(SELECT coalesce(max(id), 0) FROM symbols), "
                "(SELECT coalesce(max(id), 0) FROM refs)"
            ).fetchone()
            blobs, symbols = _Rows(db, "blobs", 9), _Rows(db, "symbols", 7)
            references = _Rows(db, "refs", 6)
            for key, size, flags, syms, refs in new_blobs:
                if key in ids:
                    continue
                blob_id += 1
                ids[key] = blob_id
                spans = (sym + 1, sym + len(syms), ref + 1, ref + len(refs))
                blobs.add([(blob_id, *key, size, ",".join(sorted(flags)), *spans)])
                symbols.add([(sym + i, blob_id, *s) for i, s in enumerate(syms, 1)])
                sym += len(syms)
                references.add(
                    [
                        (ref + i, blob_id, n, k, lines.count(" ") + 1, lines)
                        for i, (n, k, lines) in enumerate(refs, 1)
                    ]
                )
                ref += len(refs)
            cur = db.execute(
                "INSERT INTO snapshots(commit_sha, paths, created) VALUES (?, ?, ?)",
                (commit, paths_key(paths), time.time()),
            )
            snapshot = int(cur.lastrowid or 0)
            listed = _Rows(db, "files", 5)
            listed.add(
                [
                    (snapshot, path, ids[key], lang, ",".join(sorted(fl)))
                    for path, key, lang, fl in files
                ]
            )
            for table in (blobs, symbols, references, listed):
                table.flush()
            db.execute("COMMIT")
            return snapshot
        except sqlite3.OperationalError as e:
            _rollback(db)
            _close(new_blobs)
            raise IndexingError(
                f"Cannot write the index at {self.path} ({e}): free disk space or set "
                "GHQA_CACHE_DIR to a writable directory"
            ) from None
        except BaseException:
            _rollback(db)
            _close(new_blobs)
            raise


#: The most values one statement binds: SQLite's limit before 3.32 (32,766 since).
_MAX_VALUES = 999


class _Rows:
    """Rows bound for one table, written a hundred or so to an ``INSERT``. Run once per row,
    a statement costs about as much again as binding the row's values: writing kernel/sched's
    index this way takes a fifth less CPU (29 against 36 ms). :meth:`flush` writes the rest."""

    def __init__(self, db: sqlite3.Connection, table: str, columns: int):
        row = f"({', '.join('?' * columns)})"
        self._db = db
        self._size = _MAX_VALUES // columns
        self._one = f"INSERT INTO {table} VALUES {row}"
        self._many = f"INSERT INTO {table} VALUES {', '.join([row] * self._size)}"
        self._pending: list[tuple[object, ...]] = []

    def add(self, rows: list[tuple[object, ...]]) -> None:
        pending = self._pending
        pending += rows
        size = self._size
        if len(pending) >= size:
            full = len(pending) - len(pending) % size
            for k in range(0, full, size):
                self._db.execute(
                    self._many, list(itertools.chain.from_iterable(pending[k : k + size]))
                )
            del pending[:full]

    def flush(self) -> None:
        if self._pending:
            self._db.executemany(self._one, self._pending)
            self._pending.clear()


def _set_aside(path: Path) -> None:
    """Move a damaged index (and its write-ahead log) out of the way, keeping it to look at."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(path.with_name(f"{path.name}.damaged-{stamp}{suffix}"))


def _close(blobs: Iterable[BlobRow]) -> None:
    close = getattr(blobs, "close", None)
    if close is not None:
        close()


def _rollback(db: sqlite3.Connection) -> None:
    """Undo the open transaction, if any; a rollback that fails (a full disk) is left to SQLite,
    which discards an uncommitted transaction when the connection closes or reopens."""
    with contextlib.suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("ROLLBACK")
