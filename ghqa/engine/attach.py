"""Citations the engine adds: a sentence of the answer that names code the model was shown, or
quotes one of its lines, and cites nothing, gets the span it names.

Only code that was shown is ever attached (the lines of a definition that were in front of the
model, or the line it quoted), and the citations still go through verification like the
model's own. Small models often state the right fact without its ``path:lines``; this keeps the
answer checkable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from .answer import Citation
from .citations import parse_citations
from .workspace import FileNotReadable, Workspace

#: Citations attached to one sentence, and to one answer, at most.
PER_SENTENCE = 2
PER_ANSWER = 16

_CODE = re.compile(r"`([^`\n]{2,200})`")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SNAKE = re.compile(r"\b([A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+)\b")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z`*(\[])")

Shown = tuple[str, int, int]


def sentences(text: str) -> Iterator[str]:
    """The answer's sentences and list items, outside code fences; each line of a fenced block
    is a unit of its own (a quoted line)."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            if line.strip():
                yield f"`{line.strip()}`"
            continue
        for part in _SENTENCE_END.split(line):
            if part.strip():
                yield part


def attach_citations(text: str, shown: Iterable[Shown], ws: Workspace) -> list[Citation]:
    """Citations for the sentences of ``text`` that cite nothing, from the ``shown`` code."""
    spans = list(dict.fromkeys(shown))
    if not spans:
        return []
    out: dict[tuple[str, int, int], Citation] = {}
    for sentence in sentences(text):
        if parse_citations(sentence):
            continue
        found = 0
        for target in _targets(sentence, spans, ws):
            key = (target.path, target.start, target.end)
            if key not in out:
                out[key] = target
            found += 1
            if found >= PER_SENTENCE or len(out) >= PER_ANSWER:
                break
        if len(out) >= PER_ANSWER:
            break
    return list(out.values())


def _targets(sentence: str, spans: list[Shown], ws: Workspace) -> Iterator[Citation]:
    """What a sentence points at: quoted lines of the shown code first, then the shown lines
    of the definitions it names, then shown lines that use a name it writes as code."""
    code = _CODE.findall(sentence)
    for quote in code:
        if not _NAME.fullmatch(quote.rstrip("()")) and len(quote) >= 8:
            line = _quoted_line(quote, spans, ws)
            if line is not None:
                yield line
    names = [q.rstrip("()") for q in code if _NAME.fullmatch(q.rstrip("()"))]
    names += _SNAKE.findall(sentence)
    for name in dict.fromkeys(names):
        if len(name) < 3:
            continue
        target = _definition_shown(name, spans, ws)
        if target is None and name in code:
            target = _use_shown(name, spans, ws)
        if target is not None:
            yield target


def _definition_shown(name: str, spans: list[Shown], ws: Workspace) -> Citation | None:
    """The shown lines of ``name``'s definition: the shown span holding its first line, or
    else the largest shown part of its body (a call site inside a long function)."""
    best: tuple[int, Citation] | None = None
    for d in ws.index.definitions(name)[:4]:
        for path, start, end in spans:
            if path != d.path or start > d.end_line or end < d.line:
                continue
            lo, hi = max(start, d.line), min(end, d.end_line)
            rank = 1_000_000 if start <= d.line <= end else hi - lo
            if best is None or rank > best[0]:
                best = (rank, Citation(path, lo, hi))
    return best[1] if best else None


def _use_shown(name: str, spans: list[Shown], ws: Workspace) -> Citation | None:
    """The first shown line that uses ``name`` as a word."""
    word = re.compile(rf"\b{re.escape(name)}\b")
    return _first_shown_line(spans, ws, lambda line: word.search(line) is not None)


def _quoted_line(quote: str, spans: list[Shown], ws: Workspace) -> Citation | None:
    """The shown line that holds ``quote`` (whitespace-insensitive)."""
    wanted = " ".join(quote.split())
    return _first_shown_line(spans, ws, lambda line: wanted in " ".join(line.split()))


def _first_shown_line(
    spans: list[Shown], ws: Workspace, wanted: Callable[[str], bool]
) -> Citation | None:
    for path, start, end in spans:
        try:
            lines = ws.lines(path)
        except FileNotReadable:
            continue
        for n in range(start, min(end, len(lines)) + 1):
            if wanted(lines[n - 1]):
                return Citation(path, n, n)
    return None
