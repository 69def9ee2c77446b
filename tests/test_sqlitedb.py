"""ghqa's SQLite files can be opened by many threads at once while they are still new."""

from __future__ import annotations

import threading
from pathlib import Path

from ghqa.engine.cache import ResponseCache
from ghqa.sqlitedb import connect_wal


def test_a_new_response_cache_opened_by_many_threads_at_once(tmp_path: Path) -> None:
    for round_ in range(20):
        path = tmp_path / f"responses-{round_}.sqlite"
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def open_it(path: Path, start: threading.Barrier, errors: list[BaseException]) -> None:
            start.wait()
            try:
                ResponseCache(path, "refresh").close()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_it, args=(path, start, errors)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


def test_a_cache_that_need_not_be_durable_never_waits_for_the_disk(tmp_path: Path) -> None:
    # The index is a cache: nothing it writes waits for the disk, from the switch of its new
    # file to WAL on; the other files keep SQLite's default.
    fast = connect_wal(tmp_path / "index.sqlite", durable=False)
    safe = connect_wal(tmp_path / "history.sqlite")
    try:
        assert fast.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert safe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert fast.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
        assert safe.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        fast.close()
        safe.close()
