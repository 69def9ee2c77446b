"""The engine's view of one checkout: the indexed files, their text, and symbol queries.

Everything the strategies and the REPL read goes through here, so it can only reach files the
index lists (the requested paths at the pinned commit), never a symlink out of the checkout.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import IndexingError
from ..index import FileEntry, RepoIndex, Symbol
from ..index.lexical import split_identifier
from ..index.symbols import CALLABLE_KINDS, CONTAINER_KINDS
from .tokens import estimated_counter

#: Files larger than this are not read by the engine (their symbols are still listed).
MAX_READ_BYTES = 4_000_000
_SKIP_FLAGS = frozenset({"binary", "symlink", "large"})


class FileNotReadable(LookupError):
    """A path that is not a readable file of this checkout; the message says why."""


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    text: str


class Workspace:
    """Files and symbols of an indexed checkout, with cached file text."""

    def __init__(self, index: RepoIndex):
        self.index = index
        self.root: Path = index.checkout.root
        self.commit = index.commit
        self.entries: dict[str, FileEntry] = {f.path: f for f in index.files()}
        self._lines: dict[str, list[str]] = {}
        self._symbols: dict[str, list[Symbol]] = {}
        self._costs: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._names: dict[tuple[str, ...], list[Symbol]] | None = None
        #: Counts the tokens of a text for the model that reads it: its tokenizer where there
        #: is one, else (None) an estimate calibrated per language.
        self.count: Callable[[str], int] | None = None
        #: Every how many lines shown code carries its line number (and on a block's first and
        #: last line): numbers are several tokens a line, which a slow model pays for.
        self.number_every = 1

    @property
    def readable(self) -> list[str]:
        """Paths of the text files the engine may read, in path order."""
        return [
            p
            for p, f in self.entries.items()
            if not (f.flags & _SKIP_FLAGS) and f.size <= MAX_READ_BYTES
        ]

    def resolve(self, path: str) -> str:
        """The indexed path meant by ``path`` (exact, or a unique suffix such as ``fair.c``)."""
        path = path.strip()
        while path.startswith("./"):
            path = path[2:]
        path = path.lstrip("/")
        if path in self.entries:
            return path
        tails = [p for p in self.entries if p.endswith("/" + path)]
        if len(tails) == 1:
            return tails[0]
        if tails:
            raise FileNotReadable(f"{path} is ambiguous: {', '.join(tails[:5])}")
        raise FileNotReadable(f"{path} is not a file of this checkout (see repo.files)")

    def lines(self, path: str) -> list[str]:
        """The lines of a file (without newlines)."""
        path = self.resolve(path)
        with self._lock:
            cached = self._lines.get(path)
        if cached is not None:
            return cached
        entry = self.entries[path]
        if entry.flags & _SKIP_FLAGS or entry.size > MAX_READ_BYTES:
            raise FileNotReadable(f"{path} is {', '.join(sorted(entry.flags)) or 'too large'}")
        full = self.root / path
        try:
            if full.is_symlink() or not full.resolve().is_relative_to(self.root.resolve()):
                raise FileNotReadable(f"{path} points outside the checkout")
            data = full.read_bytes()
        except OSError as exc:
            raise FileNotReadable(f"{path} cannot be read: {exc.strerror}") from None
        if b"\0" in data[:8192]:
            raise FileNotReadable(f"{path} is binary")
        lines = data.decode("utf-8", "replace").splitlines()
        with self._lock:
            self._lines[path] = lines
        return lines

    def line_tokens(self, path: str) -> list[int]:
        """The tokens of each line of ``path`` as :meth:`numbered` shows it (cached)."""
        path = self.resolve(path)
        with self._lock:
            costs = self._costs.get(path)
        if costs is None:
            lines = self.lines(path)
            width = len(str(len(lines)))
            count = self.count or estimated_counter(self.entries[path].lang).count
            costs = [count(self._line(n, line, width) + "\n") for n, line in enumerate(lines, 1)]
            with self._lock:
                self._costs[path] = costs
        return costs

    def tokens(self, text: str) -> int:
        """The tokens of ``text`` (prose, or code of no one language) for the model."""
        return (self.count or estimated_counter(None).count)(text)

    def lexical(
        self, question: str, limit: int = 30, every: bool = False, paths: Sequence[str] = ()
    ) -> list[tuple[Symbol, float]]:
        """Definitions of readable files (of ``paths`` when given) ranked by the words they
        share with ``question`` (with ``every``, only those that have all its words)."""
        from ..index.lexical import lexical_search

        def read(path: str) -> list[str] | None:
            try:
                return self.lines(path)
            except FileNotReadable:
                return None

        try:
            found = lexical_search(self.index, read, question, limit, every, paths)
        except IndexingError:
            return []  # no room to store the lexical index: rank without it
        return [(s, score) for s, score in found if s.path in self.entries]

    def spelled(self, words: set[str]) -> list[Symbol]:
        """Definitions of readable files with a name of two words or more, each of them one of
        ``words`` (lowercase), or the start of one (an abbreviation: ``sched`` of "scheduler").
        """
        if self._names is None:
            names: dict[tuple[str, ...], list[Symbol]] = {}
            for s in self.index.symbols():
                parts = split_identifier(s.name)[:-1]  # the whole name comes last
                if len(parts) >= 2 and s.path in self.entries and not s.name.endswith("_H"):
                    names.setdefault(parts, []).append(s)
            self._names = names
        return [
            s
            for parts, found in self._names.items()
            if all(_spells(part, words) for part in parts)
            for s in found
        ]

    def file_symbols(self, path: str) -> list[Symbol]:
        """The definitions in ``path``, in line order (cached)."""
        with self._lock:
            found = self._symbols.get(path)
        if found is None:
            found = self.index.file_symbols(path)
            with self._lock:
                self._symbols[path] = found
        return found

    def enclosing(self, path: str, line: int) -> Symbol | None:
        """The innermost function, method or type definition of ``path`` around ``line``."""
        best: Symbol | None = None
        for s in self.file_symbols(path):
            if s.line > line:
                break
            if s.end_line >= line and (s.kind in CALLABLE_KINDS or s.kind in CONTAINER_KINDS):
                if best is None or s.end_line - s.line <= best.end_line - best.line:
                    best = s
        return best

    def text(self, path: str) -> str:
        return "\n".join(self.lines(path))

    def numbered(self, path: str, start: int = 1, end: int | None = None) -> str:
        """Lines ``start``..``end`` of ``path``, each prefixed with its number."""
        lines = self.lines(path)
        start = max(1, start)
        end = len(lines) if end is None else min(end, len(lines))
        width = len(str(end))
        if self.number_every == 1:
            return "\n".join(f"{n:>{width}}| {lines[n - 1]}" for n in range(start, end + 1))
        return "\n".join(
            self._line(n, lines[n - 1], width, n in (start, end)) for n in range(start, end + 1)
        )

    def _line(self, n: int, line: str, width: int, numbered: bool = False) -> str:
        """Line ``n`` as :meth:`numbered` shows it."""
        if self.number_every == 1:
            return f"{n:>{width}}| {line}"
        if numbered or n % self.number_every == 0:
            return f"{n}| {line}"
        return f"  {line}"

    def grep(
        self, pattern: str | re.Pattern[str], paths: Iterable[str] | None = None, limit: int = 200
    ) -> list[Hit]:
        """Lines matching ``pattern`` (a regular expression), in file order."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        hits: list[Hit] = []
        for path in self.readable if paths is None else [self.resolve(p) for p in paths]:
            try:
                lines = self.lines(path)
            except FileNotReadable:
                continue
            for n, line in enumerate(lines, 1):
                if regex.search(line):
                    hits.append(Hit(path, n, line))
                    if len(hits) >= limit:
                        return hits
        return hits

    def size_tokens(self, paths: Iterable[str] | None = None) -> int:
        """An estimate of the tokens in ``paths`` (all readable files by default)."""
        chosen = self.readable if paths is None else list(paths)
        return sum(self.entries[p].size for p in chosen if p in self.entries) // 4


def _spells(part: str, words: set[str]) -> bool:
    """Whether the word ``part`` of a name is one of ``words`` or abbreviates one."""
    return part in words or (
        len(part) >= 3 and any(w.startswith(part) or (len(w) >= 4 and part.startswith(w))
                               for w in words)
    )  # fmt: skip
