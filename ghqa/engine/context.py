"""Finding the code a question is about, and packing it into a token budget.

The question's identifiers are looked up in the index: a named symbol (``Class.method`` for a
method of one class; the macro line for a name a ``DEFINE_*`` macro pastes together; for a
function the index does not know, the definition holding all its words) brings its definition,
the functions it calls (two levels), the macros and constants its body uses, and its call
sites, each with the function around it. Plain words bring the definitions that share the most
of them (bm25 over the lexical index), with what those call, use and are called by; the best
matches in files the question names ("loadavg"); names the words spell out ("the scheduler's
tick" is ``sched_tick``); and symbols whose names contain them. Each candidate span has a
score; :func:`pack` takes the best spans that fit, merges neighbours, and renders them with
line numbers so the model can cite ``path:start-end``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from ..index import Symbol
from ..index.lexical import STOP_WORDS, query_terms, split_identifier
from ..index.symbols import CALLABLE_KINDS, CONTAINER_KINDS
from .workspace import FileNotReadable, Workspace

#: Spans scoring at least this are about the question (definitions, calls), not near a word.
STRONG = 2.0
#: The share of the budget that weak spans (hints) may take when there are strong ones.
HINTS = 0.25
#: Tokens of a code block's heading (its path, lines and the definition around it).
HEADING_TOKENS = 24
#: A definition longer than this is shown by its head only.
MAX_SPAN_LINES = 160
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALLED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_TYPE_KINDS = (
    frozenset({"macro", "constant", "typedef", "enumerator", "variable"}) | CONTAINER_KINDS
)


@dataclass(frozen=True)
class Span:
    path: str
    start: int
    end: int
    score: float
    why: str


@dataclass
class Context:
    """Code chosen for a question: its text, its spans, and the size of all candidates."""

    text: str
    spans: list[Span]
    tokens: int
    relevant_tokens: int
    terms: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({s.path for s in self.spans})


def question_terms(question: str) -> list[str]:
    """Identifier-like words of the question, most specific first, without stop words."""
    seen: dict[str, None] = {}
    for word in _IDENT.findall(question):
        if len(word) < 3 or word.lower() in STOP_WORDS:
            continue
        seen.setdefault(word, None)
    return sorted(seen, key=lambda w: (not _specific(w), -len(w)))


def _specific(word: str) -> bool:
    return "_" in word or any(c.isdigit() for c in word) or word != word.lower()


def _identifier(word: str) -> bool:
    """Whether ``word`` can only be code (``exec_start``, ``rqClock``), not an acronym of prose
    (``CPU``, ``EEVDF``)."""
    return "_" in word or (word != word.lower() and word != word.upper())


def _marked(word: str, question: str) -> bool:
    """Whether the question writes ``word`` as code: in backticks or as a call."""
    return (
        f"`{word}`" in question
        or re.search(rf"(?<![\w.]){re.escape(word)}\(", question) is not None
    )


def _stems(word: str) -> list[str]:
    w = word.lower()
    out = [w]
    for suffix in ("ing", "ed", "es", "s", "ation", "ion"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            out.append(w[: -len(suffix)])
    return out


_QUALIFIED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\b")
_ASKS_CALLERS = re.compile(r"\b(?:calls?|called|callers?|call sites?|invokes?|invoked)\b", re.I)
_TYPE_WORD = re.compile(r"\b(?:struct|union|enum|class|type)\s+`?([A-Za-z_][A-Za-z0-9_]*)")


def named_in(question: str, terms: list[str]) -> list[str]:
    """The words of ``question`` written as names of code: with an underscore, a digit or a
    capital inside, in backticks, as a call, or after ``struct``/``class``/...; the rest are
    plain words ("fair", "tasks"), never taken as the name of a symbol."""
    typed = _TYPE_WORD.findall(question)
    marked = [t for t in terms if _specific(t) or _marked(t, question)]
    return list(dict.fromkeys([*typed, *marked]))


def candidates(ws: Workspace, question: str) -> tuple[list[Span], list[str], list[str]]:
    """Scored spans for ``question`` (unbounded), the terms used and the symbols it names."""
    terms = question_terms(question)
    spans: list[Span] = []
    named: list[str] = []
    bodies: list[Symbol] = []
    used: list[str] = []
    asked = _ASKS_CALLERS.search(question) is not None
    for owner, member in _QUALIFIED.findall(question)[:4]:  # Serializer.loads: Serializer's
        defs = [
            d
            for d in ws.index.definitions(member)
            if d.path in ws.entries and (d.scope or "").split(".")[-1] == owner
        ]
        if defs and member not in named:
            named.append(member)
            _add_named(ws, member, defs, spans, bodies, 10.0, asked)
    for term in named_in(question, terms):
        defs = [d for d in ws.index.definitions(term) if d.path in ws.entries]
        defs = _pasted(ws, term) + defs
        if not defs:
            if _identifier(term):
                used.append(term)  # a local or a field of no indexed definition: its uses
            if _identifier(term) and _marked(term, question):  # a function it does not know
                stand_in = _stand_in(ws, term)
                if stand_in is not None and stand_in.name not in named:
                    named.append(stand_in.name)
                    _add_named(ws, stand_in.name, [stand_in], spans, bodies, 8.0, asked)
            continue
        named.append(term)
        _add_named(ws, term, defs, spans, bodies, 10.0, asked)
        if _identifier(term) and not any(
            d.kind in CALLABLE_KINDS or d.kind in CONTAINER_KINDS for d in defs
        ):
            used.append(term)
    called = _add_callees(ws, bodies, spans)
    _add_used_names(ws, bodies, spans, 4.0)
    _add_used_names(ws, called, spans, 3.0)
    _add_uses(ws, used, spans, 3.5 if named else 5.0)
    _add_lexical(ws, question, spans, weight=2.5 if named else 8.0)
    _add_spelled(ws, question, named, spans)
    words = [t for t in terms if t not in named]
    if words:
        _add_fuzzy(ws, words, spans, weight=0.5 if named else 1.0)
    return spans, terms, named


def _add_named(
    ws: Workspace,
    name: str,
    defs: list[Symbol],
    spans: list[Span],
    bodies: list[Symbol],
    score: float,
    callers_asked: bool,
) -> None:
    """The definitions of a symbol the question names (the bodies among them go to
    ``bodies``), and its call sites, each with the function around it; when the question asks
    who calls, the call sites come before the callees' bodies and longer callers are whole."""
    site = 6.5 if callers_asked else 4.5
    longest = _CALLER_LINES_ASKED if callers_asked else _CALLER_LINES
    for d in defs[:4]:
        spans.append(_definition_span(ws, d, score, f"definition of {name}"))
        if d.kind in CALLABLE_KINDS or d.kind == "macro":
            bodies.append(d)
    for ref in ws.index.callers(name)[:12]:
        spans.append(Span(ref.path, max(1, ref.line - 2), ref.line + 2, site, f"calls {name}"))
        around = ws.enclosing(ref.path, ref.line)
        if around is not None and around.end_line - around.line < longest:
            spans.append(_definition_span(ws, around, 3.0, f"calls {name}"))


#: Names of more words than this are not looked for as pasted together.
_PASTED_PIECES = 8


def _pasted(ws: Workspace, name: str) -> list[Symbol]:
    """Where a macro defines ``name`` by pasting a word into it, which the index knows by that
    word: ``DEFINE_SCHED_CLASS(fair)`` defines ``fair_sched_class``."""
    found: list[Symbol] = []
    pieces = name.split("_")
    if len(pieces) > _PASTED_PIECES:
        return found
    for n in range(1, len(pieces)):
        for word in ("_".join(pieces[:n]), "_".join(pieces[n:])):
            if not word:
                continue
            definer = re.compile(rf"\b[A-Z0-9_]*DEFINE\w*\(\s*{re.escape(word)}\s*\)")
            for sym in ws.index.symbols(name=word):
                if sym.path not in ws.entries:
                    continue
                try:
                    line = ws.lines(sym.path)[sym.line - 1]
                except (FileNotReadable, IndexError):
                    continue
                if definer.search(line):
                    found.append(sym)
    return found


def _stand_in(ws: Workspace, name: str) -> Symbol | None:
    """The definition that best stands in for a name the index does not know (renamed, or
    misremembered: ``find_busiest_group`` is ``sched_balance_find_src_group`` in later
    kernels): the function or type whose name, comment and body hold every word of ``name``.
    Constants (``SCHED_DEADLINE``) are left alone: they are defined outside the scope."""
    words = split_identifier(name)[:-1]  # the last is the whole name
    if len(words) < 2 or name.isupper():
        return None
    for sym, _ in ws.lexical(" ".join(words), limit=5, every=True):
        if sym.kind in CALLABLE_KINDS or sym.kind in CONTAINER_KINDS:
            return sym
    return None


#: The best lexical matches count as strong spans (they are definitions, not stray lines).
LEXICAL_STRONG = 5
#: The best lexical matches in a file the question names count as strong spans.
LEXICAL_FILE = 5
#: More files than this named by the question's words say nothing about where to look.
_NAMED_FILES = 3
#: Uses of a variable among the best lexical matches shown.
_LEXICAL_USES = 16
#: The functions around the best few lexical matches (what they call, who calls them) count.
LEXICAL_GRAPH = 3


def _new_callees(
    ws: Workspace, name: str, seen: set[str], limit: int | None = None
) -> Iterator[Symbol]:
    """The readable function definitions of what ``name`` calls (among its first ``limit``
    calls), skipping and then adding to the names in ``seen``."""
    for ref in ws.index.callees(name)[:limit]:
        if ref.name in seen:
            continue
        seen.add(ref.name)
        for d in ws.index.definitions(ref.name)[:1]:
            if d.kind in CALLABLE_KINDS and d.path in ws.entries:
                yield d


def _add_neighbours(ws: Workspace, sym: Symbol, spans: list[Span], score: float) -> None:
    """The functions ``sym`` calls and the call sites of ``sym``, at ``score``."""
    for d in _new_callees(ws, sym.name, {sym.name}, limit=12):
        spans.append(_definition_span(ws, d, score, f"called by {sym.name}"))
    for ref in ws.index.callers(sym.name)[:6]:
        spans.append(Span(ref.path, max(1, ref.line - 2), ref.line + 2, score, f"calls {sym.name}"))


#: A caller shorter than this is shown whole (the longer one when the question asks who calls).
_CALLER_LINES = 60
_CALLER_LINES_ASKED = 120
#: A short definition (a macro, a constant) is shown with this many lines on either side.
_PAD_SHORT = 4
#: At most this many lines of comment above a definition are shown with it.
_MAX_DOC_LINES = 40
_SLASH_COMMENTS = (".c", ".h", ".cc", ".cpp", ".hpp", ".go", ".rs", ".java", ".js", ".ts", ".tsx")


def _definition_span(ws: Workspace, sym: Symbol, score: float, why: str) -> Span:
    """A definition with its leading comment; a short one with its neighbours."""
    end = min(sym.end_line, sym.line + MAX_SPAN_LINES - 1)
    start = _doc_start(ws, sym.path, sym.line)
    if sym.end_line - sym.line < 3 and sym.kind not in CALLABLE_KINDS:
        start = min(start, max(1, sym.line - _PAD_SHORT))
        end = sym.end_line + _PAD_SHORT
    return Span(sym.path, start, max(end, sym.line), score, why)


def _doc_start(ws: Workspace, path: str, line: int) -> int:
    """The first line of the comment block right above ``line`` (``line`` if there is none)."""
    try:
        lines = ws.lines(path)
    except FileNotReadable:
        return line
    slashes = path.endswith(_SLASH_COMMENTS)
    first = line
    n = line - 1  # the line above, 1-based
    while 1 <= n <= len(lines) and line - n <= _MAX_DOC_LINES:
        text = lines[n - 1].strip()
        if slashes:
            comment = text.startswith(("/*", "*", "//")) or text.endswith("*/")
        else:
            comment = text.startswith(("#", "@"))
        if not comment:
            break
        first = n
        n -= 1
    return first


def _add_uses(
    ws: Workspace, names: list[str], spans: list[Span], score: float, limit: int = 16
) -> None:
    """Lines that use the fields, variables and locals the question names (the first
    ``limit`` of each), each shown with its neighbours (the heading names the function around
    them), and the functions passed along with them."""
    for name in names[:4]:
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        for hit in ws.grep(pattern, limit=limit):
            spans.append(Span(hit.path, max(1, hit.line - 3), hit.line + 3, score, f"uses {name}"))
            for d in _passed(ws, hit.path, hit.line, name):
                spans.append(_definition_span(ws, d, score, f"passed with {name}"))


#: At most this many characters of a statement are read for the functions it passes along.
_STATEMENT_CHARS = 400


def _passed(ws: Workspace, path: str, line: int, name: str) -> Iterator[Symbol]:
    """The functions named, not called, in the statement at ``line`` (it may go on over the
    next two lines): what is passed along with ``name``, such as a comparator or ops table."""
    try:
        text = "\n".join(x[:_STATEMENT_CHARS] for x in ws.lines(path)[line - 1 : line + 2])
    except FileNotReadable:
        return
    called = set(_CALLED.findall(text))
    for word in dict.fromkeys(_IDENT.findall(text)):
        if word != name and word not in called and len(word) > 2:
            for d in ws.index.definitions(word)[:1]:
                if d.kind in CALLABLE_KINDS and d.path in ws.entries:
                    yield d


def _add_lexical(ws: Workspace, question: str, spans: list[Span], weight: float) -> None:
    """Definitions whose names, comments and bodies share the most (and the rarest) words with
    the question (bm25 over the index's lexical documents), scored by their rank; and the best
    few of the files the question names in words ("the load average" is loadavg.c)."""
    found = ws.lexical(question)
    if not found:
        return
    top = found[0][1]
    files = named_files(ws, question)
    if files:
        for sym, score in ws.lexical(question, LEXICAL_FILE, paths=files):
            strength = weight * min(1.0, score / top) + STRONG
            spans.append(_definition_span(ws, sym, strength, f"matches the question in {sym.path}"))
    for rank, (sym, score) in enumerate(found):
        strength = weight * score / top + (STRONG if rank < LEXICAL_STRONG else 0.0)
        spans.append(_definition_span(ws, sym, strength, "matches the question's words"))
        if rank < LEXICAL_GRAPH and sym.kind in CALLABLE_KINDS:
            _add_neighbours(ws, sym, spans, strength / 2)
            _add_used_names(ws, [sym], spans, strength / 2)
        if rank < LEXICAL_GRAPH and sym.kind in CONTAINER_KINDS:
            _add_type_users(ws, sym.name, spans, strength / 2)
        if rank < LEXICAL_STRONG and sym.kind == "variable":
            _add_uses(ws, [sym.name], spans, strength / 2, limit=_LEXICAL_USES)
        if rank < LEXICAL_STRONG and sym.kind not in CALLABLE_KINDS:
            for other in ws.index.definitions(sym.name)[1:3]:  # its declarations elsewhere
                if other.path in ws.entries and (other.path, other.line) != (sym.path, sym.line):
                    spans.append(_definition_span(ws, other, strength / 2, f"declares {sym.name}"))


def _add_type_users(ws: Workspace, name: str, spans: list[Span], score: float) -> None:
    """The functions that declare something of type ``name`` (what works on a data
    structure), whole when short, else the line with its neighbours."""
    for ref in ws.index.references(name, kind="type")[:12]:
        around = ws.enclosing(ref.path, ref.line)
        if (
            around is not None
            and around.kind in CALLABLE_KINDS
            and (around.end_line - around.line < _CALLER_LINES)
        ):
            spans.append(_definition_span(ws, around, score, f"uses the type {name}"))
        else:
            spans.append(Span(ref.path, max(1, ref.line - 3), ref.line + 3, score, f"uses {name}"))


def _add_spelled(ws: Workspace, question: str, named: list[str], spans: list[Span]) -> None:
    """Definitions the question names in words: every word of the name is a word of the
    question's prose (not of the names it writes as code), or an abbreviation of one ("the
    scheduler's tick" is ``sched_tick``)."""
    words = {stem for token in _IDENT.findall(question) if not _identifier(token)
             for w in split_identifier(token) for stem in _stems(w)}  # fmt: skip
    for sym in ws.spelled(words):
        if sym.name not in named:
            score = STRONG + 2.0 * (len(split_identifier(sym.name)) - 1)
            spans.append(_definition_span(ws, sym, score, "named in words"))


def named_files(ws: Workspace, question: str) -> list[str]:
    """The files whose names are words of the question (``loadavg.c`` for "the global load
    average (loadavg)", ``cpufreq_schedutil.c`` for "the schedutil governor"), when few are.
    A file is named by its whole name, or by its last word when that is long enough to be
    distinctive (``stop_task.c`` is not named by "task")."""
    words = set(query_terms(question))
    found = [path for path in ws.entries if words.intersection(_file_words(path))]
    return found if len(found) <= _NAMED_FILES else []


def _file_words(path: str) -> tuple[str, ...]:
    stem = PurePosixPath(path).stem.lower()
    parts = split_identifier(stem.replace("-", "_"))
    last = parts[-2] if len(parts) > 1 else ""  # the whole name comes last
    return (stem, last) if len(last) >= 6 else (stem,)


def _add_callees(ws: Workspace, bodies: list[Symbol], spans: list[Span]) -> list[Symbol]:
    """Functions called by the named functions, two levels deep; returns the first level."""
    seen = {b.name for b in bodies}
    level = bodies
    first: list[Symbol] = []
    for depth, score in ((1, 6.0), (2, 3.0)):
        following: list[Symbol] = []
        for body in level:
            for d in _new_callees(ws, body.name, seen):
                spans.append(_definition_span(ws, d, score, f"called by {body.name}"))
                following.append(d)
        level = following[:12]
        if depth == 1:
            first = level
        if not level:
            break
    return first


def _add_used_names(ws: Workspace, bodies: list[Symbol], spans: list[Span], score: float) -> None:
    """Macros, constants and types that the named function bodies use."""
    seen: set[str] = {b.name for b in bodies}
    for body in bodies[:4]:
        try:
            lines = ws.lines(body.path)[body.line - 1 : body.end_line]
        except FileNotReadable:
            continue
        for word in dict.fromkeys(_IDENT.findall("\n".join(lines))):
            if word in seen or len(word) < 3:
                continue
            seen.add(word)
            for d in ws.index.definitions(word)[:2]:
                if d.kind in _TYPE_KINDS and d.path in ws.entries:
                    span = _definition_span(ws, d, score, f"used by {body.name}")
                    spans.append(replace(span, end=min(span.end, d.line + 40)))


def _add_fuzzy(ws: Workspace, terms: list[str], spans: list[Span], weight: float) -> None:
    """Symbols whose names contain words of the question, and lines that mention them; the
    more of the words a name or a line holds, the higher it scores."""
    stems = [_stems(t)[-1] for t in terms[:8]]
    if not stems:
        return
    found: dict[tuple[str, int], Symbol] = {}
    for stem in stems:
        for d in ws.index.matching(stem, limit=30):
            if d.path in ws.entries:
                found[(d.path, d.line)] = d
    for d in found.values():
        hits = sum(stem in d.name.lower() for stem in stems)
        bonus = 1.0 if d.kind in CALLABLE_KINDS else 0.5
        score = weight * bonus * hits + 0.5
        spans.append(_definition_span(ws, d, score, "name matches question"))
    pattern = re.compile("|".join(rf"\b{re.escape(s)}" for s in stems), re.IGNORECASE)
    for hit in ws.grep(pattern, limit=400):
        hits = len({m.group(0).lower() for m in pattern.finditer(hit.text)})
        score = weight * 0.5 * hits * hits
        spans.append(Span(hit.path, max(1, hit.line - 2), hit.line + 2, score, "mentions question"))


def merge(spans: Iterable[Span], gap: int = 3) -> list[Span]:
    """Overlapping or nearly adjacent spans of a file become one (keeping the best score)."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.path, s.start, -s.end)):
        last = out[-1] if out else None
        if last is not None and last.path == s.path and s.start <= last.end + gap:
            out[-1] = Span(
                s.path, last.start, max(last.end, s.end), max(last.score, s.score), last.why
            )
        else:
            out.append(s)
    return out


def pack(
    ws: Workspace, spans: list[Span], budget_tokens: int, hints: float = HINTS
) -> tuple[str, list[Span], int]:
    """The best spans that fit ``budget_tokens``, rendered with line numbers, in file order.

    Weak spans (a word of the question near a line) get at most ``hints`` of the budget when
    strong ones (definitions, call sites) exist: they are hints, not the answer."""
    covered: dict[str, set[int]] = {}
    chosen: list[Span] = []
    used = 0
    has_strong = any(s.score >= STRONG for s in spans)
    weak_room = int(budget_tokens * hints) if has_strong else budget_tokens
    weak_used = 0
    for span in sorted(spans, key=lambda s: (-s.score, s.path, s.start)):
        cost, new = _new_lines(ws, span, covered)
        weak = span.score < STRONG
        if not new or used + cost > budget_tokens or (weak and weak_used + cost > weak_room):
            continue
        covered.setdefault(span.path, set()).update(new)
        chosen.append(span)
        used += cost
        weak_used += cost if weak else 0
    chosen = merge(chosen)
    blocks = [f"{heading(ws, s)}\n{ws.numbered(s.path, s.start, s.end)}" for s in chosen]
    return "\n\n".join(blocks), chosen, used


def heading(ws: Workspace, span: Span) -> str:
    """A code block's heading: its lines, and the definition it starts or sits in."""
    head = f"### {span.path} (lines {span.start}-{span.end})"
    around = ws.enclosing(span.path, span.start)
    if around is not None and around.line < span.start and around.end_line >= span.end:
        where = f"lines {around.line}-{around.end_line}"
        return f"{head}, inside {around.kind} `{around.name}` ({where})"
    defined = [
        f"{s.kind} `{s.name}`"
        for s in ws.file_symbols(span.path)
        if span.start <= s.line <= span.end
        and (s.kind in CALLABLE_KINDS or s.kind in _HEADED_KINDS)
    ]
    if defined:
        more = f" and {len(defined) - 3} more" if len(defined) > 3 else ""
        return f"{head}: {', '.join(defined[:3])}{more}"
    return head


#: Definitions a code block's heading names (besides functions).
_HEADED_KINDS = CONTAINER_KINDS | {"macro", "variable", "constant", "typedef"}


#: Callers and callees listed per named symbol in the index block.
INDEX_LIST = 12


def index_facts(ws: Workspace, named: list[str]) -> str:
    """What the index knows of the symbols the question names: where each is defined, the
    functions that call it (with the line of each call) and the functions it calls."""
    lines: list[str] = []
    for name in named[:3]:
        defs = [d for d in ws.index.definitions(name) if d.path in ws.entries][:3]
        if not defs:
            continue
        where = ", ".join(f"{d.kind} at {d.path}:{d.line}-{d.end_line}" for d in defs)
        lines.append(f"- `{name}`: {where}")
        calls = [r for r in ws.index.callers(name) if r.path in ws.entries]
        if calls:
            shown = ", ".join(
                f"`{r.caller or '(top level)'}` ({r.path}:{r.line})" for r in calls[:INDEX_LIST]
            )
            more = f" and {len(calls) - INDEX_LIST} more" if len(calls) > INDEX_LIST else ""
            lines.append(
                f"  - called by {len({r.caller for r in calls})} function(s): {shown}{more}"
            )
        if any(d.kind in CALLABLE_KINDS for d in defs):
            callees: dict[str, str] = {}
            for r in ws.index.callees(name):
                if r.name not in callees and len(callees) < INDEX_LIST:
                    found = [d for d in ws.index.definitions(r.name) if d.path in ws.entries]
                    callees[r.name] = (
                        f"`{r.name}` ({found[0].path}:{found[0].line}-{found[0].end_line})"
                        if found
                        else f"`{r.name}`"
                    )
            if callees:
                lines.append(f"  - calls: {', '.join(callees.values())}")
    if not lines:
        return ""
    return "From the index (definitions, call sites and calls of the names in the question):\n" + (
        "\n".join(lines)
    )


def covered_tokens(ws: Workspace, spans: Iterable[Span]) -> int:
    """Tokens of the union of ``spans``."""
    covered: dict[str, set[int]] = {}
    total = 0
    for span in spans:
        cost, new = _new_lines(ws, span, covered)
        covered.setdefault(span.path, set()).update(new)
        total += cost
    return total


def _new_lines(ws: Workspace, span: Span, covered: dict[str, set[int]]) -> tuple[int, list[int]]:
    """The lines of ``span`` not yet covered, and their token cost."""
    try:
        costs = ws.line_tokens(span.path)
    except FileNotReadable:
        return 0, []
    have = covered.get(span.path, set())
    new = [n for n in range(span.start, min(span.end, len(costs)) + 1) if n not in have]
    cost = sum(costs[n - 1] for n in new)
    return cost + (HEADING_TOKENS if new and not have else 0), new


def gather(ws: Workspace, question: str, budget_tokens: int, hints: float = HINTS) -> Context:
    """The code most relevant to ``question`` that fits ``budget_tokens``, of which weak spans
    take at most ``hints`` when there are strong ones (see :func:`pack`)."""
    spans, terms, named = candidates(ws, question)
    strong = [s for s in spans if s.score >= STRONG]
    relevant = covered_tokens(ws, strong or spans)
    facts = index_facts(ws, named)
    facts_tokens = ws.tokens(facts) if facts else 0
    text, chosen, used = pack(ws, spans, budget_tokens - facts_tokens, hints)
    if facts:  # last, next to the question: a small model heeds the end of its prompt
        text = f"{text}\n\n{facts}" if text else facts
    return Context(text, chosen, used + facts_tokens, relevant, terms, named)
