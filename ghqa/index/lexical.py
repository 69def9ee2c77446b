"""A lexical index of the symbols (SQLite FTS5, bm25), to find code that a question describes in
words rather than names.

Each definition is one document, its FTS rowid the symbol's id: the words of its name
(``sched_prio_to_wmult``: sched, prio, to, wmult, and the whole name), of its doc comment (the
comment block right above it, a comment after it on its own line, a Python docstring) and of its
body (identifiers split the same way, and the comments inside it), the body capped so that a giant
function does not outweigh everything. Words are stemmed (porter), so "admitted" meets "admit".

The documents live in the index's own database, beside the symbols they describe, and are built
lazily: the first search in a snapshot adds the blobs that are not in yet (one transaction; a
blob's symbols never change, so what is added is never rewritten), later searches only look.
Building reads file text through the caller's ``read(path)``, so the caller decides which files
may be read.
"""

from __future__ import annotations

import functools
import itertools
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from ..errors import IndexingError
from .repoindex import RepoIndex
from .symbols import Symbol

#: Reads a file of the checkout as lines (``None``, or LookupError/OSError, when it cannot).
Reader = Callable[[str], "Sequence[str] | None"]
#: A symbol's lexical document: its id, and the words of its name, doc comment and body.
Document = tuple[int, str, str, str]

_TABLES = (
    # Contentless: only the inverted index and the column sizes that bm25 needs are stored.
    "CREATE VIRTUAL TABLE IF NOT EXISTS lexical_docs USING fts5("
    "name, doc, body, content='', tokenize=\"porter unicode61 tokenchars '_'\")",
    # The blobs whose symbols are in lexical_docs, and the snapshots whose blobs all are.
    "CREATE TABLE IF NOT EXISTS lexical_blobs(blob INTEGER PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS lexical_snapshots(snapshot INTEGER PRIMARY KEY)",
)
#: bm25 weights of the columns name, doc, body.
_WEIGHTS = (10.0, 4.0, 1.0)
_SEARCH = f"""SELECT f.path, s.line, s.end_line, s.name, s.kind, s.scope,
    -bm25(lexical_docs, {", ".join(map(str, _WEIGHTS))}) AS score
FROM lexical_docs JOIN symbols s ON s.id = lexical_docs.rowid
CROSS JOIN files f INDEXED BY files_blob ON f.blob = s.blob
WHERE lexical_docs MATCH ? AND f.snapshot = ? AND f.flags = ''{{paths}}
ORDER BY score DESC, f.path, s.line LIMIT ?"""
# The live blobs of a snapshot not yet added, one path each (any path of a blob has its text).
_MISSING = """SELECT f.blob, min(f.path), b.lang, b.sym_lo, b.sym_hi
FROM files f JOIN blobs b ON b.id = f.blob
WHERE f.snapshot = ? AND f.flags = '' AND f.blob NOT IN (SELECT blob FROM lexical_blobs)
GROUP BY f.blob"""
_BLOB_SYMBOLS = "SELECT id, name, line, end_line FROM symbols WHERE id BETWEEN ? AND ?"
_ADDED = "SELECT 1 FROM lexical_blobs WHERE blob = ?"
_COMPLETE = "SELECT 1 FROM lexical_snapshots WHERE snapshot = ?"

#: At most this many words of a doc comment, and of a body; a word counts at most
#: ``_BODY_REPEATS`` times in a body.
_DOC_WORDS = 300
_BODY_WORDS = 300
_BODY_REPEATS = 3
#: The words of a body are counted among its first this many.
_BODY_SCAN = 4 * _BODY_WORDS
#: At most this many lines of a comment above a definition, or of a docstring, are read.
_DOC_LINES = 80
#: At most this many terms of a question are searched for.
_QUERY_TERMS = 40

_WORD = re.compile(r"\w+")
_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+[uUlL]*")

#: Words of a question that say nothing about which code it is about.
STOP_WORDS = frozenset(
    """a about above after all also an and any are as at be been before being below between both
    but by can could did do does doing done each either for from get gets got has have having how
    i if in into is it its itself just like make makes many may me more most much must my need
    no not now of off on once one only or other our out over own same should so some such than
    that the their them then there these they this those through to too under up use used uses
    using very via was way we were what when where which while who whom why will with within
    would you your code file files function functions explain tell show find repository repo
    mean means called call calls defined define definition implemented implement happen happens
    handle handles every whether instead without work works""".split()
)


def lexical_search(
    index: RepoIndex,
    read: Reader,
    query: str,
    limit: int = 40,
    every: bool = False,
    paths: Sequence[str] = (),
) -> list[tuple[Symbol, float]]:
    """The definitions of the index's live files that best match the words of ``query`` (a
    question in plain words, identifiers welcome), best first, each with its bm25 score
    (positive, higher is better); with ``every``, only those that have every word (stop words
    included: for the words of an identifier, where none is idle). Builds the
    lexical documents of the snapshot first if needed (see :func:`ensure_lexical`). Never fails
    on the text of ``query``; raises IndexingError when the documents cannot be written. With
    ``paths``, only the definitions in those files."""
    terms = query_terms(query, keep_stop_words=every)
    if not terms or limit <= 0 or not fts5_available():  # without FTS5, nothing is built
        return []
    ensure_lexical(index, read)
    match = (" AND " if every else " OR ").join(f'"{t}"' for t in terms)
    sql = _SEARCH.format(paths=f" AND f.path IN ({','.join('?' * len(paths))})" if paths else "")
    rows = index.store.db.execute(sql, (match, index.snapshot, *paths, limit)).fetchall()
    return [(Symbol(*row[:6]), float(row[6])) for row in rows]


def ensure_lexical(index: RepoIndex, read: Reader) -> int:
    """Add the documents of the snapshot's live blobs that are not in the lexical index yet;
    returns how many blobs were added (0 once the snapshot is complete). The documents are made
    before the write transaction, and only blobs still missing inside it are written, so two
    processes doing this at once add each blob once."""
    db = index.store.db
    if not fts5_available() or _complete(db, index.snapshot):
        return 0
    try:
        for statement in _TABLES:  # a no-op once they exist
            db.execute(statement)
        docs: dict[int, list[Document]] = {}
        for blob, path, lang, lo, hi in db.execute(_MISSING, (index.snapshot,)).fetchall():
            rows = db.execute(_BLOB_SYMBOLS, (lo, hi)).fetchall()
            docs[blob] = list(documents(_read(read, path) if rows else None, lang, rows))
        db.execute("BEGIN IMMEDIATE")
        new = [b for b in docs if not db.execute(_ADDED, (b,)).fetchone()]
        db.executemany(
            "INSERT INTO lexical_docs(rowid, name, doc, body) VALUES (?, ?, ?, ?)",
            (doc for b in new for doc in docs[b]),
        )
        db.executemany("INSERT INTO lexical_blobs(blob) VALUES (?)", ((b,) for b in new))
        db.execute("INSERT OR IGNORE INTO lexical_snapshots VALUES (?)", (index.snapshot,))
        db.execute("COMMIT")
    except sqlite3.Error as e:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise IndexingError(
            f"Cannot write the lexical index at {index.store.path} ({e}): free disk space or "
            "set GHQA_CACHE_DIR to a writable directory"
        ) from None
    return len(new)


def _complete(db: sqlite3.Connection, snapshot: int) -> bool:
    try:
        row = db.execute(_COMPLETE, (snapshot,)).fetchone()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # made by the first build
            return False
        raise
    return row is not None


def _read(read: Reader, path: str) -> Sequence[str] | None:
    try:
        return read(path)
    except (LookupError, OSError, UnicodeError):
        return None


@functools.cache
def fts5_available() -> bool:
    """Whether this Python's SQLite has FTS5 (without it, searches find nothing)."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(a)")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        db.close()


# --------------------------------------------------------------------------------- documents


def documents(
    lines: Sequence[str] | None, lang: str, symbols: Sequence[tuple[int, str, int, int]]
) -> Iterator[Document]:
    """The document of each symbol (id, name, line, end_line) of a file of language ``lang``
    with ``lines``; only the words of the names when the text is unknown."""
    hash_comments = lang == "python"
    for sym_id, name, line, end in symbols:
        names = " ".join(_name_words(name))
        if lines is None or not 0 < line <= len(lines):
            yield sym_id, names, "", ""
            continue
        end = max(line, min(end, len(lines)))
        doc = _leading_comment(lines, line - 1, hash_comments)
        doc += _trailing_comment(lines, line - 1, end, hash_comments)
        if hash_comments:
            doc += _docstring(lines, line - 1, end)
        yield sym_id, names, " ".join(_words(doc, _DOC_WORDS)), _body(lines, line - 1, end)


@functools.lru_cache(maxsize=1 << 16)
def split_identifier(token: str) -> tuple[str, ...]:
    """The lowercase words of an identifier (snake_case, camelCase, digits), then the whole
    identifier when it has more than one word: ``sched_prio_to_wmult`` gives sched, prio, to,
    wmult, sched_prio_to_wmult. One-letter words and hexadecimal numbers are left out."""
    if _HEX.fullmatch(token):
        return ()
    parts: list[str] = []
    for chunk in token.split("_"):
        if chunk.isascii():
            parts += (p.lower() for p in _PART.findall(chunk))
        elif chunk:
            parts.append(chunk.lower())
    words = tuple(p for p in parts if len(p) > 1)
    whole = token.lower()
    if len(parts) > 1 and whole.strip("_") and whole not in words:
        words += (whole,)
    return words


def _name_words(name: str) -> list[str]:
    found = [w for token in _WORD.findall(name) for w in split_identifier(token)]
    return found or [name]


def _words(lines: Sequence[str], limit: int) -> list[str]:
    found: list[str] = []
    for text in lines:
        for token in _WORD.findall(text):
            found += split_identifier(token)
        if len(found) >= limit:
            return found[:limit]
    return found


def _body(lines: Sequence[str], start: int, end: int) -> str:
    """The words of lines ``start``..``end - 1`` (numbers left out), each at most
    ``_BODY_REPEATS`` times, at most ``_BODY_WORDS`` in all, in order of first use. Order does
    not matter to the search (it looks for words, never phrases), so they come grouped."""
    words: list[str] = []
    i = start
    while i < end and len(words) < _BODY_SCAN:
        text = "\n".join(lines[i : min(end, i + 32)])
        words += itertools.chain.from_iterable(map(_body_words, _WORD.findall(text)))
        i += 32
    counts = Counter(words[:_BODY_SCAN])
    for w, n in counts.items():
        if n > _BODY_REPEATS:
            counts[w] = _BODY_REPEATS
    return " ".join(itertools.islice(counts.elements(), _BODY_WORDS))


@functools.lru_cache(maxsize=1 << 16)
def _body_words(token: str) -> tuple[str, ...]:
    return tuple(w for w in split_identifier(token) if not w.isdigit())


def _leading_comment(lines: Sequence[str], i: int, hash_comments: bool) -> list[str]:
    """The comment block that ends on the line right above line ``i`` (decorators skipped): one
    ``/* */`` block, or a run of ``//`` (``#`` in Python) lines. A blank line in between means
    the comment is about something else (a section, ``#endif /* CONFIG_X */``, a licence), as
    does a ``*/`` closing a comment that follows code (a field's trailing comment)."""
    j = i - 1
    while hash_comments and j >= 0 and lines[j].lstrip().startswith("@"):
        j -= 1
    if j < 0:
        return []
    last = lines[j].strip()
    marker = "#" if hash_comments else "//"
    if last.startswith(marker):
        top = j
        while top > 0 and j - top < _DOC_LINES and lines[top - 1].lstrip().startswith(marker):
            top -= 1
        return list(lines[top : j + 1])
    if hash_comments or not last.endswith("*/"):
        return []
    top = j
    while top >= 0 and j - top < _DOC_LINES:
        text = lines[top]
        opened = text.rfind("/*")
        if opened >= 0 and (top < j or opened < text.rfind("*/")):
            return list(lines[top : j + 1]) if not text[:opened].strip() else []
        top -= 1
    return []


def _trailing_comment(lines: Sequence[str], i: int, end: int, hash_comments: bool) -> list[str]:
    """A comment after the code on the definition's first line, when the definition is one line
    (a field, a macro, an enumerator): ``int nr; /* runnable tasks */``, and the lines that
    continue it."""
    if end - i > 1:
        return []
    text = lines[i]
    if hash_comments:
        at = text.find("#")
        return [text[at:]] if at > 0 and text[:at].strip() else []
    at = text.find("//")
    if at < 0:
        at = text.find("/*")
    if at <= 0 or not text[:at].strip():
        return []
    found = [text[at:]]
    j = i + 1
    while "*/" not in found[-1] and j < len(lines) and j - i < 10 and "/*" in found[0]:
        found.append(lines[j])
        j += 1
    return found


def _docstring(lines: Sequence[str], i: int, end: int) -> list[str]:
    """The docstring of the Python ``def`` or ``class`` at line ``i``: the string that starts
    its body."""
    j, depth = i, 0
    while j < end:  # the header ends on the line ending in ':' outside brackets
        code = lines[j].split("#", 1)[0].rstrip()
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        j += 1
        if depth <= 0 and code.endswith(":"):
            break
    else:
        return []
    while j < end and not lines[j].strip():
        j += 1
    if j >= end:
        return []
    first = lines[j].lstrip().lstrip("rRuUbB")
    quote = first[:3] if first[:3] in ('"""', "'''") else first[:1]
    if quote not in ('"""', "'''", '"', "'"):
        return []
    found = [first]
    k = j
    while quote not in first[len(quote) :] and k + 1 < end and k - j < _DOC_LINES:
        k += 1
        found.append(lines[k])
        if quote in lines[k]:
            break
    return found


# ----------------------------------------------------------------------------------- queries


def query_terms(question: str, keep_stop_words: bool = False) -> list[str]:
    """The words of ``question`` to search for: stop words dropped (unless kept), identifiers
    split like the documents' (each term is ``\\w+``, safe inside a quoted FTS5 string)."""
    seen: dict[str, None] = {}
    for token in _WORD.findall(question):
        for w in split_identifier(token):
            if keep_stop_words or w not in STOP_WORDS:
                seen.setdefault(w, None)
    return list(seen)[:_QUERY_TERMS]
