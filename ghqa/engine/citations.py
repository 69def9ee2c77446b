"""Citations: found in a model's prose, coerced from submitted values, verified against the pinned
checkout, and rendered as Markdown permalinks.

A citation is ``path:start-end`` (1-based, inclusive). Verification never trusts the model: the
file must be a regular text file inside the checkout, the lines must exist, a quoted line must be
there (or within a few lines, in which case the span is moved onto it).
"""

from __future__ import annotations

import json
import os
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote as url_quote
from urllib.parse import unquote

from .answer import Citation, DroppedCitation
from .protocol import fenced_spans

#: Spans wider than this many lines are dropped as too vague to check.
MAX_SPAN = 400
#: A quote not found in its span is looked for this many lines before and after it.
QUOTE_WINDOW = 30
_MAX_LINE = 10**9
_MAX_PATH = 1024
_MAX_DEPTH = 6

_PC = r"[\w.\-/+@]"  # a character of a path
_RANGE = r"[ \t]{{0,2}}(?:[-–—]|to)[ \t]{{0,2}}L?(?P<{}>\d{{1,9}})"
_SCAN = re.compile(
    rf"""
    (?P<link>\[(?P<ltext>[^\[\]\n]{{0,300}})\]\((?P<ltarget>[^()\s]{{1,1000}})\))
  | (?P<url>https?://[^\s<>()\[\]`'"]+)
  | (?<!{_PC})(?P<path>{_PC}+)(?!{_PC})`?
    (?:
        :[ \t]?L?(?P<a>\d{{1,9}})(?:{_RANGE.format("a2")})?
      | \#L(?P<b>\d{{1,9}})(?:C\d{{1,6}})?(?:-L?(?P<b2>\d{{1,9}})(?:C\d{{1,6}})?)?
      | [ \t]{{0,3}}[,:]?[ \t]{{0,3}}(?P<paren>\()?(?:(?:at|on|in)[ \t]{{1,3}})?
        [Ll]ines?[ \t]{{0,3}}L?(?P<c>\d{{1,9}})(?:{_RANGE.format("c2")})?(?(paren)\)?)
    )
    (?!\d)
    """,
    re.VERBOSE,
)
_BLOB_URL = re.compile(
    r"https?://[^/\s]+/[^/\s]+/[^/\s]+/blob/[^/\s]+/(?P<path>[^#?\s]+)(?:\?[^#\s]*)?"
    r"#L(?P<s>\d{1,9})(?:C\d{1,6})?(?:-L(?P<e>\d{1,9})(?:C\d{1,6})?)?(?!\d)"
)
_HOSTED_PATH = re.compile(r"[\w-]+(?:\.[\w-]+)+/[^/]+/[^/]+/blob/[^/]+/(?P<path>.+)")
_LETTER = re.compile(r"[^\W\d_]")
_LOOSE = re.compile(
    r"^\s*(?P<path>[^\s:#,]+?)[\s:#,]+(?:lines?\s*)?L?(?P<s>\d{1,9})"
    r"(?:\s*(?:[-–—]|to|\.\.)\s*L?(?P<e>\d{1,9}))?\s*$",
    re.I,
)
_LINES = re.compile(r"^\s*L?(?P<s>\d{1,9})(?:\s*(?:[-–—:]|to|\.\.)\s*L?(?P<e>\d{1,9}))?\s*$", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE_NUMBER = re.compile(r"^\s*L?\d{1,7}(?:[ \t]*[:|│]|\t)[ \t]?")
_PROTECTED = re.compile(
    r"!?\[[^\[\]\n]{0,300}\]\([^()\s]{0,1000}\)"
    r"|<https?://[^\s<>]+>"
    r"|https?://[^\s<>()\[\]`'\"]+"
    r"|^[ \t]{0,3}\[[^\]\n]{1,300}\]:[ \t]*\S+",
    re.M,
)


# -- finding citations in prose --------------------------------------------------------------------


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    citations: tuple[Citation, ...]
    prose: bool  # a plain ``path:lines`` mention, not a link or a URL


def parse_citations(text: str) -> list[Citation]:
    """The citations written in Markdown prose, unique, in order of first appearance.

    Recognizes ``path:259``, ``path:259-284`` (or an en dash), ``path:L259-L284``,
    ``path#L259-L284``, ``path (lines 259-284)``, links to them and GitHub blob URLs with a line
    fragment. A path has a ``/`` or an extension. Runs in linear time on any input."""
    return _unique(c for m in _scan(text) for c in m.citations)


#: Put after a citation of the answer's text that failed verification.
UNVERIFIED = " (unverified)"


def mark_unverified(text: str, dropped: Iterable[Citation]) -> str:
    """``text`` with each citation written in it whose every span was dropped marked where it
    stands (the list of citations only holds verified ones; the text must not look verified)."""
    bad = {(c.path, c.start, c.end) for c in dropped}
    if not bad:
        return text
    cuts: list[int] = []
    for m in _scan(text):
        if all((c.path, c.start, c.end) in bad for c in m.citations):
            end = m.end + (1 if text[m.end : m.end + 1] == "`" and m.prose else 0)
            if not text.startswith(UNVERIFIED, end):
                cuts.append(end)
    for end in reversed(cuts):
        text = text[:end] + UNVERIFIED + text[end:]
    return text


def _scan(text: str) -> Iterator[_Mention]:
    for m in _SCAN.finditer(text):
        if m["link"] is not None:
            found = _target(m["ltarget"]) or tuple(
                c for inner in _scan(m["ltext"]) for c in inner.citations
            )
            if found:
                yield _Mention(m.start(), m.end(), found, False)
        elif m["url"] is not None:
            cite = _from_url(m["url"])
            if cite is not None:
                yield _Mention(m.start(), m.end(), (cite,), False)
        else:
            path = _clean_path(m["path"])
            if path is not None:
                start = int(m["a"] or m["b"] or m["c"])
                end = int(m["a2"] or m["b2"] or m["c2"] or start)
                yield _Mention(m.start(), m.end(), (Citation(path, start, end),), True)


def _target(target: str) -> tuple[Citation, ...]:
    if target.startswith(("http://", "https://")):
        cite = _from_url(target)
        return (cite,) if cite is not None else ()
    return tuple(c for m in _scan(target) for c in m.citations)


def _from_url(url: str) -> Citation | None:
    m = _BLOB_URL.match(url)
    if m is None:
        return None
    path = _clean_path(unquote(m["path"]))
    if path is None:
        return None
    start = int(m["s"])
    return Citation(path, start, int(m["e"] or start))


def _clean_path(raw: str) -> str | None:
    """``raw`` if it looks like a relative file path (a ``/`` or an extension), else None."""
    path = raw.rstrip(".")
    if len(path) > _MAX_PATH:
        return None
    hosted = _HOSTED_PATH.fullmatch(path) if "/blob/" in path else None
    if hosted:
        path = hosted["path"]
    if not path or "//" in path or not _LETTER.search(path):
        return None
    last = path.rsplit("/", 1)[-1]
    _stem, dot, extension = last.rpartition(".")
    if not last or ("/" not in path and not (dot and _LETTER.search(extension))):
        return None
    return path


def _unique(citations: Iterable[Citation]) -> list[Citation]:
    seen: set[tuple[str, int, int]] = set()
    out = []
    for c in citations:
        key = (c.path, c.start, c.end)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


# -- coercing submitted values ---------------------------------------------------------------------


def coerce_citations(raw: object) -> list[Citation]:
    """Citations from what a model submitted: strings (``"path:1-5"``, several in one), dicts
    (``path`` with ``start``/``end``, ``start_line``/``end_line``, ``line`` or ``lines``, and an
    optional ``quote``), ``(path, start[, end])`` sequences, or lists of these. What cannot be
    understood is left out; this never raises on JSON-like input."""
    out: list[Citation] = []
    _coerce(raw, out, 0)
    return _unique(out)


def _coerce(raw: object, out: list[Citation], depth: int) -> None:
    if depth > _MAX_DEPTH or raw is None:
        return
    if isinstance(raw, Citation):
        out.append(raw)
    elif isinstance(raw, str):
        out.extend(_from_string(raw, depth))
    elif isinstance(raw, Mapping):
        _from_mapping(raw, out, depth)
    elif isinstance(raw, (list, tuple)):
        single = _from_tuple(raw)
        if single is not None:
            out.append(single)
        else:
            for item in raw:
                _coerce(item, out, depth + 1)


def _from_string(text: str, depth: int) -> list[Citation]:
    stripped = text.strip()
    if stripped[:1] in ("[", "{") and len(stripped) < 1_000_000:
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            pass
        else:
            found: list[Citation] = []
            _coerce(value, found, depth + 1)
            if found:
                return found
    found = parse_citations(text)
    if found:
        return found
    loose = _LOOSE.match(stripped.strip("`'\""))
    if loose:
        path = _clean_path(loose["path"].strip("`'\""))
        if path is not None:
            start = int(loose["s"])
            return [Citation(path, start, int(loose["e"] or start))]
    return []


def _from_mapping(raw: Mapping[object, object], out: list[Citation], depth: int) -> None:
    path = _first(raw, "path", "file", "file_path", "filepath", "filename")
    if not isinstance(path, str):
        if "citations" in raw:
            _coerce(raw["citations"], out, depth + 1)
        return
    quote = raw.get("quote")
    quote = quote if isinstance(quote, str) and quote.strip() else None
    path = path.strip().strip("`'\"")
    start = _as_line(_first(raw, "start", "start_line", "line_start", "from", "line"))
    end = _as_line(_first(raw, "end", "end_line", "line_end", "to"))
    if start is None:
        span = _as_span(raw.get("lines"))
        if span is None:
            found = parse_citations(path)  # "path": "fair.c:259-284"
            out.extend(replace(c, quote=quote) for c in found[:1])
            return
        start, end = span
    if path:
        out.append(Citation(path, start, start if end is None else end, quote=quote))


def _from_tuple(raw: list[object] | tuple[object, ...]) -> Citation | None:
    if len(raw) not in (2, 3) or not isinstance(raw[0], str):
        return None
    lines = [_as_line(v) for v in raw[1:]]
    if any(n is None for n in lines) or not raw[0].strip():
        return None
    start, end = lines[0], lines[-1]
    assert start is not None and end is not None
    return Citation(raw[0].strip().strip("`'\""), start, end)


def _first(raw: Mapping[object, object], *keys: str) -> object:
    return next((raw[k] for k in keys if raw.get(k) is not None), None)


def _as_line(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= _MAX_LINE else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= _MAX_LINE else None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*L?(\d{1,9})\s*", value)
        return int(m.group(1)) if m else None
    return None


def _as_span(value: object) -> tuple[int, int] | None:
    if isinstance(value, str):
        m = _LINES.match(value)
        if m:
            return int(m["s"]), int(m["e"] or m["s"])
        return None
    if isinstance(value, (list, tuple)) and len(value) in (1, 2):
        lines = [_as_line(v) for v in value]
        if lines[0] is not None and lines[-1] is not None:
            return lines[0], lines[-1]
        return None
    line = _as_line(value)
    return None if line is None else (line, line)


# -- verifying against the checkout ----------------------------------------------------------------


class _Checkout:
    """Files of one checkout, read once per verification."""

    def __init__(self, root: Path, read: Callable[[str], str | None] | None) -> None:
        self.root = str(root)
        try:
            self.real_root = os.path.realpath(root)
        except (OSError, ValueError):
            self.real_root = self.root
        self._read = read
        self._texts: dict[str, str | None] = {}
        self._files: list[str] | None = None

    def kind(self, rel: str) -> str:
        """``"file"``, ``"dir"``, ``"outside"`` (a symlink out of the checkout) or ``"missing"``."""
        full = os.path.join(self.root, rel)
        try:
            if os.path.lexists(full):
                real = os.path.realpath(full)
                if os.path.commonpath([real, self.real_root]) != self.real_root:
                    return "outside"
                if os.path.relpath(real, self.real_root).split(os.sep)[0] == ".git":
                    return "outside"
                if os.path.isdir(real):
                    return "dir"
                return "file" if os.path.isfile(real) else "missing"
        except (OSError, ValueError):
            return "missing"
        return "file" if self._read is not None and self.text(rel) is not None else "missing"

    def text(self, rel: str) -> str | None:
        if rel not in self._texts:
            self._texts[rel] = self._load(rel)
        return self._texts[rel]

    def _load(self, rel: str) -> str | None:
        if self._read is not None:
            try:
                return self._read(rel)
            except Exception:  # noqa: BLE001 - an unreadable file is an unverifiable citation
                return None
        try:
            return Path(self.root, rel).read_bytes().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return None

    def files(self) -> list[str]:
        """Every file under the root (not under ``.git``), as sorted relative paths."""
        if self._files is None:
            found: list[str] = []
            for folder, dirs, names in os.walk(self.root):
                dirs[:] = [d for d in dirs if d != ".git"]
                rel = os.path.relpath(folder, self.root)
                prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
                found.extend(prefix + name for name in names)
            self._files = sorted(found)
        return self._files


def verify_citations(
    citations: Iterable[Citation],
    root: Path,
    commit: str,
    *,
    allowed: Callable[[str], bool] | None = None,
    web_url: str | None = None,
    read: Callable[[str], str | None] | None = None,
) -> tuple[list[Citation], list[DroppedCitation]]:
    """Check each citation against the checkout at ``root`` (the files at ``commit``).

    Kept citations get a normalized path, a valid span, ``commit`` and, with ``web_url``, a
    permalink; nested and repeated spans of a file are merged. Dropped ones say why. ``allowed``
    limits which paths may be cited; ``read`` supplies file text instead of reading ``root``."""
    checkout = _Checkout(root, read)
    where = f"commit {commit[:12]}" if commit else "the checkout"
    kept: list[Citation] = []
    dropped: list[DroppedCitation] = []
    for cite in citations:
        result = _verify(cite, checkout, where, allowed)
        if isinstance(result, str):
            dropped.append(DroppedCitation(cite, result))
        else:
            url = _permalink(web_url, commit, result) if web_url and commit else None
            kept.append(replace(result, commit=commit, url=url))
    return _merge(kept), dropped


def _verify(
    cite: Citation, checkout: _Checkout, where: str, allowed: Callable[[str], bool] | None
) -> Citation | str:
    """The verified citation, or the reason it was dropped."""
    if not isinstance(cite.path, str) or not cite.path.strip():
        return "the citation has no file path"
    if not isinstance(cite.start, int) or not isinstance(cite.end, int):
        return "line numbers must be whole numbers"
    rel = _normalize(cite.path, checkout.real_root)
    if rel is None:
        return f"{_shown(cite.path)} is not a path inside the repository"
    path, problem = _resolve(rel, checkout, where, allowed)
    if path is None:
        return problem
    text = checkout.text(path)
    if text is None:
        return f"{path} could not be read at {where}"
    if "\0" in text:
        return f"{path} is a binary file"
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    start, end = sorted((cite.start, cite.end))
    if start < 1:
        return f"line {start} does not exist: lines start at 1"
    if start > len(lines):
        return f"line {start} is past the end of {path} ({len(lines)} lines)"
    end = min(end, len(lines))
    if end - start + 1 > MAX_SPAN:
        width = end - start + 1
        return f"{path}:{start}-{end} spans {width} lines, too vague to check (max {MAX_SPAN})"
    if cite.quote is not None and isinstance(cite.quote, str):
        span = _place_quote(cite.quote, lines, start, end)
        if span is None:
            return f"quoted text not found near {path}:{start}-{end}"
        start, end = span
    return replace(cite, path=path, start=start, end=end)


def _shown(path: str) -> str:
    """``path`` fit for a one-line message: control characters escaped, at most 100 characters."""
    text = repr(path) if _CONTROL.search(path) else path
    return text if len(text) <= 100 else text[:97] + "..."


def _normalize(raw: str, real_root: str) -> str | None:
    """A repository-relative path, or None when it is unsafe (``..``, ``.git``, control chars)."""
    path = raw.strip().strip("`'\"").replace("\\", "/")
    root = real_root.replace("\\", "/").rstrip("/") + "/"
    if path.startswith(root):
        path = path[len(root) :]
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or _CONTROL.search(path) or any(p in ("..", ".git") for p in parts):
        return None
    return "/".join(parts)


def _resolve(
    rel: str, checkout: _Checkout, where: str, allowed: Callable[[str], bool] | None
) -> tuple[str | None, str]:
    """The file ``rel`` names (itself, or the one file whose path ends with it), or None and the
    reason it cannot be cited."""
    kind, name = checkout.kind(rel), _shown(rel)
    if kind == "outside":
        return None, f"{name} is a symlink that points outside the repository"
    if kind == "dir":
        return None, f"{name} is a directory, not a file"
    if kind == "file":
        if allowed is not None and not allowed(rel):
            return None, f"{name} is not among the files that may be cited"
        return rel, ""
    matches = [f for f in checkout.files() if f.endswith("/" + rel)]
    usable = [f for f in matches if checkout.kind(f) == "file"]
    if allowed is not None:
        usable = [f for f in usable if allowed(f)]
    if len(usable) == 1:
        return usable[0], ""
    if len(usable) > 1:
        shown = ", ".join(usable[:3]) + (", ..." if len(usable) > 3 else "")
        return None, f"{name} is ambiguous: {len(usable)} files match ({shown})"
    if matches:
        return None, f"{name} is not among the files that may be cited"
    return None, f"{name} does not exist at {where}"


def _place_quote(quote: str, lines: list[str], start: int, end: int) -> tuple[int, int] | None:
    """The span, kept when a quoted line is in it, moved (same length) onto the quote when it is
    found exactly once within :data:`QUOTE_WINDOW` lines, else None. Blank quotes are ignored."""
    wanted = _quote_lines(quote)
    if not wanted:
        return start, end
    if any(_quote_at(wanted, lines, i) for i in range(start, end + 1)):
        return start, end
    low, high = max(1, start - QUOTE_WINDOW), min(len(lines), end + QUOTE_WINDOW)
    hits = [i for i in range(low, high + 1) if _quote_at(wanted, lines, i)]
    if len(hits) != 1:
        return None
    at, last = hits[0], hits[0] + len(wanted) - 1
    length = end - start + 1
    new_start = at if at < start else last - length + 1
    return max(1, min(new_start, at)), min(len(lines), max(new_start + length - 1, last))


def _quote_lines(quote: str) -> list[str]:
    raw = [line for line in quote.split("\n") if line.strip()]
    if raw and all(_LINE_NUMBER.match(line) for line in raw):
        raw = [_LINE_NUMBER.sub("", line, count=1) for line in raw]
    wanted = [" ".join(line.split()) for line in raw]
    if wanted:
        wanted[0] = wanted[0].removeprefix("...").removeprefix("…").strip()
        wanted[-1] = wanted[-1].removesuffix("...").removesuffix("…").strip()
    return [w for w in wanted if w]


def _quote_at(wanted: list[str], lines: list[str], first: int) -> bool:
    """Whether the quoted lines match the file from line ``first`` (1-based) on: equal after
    whitespace normalization, or a part of the line when at least 8 characters long."""
    if first < 1 or first + len(wanted) - 1 > len(lines):
        return False
    for offset, want in enumerate(wanted):
        line = " ".join(lines[first - 1 + offset].split())
        if not (line == want or (len(want) >= 8 and want in line)):
            return False
    return True


def _merge(citations: list[Citation]) -> list[Citation]:
    """Repeated spans and spans inside another span of the same file merged into the wider one,
    at the place the first of them had."""
    kept: list[Citation] = []
    for c in citations:
        if any(k.path == c.path and k.start <= c.start and c.end <= k.end for k in kept):
            continue
        inside = [
            i
            for i, k in enumerate(kept)
            if k.path == c.path and c.start <= k.start and k.end <= c.end
        ]
        if not inside:
            kept.append(c)
            continue
        kept[inside[0]] = c
        for i in reversed(inside[1:]):
            del kept[i]
    return kept


def _permalink(web_url: str, commit: str, c: Citation) -> str:
    path = url_quote(c.path, safe="/")
    return f"{web_url.rstrip('/')}/blob/{commit}/{path}{_fragment(c.start, c.end)}"


def _fragment(start: int, end: int) -> str:
    return f"#L{start}" if start == end else f"#L{start}-L{end}"


# -- rendering -------------------------------------------------------------------------------------


def render_citations(citations: list[Citation]) -> str:
    """A Markdown list of sources, one ``- [`path:start-end`](url)`` per citation (the plain
    label in code when there is no url). Empty for no citations; the caller adds a heading."""
    items = []
    for c in citations:
        label = _code(c.label)
        items.append(f"- [{label}]({c.url})" if c.url else f"- {label}")
    return "\n".join(items)


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def link_citations(text: str, citations: list[Citation]) -> str:
    """``text`` with each mention of a verified citation (``fair.c:259``, ```` `path:1-5` ````,
    ``[path:1-5]``) turned into a Markdown link to its permalink. Fenced code, existing links and
    URLs are left alone; a mention inside an inline code span links the whole span."""
    linkable = [c for c in citations if c.url]
    if not linkable:
        return text
    fences = fenced_spans(text)
    protected = _union([*fences, *((m.start(), m.end()) for m in _PROTECTED.finditer(text))])
    code = _code_spans(text, fences)
    edits: list[tuple[int, int, str, str]] = []
    for mention in _scan(text):
        if not mention.prose or _overlaps(protected, mention.start, mention.end):
            continue
        url = _url_for(mention.citations[0], linkable)
        if url is None:
            continue
        start, end = _widen(code, mention.start, mention.end)
        label = text[start:end]
        bracketed = (
            start > 0 and text[start - 1] == "[" and text[end : end + 1] == "]"
            and text[end + 1 : end + 2] not in ("(", "[")
        )  # fmt: skip
        if bracketed:
            start, end = start - 1, end + 1
        if edits and start < edits[-1][1]:
            continue
        edits.append((start, end, label, url))
    out, pos = [], 0
    for start, end, label, url in edits:
        out.append(text[pos:start])
        out.append(f"[{label}]({url})")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _url_for(mention: Citation, citations: list[Citation]) -> str | None:
    """The permalink for a mention: the citation of the same file that equals or contains it."""
    rel = _normalize(mention.path, "/")
    if rel is None:
        return None
    same = [c for c in citations if c.path == rel or c.path.endswith("/" + rel)]
    if len({c.path for c in same}) != 1:
        return None
    start, end = sorted((mention.start, mention.end))
    for c in same:
        if (c.start, c.end) == (start, end):
            return c.url
    for c in same:
        if c.url and c.start <= start and end <= c.end:
            return c.url.split("#", 1)[0] + _fragment(start, end)
    return None


def _code_spans(text: str, fences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inline code spans outside fenced blocks: a backtick run up to the next run as long."""
    runs = [m for m in re.finditer(r"`+", text) if not _overlaps(fences, m.start(), m.end())]
    by_length: dict[int, list[int]] = {}
    for i, m in enumerate(runs):
        by_length.setdefault(len(m.group()), []).append(i)
    spans = []
    i = 0
    while i < len(runs):
        same = by_length[len(runs[i].group())]
        k = bisect_right(same, i)
        if k < len(same):
            spans.append((runs[i].start(), runs[same[k]].end()))
            i = same[k] + 1
        else:
            i += 1
    return spans


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether ``[start, end)`` overlaps one of ``spans`` (sorted, non-nested)."""
    i = bisect_left(spans, (start, start))
    return any(s < end and start < e for s, e in spans[max(0, i - 1) : i + 1])


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint spans covering the same offsets as ``spans``."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _widen(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` grown to cover the code spans it overlaps."""
    for s, e in spans:
        if s < end and start < e:
            start, end = min(start, s), max(end, e)
    return start, end
