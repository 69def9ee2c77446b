"""The trace of one question: a JSONL file with the tree of everything the engine did.

Each line is an event with an ``id``, the ``parent`` it belongs to (a root turn, a code cell, a
batch of sub-calls), a ``type`` and a time offset. Large values (prompts, code outputs, files)
are written once as a ``blob`` line keyed by their hash and referenced as ``{"ref": sha}``, so
a conversation that grows turn by turn is not copied into every record.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from pathlib import Path
from typing import IO, Any

#: Strings longer than this are stored once, by reference.
INLINE_LIMIT = 1024


class Trace:
    """Writes events to ``path`` (or keeps them in memory when ``path`` is None)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._blobs: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")

    def event(self, type: str, parent: int | None = None, **data: Any) -> int:
        """Record an event and return its id (to use as a ``parent``)."""
        with self._lock:
            eid = next(self._ids)
            record: dict[str, Any] = {"id": eid, "parent": parent, "type": type}
            record["t"] = round(time.monotonic() - self._start, 4)
            record.update({k: self._pack(v) for k, v in data.items()})
            self._write(record)
            self.events.append(record)
            return eid

    def blob(self, sha: str) -> str | None:
        """The text stored under ``sha``."""
        return self._blobs.get(sha)

    def resolve(self, value: Any) -> Any:
        """A value with its references replaced by the stored text."""
        if isinstance(value, dict):
            if set(value) == {"ref"} and value["ref"] in self._blobs:
                return self._blobs[value["ref"]]
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _pack(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > INLINE_LIMIT:
            sha = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:20]
            if sha not in self._blobs:
                self._blobs[sha] = value
                self._write({"type": "blob", "sha": sha, "size": len(value), "text": value})
            return {"ref": sha}
        if isinstance(value, dict):
            return {k: self._pack(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._pack(v) for v in value]
        return value

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._file.flush()


def load_trace(path: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The events and blobs of a trace file (for viewers and tests)."""
    events: list[dict[str, Any]] = []
    blobs: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("type") == "blob":
                blobs[record["sha"]] = record["text"]
            else:
                events.append(record)
    return events, blobs
