"""ghqa's SQLite files can be opened by many threads at once while they are still new."""

from __future__ import annotations

import threading
from pathlib import Path

from ghqa.engine.cache import ResponseCache


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
