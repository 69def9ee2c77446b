"""The ``repo`` object and sub-call helpers inside the REPL worker.

This file is not imported by ghqa: its text runs in the sandboxed worker after hardening. It
wraps the host calls (answered by the engine's process, which holds the index and the keys)
in objects that print well. File text is fetched once per file and cached in the worker, so
grep and read run inside the sandbox, under its time and memory limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

_host: Callable[..., Any]  # provided by the sandbox
HostError: type[Exception]  # provided by the sandbox


class File(NamedTuple):
    path: str
    size: int
    lang: str | None

    def __repr__(self) -> str:
        return f"{self.path} ({self.size:,} bytes, {self.lang or 'text'})"


class Symbol(NamedTuple):
    path: str
    line: int
    end_line: int
    name: str
    kind: str
    scope: str | None

    def __repr__(self) -> str:
        scope = f" in {self.scope}" if self.scope else ""
        return f"{self.kind} {self.name}{scope} at {self.path}:{self.line}-{self.end_line}"


class Call(NamedTuple):
    path: str
    line: int
    name: str
    caller: str | None

    def __repr__(self) -> str:
        return f"{self.path}:{self.line} in {self.caller or '(top level)'}: calls {self.name}"


class Hit(NamedTuple):
    path: str
    line: int
    text: str

    def __repr__(self) -> str:
        return f"{self.path}:{self.line}: {self.text.strip()}"


class Chunk(NamedTuple):
    path: str
    start: int
    end: int
    tokens: int
    symbols: tuple[str, ...]
    text: str

    def __repr__(self) -> str:
        names = ", ".join(self.symbols[:6]) + (" ..." if len(self.symbols) > 6 else "")
        return f"<chunk {self.path}:{self.start}-{self.end} ~{self.tokens} tokens: {names}>"


class Definition(NamedTuple):
    path: str
    start: int
    end: int
    kind: str
    name: str
    code: str

    def __repr__(self) -> str:
        return f"{self.kind} {self.name} at {self.path}:{self.start}-{self.end}\n{self.code}"

    def __str__(self) -> str:
        return repr(self)


MAX_READ_LINES = 2000


class Repo:
    """The repository at its pinned commit. Line numbers are 1-based; ranges are inclusive."""

    def __init__(self) -> None:
        self._text: dict[str, list[str]] = {}
        self._files: list[File] | None = None

    @property
    def files(self) -> list[File]:
        """Every file in scope (path, size, language)."""
        if self._files is None:
            self._files = [File(*f) for f in _host("repo.files")]
        return self._files

    def lines(self, path: str) -> list[str]:
        """The lines of ``path`` (no numbers), e.g. for your own searches."""
        found = self._text.get(path)
        if found is None:
            real, text = _host("repo.text", path)
            found = text.split("\n")
            self._text[path] = self._text[real] = found
        return found

    def read(self, path: str, start: int = 1, end: int | None = None) -> str:
        """Lines ``start``..``end`` of ``path``, each prefixed with its line number."""
        lines = self.lines(path)
        start = max(1, int(start))
        last = len(lines) if end is None else min(int(end), len(lines))
        note = ""
        if last - start + 1 > MAX_READ_LINES:
            note = f"\n[read stops at {MAX_READ_LINES} lines; the file has {len(lines)}]"
            last = start + MAX_READ_LINES - 1
        _host("repo.note_read", path, start, last)
        width = len(str(last))
        body = "\n".join(f"{n:>{width}}| {lines[n - 1]}" for n in range(start, last + 1))
        return body + note

    def grep(
        self,
        pattern: str,
        paths: str | Iterable[str] | None = None,
        context: int = 0,
        max_hits: int = 200,
        flags: int = 0,
    ) -> list[Hit]:
        """Lines matching the regular expression ``pattern`` in ``paths`` (files or directory
        prefixes; default: every file). ``context`` adds that many lines around each hit."""
        regex = re.compile(pattern, flags)
        wanted = [paths] if isinstance(paths, str) else list(paths or [])
        hits: list[Hit] = []
        for f in self.files:
            if wanted and not any(
                f.path == p or f.path.startswith(p.rstrip("/") + "/") for p in wanted
            ):
                continue
            try:
                lines = self.lines(f.path)
            except HostError:
                continue
            for n, line in enumerate(lines, 1):
                if regex.search(line):
                    if context:
                        lo, hi = max(1, n - context), min(len(lines), n + context)
                        text = "\n".join(lines[lo - 1 : hi])
                        hits.append(Hit(f.path, n, text))
                    else:
                        hits.append(Hit(f.path, n, line))
                    if len(hits) >= max_hits:
                        return hits
        return hits

    def symbols(
        self,
        name: str | None = None,
        kind: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
        contains: str | None = None,
    ) -> list[Symbol]:
        """Definitions (functions, types, macros, ...) filtered by exact ``name``, name
        ``prefix`` or ``contains``, ``kind`` and ``path`` (file or directory)."""
        rows = _host(
            "repo.symbols", name=name, kind=kind, path=path, prefix=prefix, contains=contains
        )
        return [Symbol(*r) for r in rows]

    def definitions(self, name: str) -> list[Definition]:
        """Every definition of ``name`` with its code (numbered lines)."""
        out = []
        for path, start, end, kind, sym in _host("repo.definitions", name):
            out.append(Definition(path, start, end, kind, sym, self.read(path, start, end)))
        return out

    def definition(self, name: str) -> Definition | None:
        """The main definition of ``name`` with its code (numbered lines), or None."""
        found = self.definitions(name)
        return found[0] if found else None

    def callers(self, name: str) -> list[Call]:
        """Call sites of ``name``, each with the function that contains it."""
        return [Call(*r) for r in _host("repo.callers", name)]

    def callees(self, name: str) -> list[Call]:
        """Calls made inside the definition of ``name``."""
        return [Call(*r) for r in _host("repo.callees", name)]

    def chunks(
        self, paths: str | Iterable[str] | None = None, max_tokens: int = 6000
    ) -> list[Chunk]:
        """Files cut at definition boundaries into chunks of at most ``max_tokens``, with text
        (numbered lines), ready for ``llm_query_batched``."""
        wanted = [paths] if isinstance(paths, str) else list(paths) if paths else None
        out = []
        for path, start, end, tokens, symbols in _host("repo.chunks", wanted, max_tokens):
            out.append(Chunk(path, start, end, tokens, tuple(symbols), self.read(path, start, end)))
        return out

    def __repr__(self) -> str:
        return f"<repo: {len(self.files)} files; see help(repo)>"


repo = Repo()


def llm_query(prompt: str) -> str:
    """Ask the sub model one question (give it the code it needs in the prompt)."""
    return str(_host("llm_query", str(prompt)))


def llm_query_batched(prompts: list[str]) -> list[str]:
    """Ask the sub model several questions at once; they run concurrently. Failed prompts
    come back as strings starting with '[error'."""
    return [str(r) for r in _host("llm_query_batched", [str(p) for p in prompts])]
