"""Cleaning the text that crosses the Action's trust boundary, in both directions.

Anyone can comment on an issue, and answers are generated from untrusted repository text, so:

* what a commenter asks (``parse_trigger``, ``clean_question``, ``split_target``) loses what a
  reader of the comment cannot see (HTML comments, invisible and bidi-control characters, markup)
  before it reaches a model;
* what the Action posts (``sanitize_answer``) has no token-shaped strings (``redact_secrets``),
  pings nobody (mentions are put in code), loads nothing from elsewhere (no images, no links or URLs
  to other hosts: both are exfiltration channels), keeps only a few attribute-free HTML tags and
  fits in a comment.

``sanitize_answer`` reads Markdown line by line, the way GitHub does where it matters: fenced code,
inline code spans, HTML blocks, tables, links and references. Where it cannot be sure, it treats
text as prose that GitHub renders (and neutralizes it) rather than as code it may leave alone, and
it escapes every backtick, bracket and ``<`` it does not account for, so GitHub cannot build a code
span, link or tag from them that was not checked.
"""

from __future__ import annotations

import base64
import bisect
import functools
import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

REDACTED = "[redacted]"
LINK_REMOVED = "[link removed]"
#: The only HTML tags an answer keeps (without attributes); the Action uses them itself.
SAFE_TAGS = frozenset({"details", "summary", "br", "sub", "sup", "b", "i", "code", "pre"})

# --------------------------------------------------------------------------- invisible characters

_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810)]
)
_INVISIBLE_RANGES = ((0xFE00, 0xFE0F), (0xE0000, 0xE007F), (0xE0100, 0xE01EF))


@functools.lru_cache(maxsize=8192)
def _replacement(ch: str) -> str | None:
    """What replaces ``ch`` (None: keep it). Format (Cf: zero-width, bidi, BOM, soft hyphen, tags),
    control (but newline and tab), surrogate, filler and variation-selector characters go; line and
    paragraph separators become newlines."""
    category = unicodedata.category(ch)
    if category in ("Zl", "Zp"):
        return "\n"
    code = ord(ch)
    if (
        category in ("Cf", "Cs")
        or (category == "Cc" and ch not in "\n\t")
        or code in _INVISIBLE
        or any(lo <= code <= hi for lo, hi in _INVISIBLE_RANGES)
    ):
        return ""
    return None


def _strip_invisible(text: str) -> str:
    """``text`` with Unix newlines and without invisible, bidi-control and control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    table: dict[int, str] = {}
    for ch in set(text):
        if not (" " <= ch <= "~" or ch in "\n\t"):
            repl = _replacement(ch)
            if repl is not None:
                table[ord(ch)] = repl
    return text.translate(table) if table else text


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_COMMENT_OPEN = re.compile(r"(?<!<)<+(?=!--)")  # from the first "<" of a run only: linear


def _remove_comments(text: str) -> str:
    """Without HTML comments (an unterminated one runs to the end), nor a ``<!--`` that removing
    them spliced together."""
    return _COMMENT_OPEN.sub("", _COMMENT.sub("", text))


# --------------------------------------------------------------------------- Markdown code

_FENCE = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
_TICKS = re.compile(r"`+")


def _opener(line: str) -> tuple[str, int, int] | None:
    """``(char, length, indent)`` when ``line`` opens a fenced code block."""
    m = _FENCE.fullmatch(line)
    if not m or (m[2][0] == "`" and "`" in m[3]):
        return None
    return m[2][0], len(m[2]), len(m[1])


def _closes(line: str, fence: tuple[str, int, int]) -> bool:
    m = _FENCE_CLOSE.fullmatch(line)
    return m is not None and m[1][0] == fence[0] and len(m[1]) >= fence[1]


def _code_spans(line: str) -> Iterator[tuple[int, int]]:
    """Inline code spans: a backtick run up to the next run of the same length."""
    runs: dict[int, list[int]] = {}
    for run in _TICKS.finditer(line):
        runs.setdefault(len(run[0]), []).append(run.start())
    end = 0
    for run in _TICKS.finditer(line):
        if run.start() >= end:
            starts = runs[len(run[0])]
            k = bisect.bisect_left(starts, run.end())
            if k < len(starts):
                end = starts[k] + len(run[0])
                yield run.start(), end


# --------------------------------------------------------------------------- questions

_HIDDEN_ELEMENT = re.compile(r"<(script|style|template)\b[^<>]*>.*?(?:</\1\s*>|\Z)", re.S | re.I)
_ANY_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]*)?/?>")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br details dd div dl dt figcaption figure footer h1 h2 h3 "
    "h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th thead tr "
    "ul".split()
)
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]{1,999}\]:.*$", re.M)
_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){2,}")


def _tag_text(m: re.Match[str]) -> str:
    return "\n" if m[1].lower() in _BLOCK_TAGS else ""


_SPREAD_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?=\s)[^<>]*>")  # linear: stops at "<"


def _untag_spread(m: re.Match[str]) -> str:
    """A tag whose attributes span lines (``<img\\nalt="..." src=x>``), as its text."""
    return _tag_text(m) if "\n" in m[0] else m[0]


def _untag(text: str) -> str:
    """HTML tags outside code reduced to their text (block-level ones to a line break); what a
    reader sees in code (``vector<int>``) stays. A tag spread over lines of prose goes too."""
    lines = text.split("\n")
    fence: tuple[str, int, int] | None = None
    prose: list[list[str]] = [[]]  # runs of lines outside fenced code
    for line in lines:
        if fence is not None:
            if _closes(line, fence):
                fence = None
            prose[-1].append(line)
            prose.append([])
            continue
        fence = _opener(line)
        if fence is None:
            prose[-1].append(_untag_line(line))
        else:
            prose[-1].append(line)
            prose.append([])
    out: list[str] = []
    for k, run in enumerate(prose):
        # Every run but the last ends with a fence line (an opener or code), kept as it is.
        body, tail = (run, []) if k == len(prose) - 1 else (run[:-1], run[-1:])
        joined = "\n".join(body)
        if "\n" in joined and "<" in joined:
            body = _SPREAD_TAG.sub(_untag_spread, joined).split("\n")
        out += body + tail
    return "\n".join(out)


def _untag_line(line: str) -> str:
    parts, pos = [], 0
    for start, end in _code_spans(line):
        parts += [_ANY_TAG.sub(_tag_text, line[pos:start]), line[start:end]]
        pos = end
    parts.append(_ANY_TAG.sub(_tag_text, line[pos:]))
    return "".join(parts)


def clean_question(text: str, limit: int = 4000) -> str:
    """What a commenter wrote, as a reader of the comment sees it: no HTML comments, invisible,
    bidi-control or control characters, hidden elements or reference definitions (both unrendered),
    HTML tags reduced to their text, no runs of blank lines; stripped and at most ``limit``
    characters."""
    text = _strip_invisible(str(text))
    text = _remove_comments(text)
    text = _HIDDEN_ELEMENT.sub("", text)
    for _ in range(4):  # removing a tag can change which lines are fenced code: settle
        untagged = _untag(text)
        if untagged == text:
            break
        text = untagged
    text = _COMMENT_OPEN.sub("", text)
    text = _REFERENCE_DEFINITION.sub("", text)
    text = _BLANK_RUN.sub("\n\n", text).strip()
    return text[: max(limit, 0)].rstrip()


def parse_trigger(body: str, trigger: str = "/ask") -> str | None:
    """The question when the comment starts (after leading whitespace) with ``trigger`` followed
    by whitespace or nothing (``""`` for a bare trigger), cleaned with ``clean_question``; else
    None. Only a trigger on the first line counts; the question is the rest of the comment."""
    if not isinstance(body, str) or not trigger:
        return None
    text = _strip_invisible(body).lstrip()
    if not text.startswith(trigger):
        return None
    rest = text[len(trigger) :]
    if rest and not rest[0].isspace():
        return None
    return clean_question(rest)


_OWNER_NAME = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/(?!\.\.?(?:@|$))[A-Za-z0-9._-]{1,100}"
    r"(?:@[A-Za-z0-9._/+-]{1,200})?"
)
_REPO_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/\S*(?<!\?)")
_PATH_WORD = re.compile(r"[\w./+@~-]+")
_EXTENSION = re.compile(r"[^./]\.[A-Za-z][A-Za-z0-9]{0,9}$")


def _is_path_word(word: str) -> bool:
    return (
        _PATH_WORD.fullmatch(word) is not None
        and not word.endswith("?")
        and ("/" in word or _EXTENSION.search(word) is not None)
    )


def split_target(question: str) -> tuple[str | None, list[str], str]:
    """``("owner/name" or URL, paths, rest)`` when the question starts with another repository:
    ``torvalds/linux kernel/sched how does ...`` → ``("torvalds/linux", ["kernel/sched"], "how does
    ...")``. Paths are the following words with a ``/`` or a file extension. No target →
    ``(None, [], question)``."""
    words = re.finditer(r"\S+", question)
    first = next(words, None)
    if first is None or not (_OWNER_NAME.fullmatch(first[0]) or _REPO_URL.fullmatch(first[0])):
        return None, [], question
    paths: list[str] = []
    end = first.end()
    for word in words:
        if not _is_path_word(word[0]):
            break
        paths.append(word[0])
        end = word.end()
    return first[0], paths, question[end:].strip()


# --------------------------------------------------------------------------- secrets

_TOKEN_SOURCES = (
    r"gh[pousr]_[A-Za-z0-9]{36,}",
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}",
    r"(?:AKIA|ASIA)[A-Z0-9]{16}",
    r"xox[abprs]-[A-Za-z0-9-]{10,}",
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
    r"(?<![A-Za-z0-9_])(?i:bearer)[ \t]+[A-Za-z0-9._~+/=-]{20,}",
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----",
)
#: What ``redact_secrets`` treats as token-shaped (no trailing context, so a prefix of text without
#: a match has none either).
TOKEN_RE = re.compile("|".join(f"(?:{source})" for source in _TOKEN_SOURCES))

_KEY_BEGIN = re.compile(_TOKEN_SOURCES[-1])
_KEY_END = re.compile(r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_KEY_TAIL = re.compile(  # what follows a BEGIN line without END: base64 lines, PEM headers
    r"(?:(?:\\n|[ \t]*\n)*[ \t]*"
    r"(?:[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9+/]{1,15}={1,2}|(?:Proc-Type|DEK-Info):[^\n]*))*"
)
_FENCE_CHAR = re.compile(r"[`~]")


def _redact_keys(text: str) -> str:
    """Private key blocks, BEGIN to END (never across a backtick or tilde, so code and fences
    keep their shape), or the BEGIN line and the key lines after it when there is no END."""
    out: list[str] = []
    pos = 0
    end: re.Match[str] | None = None
    tick: re.Match[str] | None = None
    no_end = no_tick = False
    for begin in _KEY_BEGIN.finditer(text):
        if begin.start() < pos:
            continue
        if not no_end and (end is None or end.start() < begin.end()):
            end = _KEY_END.search(text, begin.end())
            no_end = end is None
        if not no_tick and (tick is None or tick.start() < begin.end()):
            tick = _FENCE_CHAR.search(text, begin.end())
            no_tick = tick is None
        if end is not None and not no_end and (tick is None or tick.start() >= end.start()):
            stop = end.end()
        else:
            stop = _KEY_TAIL.match(text, begin.end()).end()  # type: ignore[union-attr]
        out += [text[pos : begin.start()], REDACTED]
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    values: set[str] = set()
    for secret in secrets:
        if not isinstance(secret, str):
            continue
        for value in {secret, secret.strip()}:
            if len(value) < 8:
                continue
            values.add(value)
            raw = value.encode("utf-8", "replace")
            for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
                values.add(encoded.decode("ascii").rstrip("="))
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def _redact(text: str, pattern: re.Pattern[str] | None) -> str:
    for _ in range(4):  # a replacement can splice a new match together; settle
        new = pattern.sub(REDACTED, text) if pattern else text
        new = TOKEN_RE.sub(REDACTED, _redact_keys(new))
        if new == text:
            break
        text = new
    return text


#: Markup that renders as nothing between two visible characters: tags, code span delimiters
#: (a backtick left in the output always is one), backslash escapes; and the same with emphasis
#: delimiters, which show or not depending on what is around them.
_HIDDEN_MARKUP = re.compile(r"<[^<>\n]*>|`|\\(?=[!-/:-@\[-`{-~])")
_MAYBE_MARKUP = re.compile(r"<[^<>\n]*>|[`*~]|\\(?=[!-/:-@\[-`{-~])")


def _joined_spans(line: str, markup: re.Pattern[str]) -> list[tuple[int, int]]:
    """Source spans of the tokens ``line`` shows once ``markup`` is rendered away: from the
    token's first to its last visible character, markup included."""
    if not markup.search(line):
        return []
    flat = markup.sub("", line)
    if not TOKEN_RE.search(flat):
        return []
    where: list[int] = []  # source offset of each visible character
    pos = 0
    for m in markup.finditer(line):
        where.extend(range(pos, m.start()))
        pos = m.end()
    where.extend(range(pos, len(line)))
    return [(where[m.start()], where[m.end() - 1] + 1) for m in TOKEN_RE.finditer(flat)]


def _redact_joined(text: str) -> str:
    """``text`` without tokens that only appear once inline markup is rendered: GitHub shows
    ``ghp_ab<b>cd</b>`` or `` `@xg`hp_abcd`` as one copyable token. Rendering again repairs
    the markup a redaction cuts."""
    lines = text.split("\n")
    changed = False
    for k, line in enumerate(lines):
        spans = sorted(_joined_spans(line, _HIDDEN_MARKUP) + _joined_spans(line, _MAYBE_MARKUP))
        if not spans:
            continue
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        for start, end in reversed(merged):
            line = line[:start] + REDACTED + line[end:]
        lines[k] = line
        changed = True
    return "\n".join(lines) if changed else text


def redact_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every token-shaped string (GitHub, OpenAI-style, AWS, Slack, JWT, bearer
    tokens, private key blocks) and every given secret of 8+ characters (and its base64 forms)
    replaced by ``REDACTED``."""
    return _redact(str(text), _secret_pattern(secrets))


# --------------------------------------------------------------------------- URLs

_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_HOST_CHARS = re.compile(r"[a-z0-9.-]+")
_URL_ESCAPES = {ord(c): f"%{ord(c):02X}" for c in " \"'<>`@()[]|\\"}


def _encode(url: str) -> str:
    """A URL that Markdown cannot read more into: no spaces, brackets, backticks, pipes or ``@``."""
    return url.translate(_URL_ESCAPES)


def _url_allowed(url: str, hosts: tuple[str, ...]) -> bool:
    """An absolute http(s) URL whose host is one of ``hosts`` or a subdomain, without credentials,
    entities or backslashes (which a browser or Markdown would read differently)."""
    if "\\" in url or _ENTITY.search(url):
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return False
    if not _HOST_CHARS.fullmatch(host):
        return False
    return any(host == h or host.endswith("." + h) for h in hosts)


def _dest_allowed(dest: str, hosts: tuple[str, ...]) -> bool:
    """A link destination: an allowed absolute URL or a relative one (it resolves on GitHub)."""
    if _SCHEME.match(dest):
        return _url_allowed(dest, hosts)
    return not (dest.startswith("//") or "\\" in dest or _ENTITY.search(dest))


def _normalize_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    out = []
    for host in hosts:
        if isinstance(host, str):
            name = host.strip().lower().split("://")[-1].split("/")[0].strip(".")
            if name:
                out.append(name)
    return tuple(out)


# --------------------------------------------------------------------------- answers: one line

# Piece kinds: verbatim text, code span, bracket opener (its text changes when it is matched),
# literal "]", mention, removed link, safe generated text.
_TEXT, _CODE, _OPEN, _CLOSE, _MENTION, _REMOVED, _SAFE = range(7)

_SPECIAL = re.compile(r"[\\`<!\[\]@&]|(?:https?|ftp)://|www\.", re.I)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")
_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)"
    r"(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s\"'=<>`]+|'[^'<]*'|\"[^\"<]*\"))?)*"
    r"\s*/?>"
)
_INLINE_DEST = re.compile(  # "()" or a destination and an optional title; no empty destination
    r"\(\s*\)|\(\s*(?:<([^<>\n]*)>|((?:[^\s()<>]|\([^\s()<>]*\))+))"  # between blanks: no
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"  # ambiguity, no backtracking
)
_REF_LABEL = re.compile(r"\[([^\[\]]{0,999})\]")
_MENTION_RE = re.compile(r"@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)?")
_BARE_URL = re.compile(r"((?:https?|ftp)://|www\.)[^\s<]*", re.I)
_BARE_URL_IN_BRACKETS = re.compile(r"((?:https?|ftp)://|www\.)[^\s<\]]*", re.I)
_URL_TRAILING = "?!.,:;*_~'\""
_INERT_ENTITIES = frozenset("&<>\"'`~| ")  # ASCII an entity may stand for and stay an entity
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _label(text: str) -> str:
    return " ".join(text.split()).casefold()


def _trim_url(url: str) -> str:
    """A bare URL without the trailing punctuation GitHub leaves out of the link."""
    for _ in range(8):
        url = url.rstrip(_URL_TRAILING)
        if url.endswith(")") and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url


class _Opener:
    __slots__ = ("piece", "image", "start", "active")

    def __init__(self, piece: list[object], image: bool, start: int) -> None:
        self.piece = piece
        self.image = image
        self.start = start
        self.active = True


class _Line:
    """Scans one line (or table cell) left to right as CommonMark's inline parser does, into
    pieces that ``join`` turns into safe text once it knows what is next to what."""

    def __init__(self, hosts: tuple[str, ...], defs: set[str], html: bool) -> None:
        self.hosts = hosts
        self.defs = defs
        self.html = html
        self.pieces: list[list[object]] = []

    def add(self, kind: int, text: str) -> list[object]:
        piece: list[object] = [kind, text]
        self.pieces.append(piece)
        return piece

    def scan(self, s: str) -> None:
        runs: dict[int, list[int]] | None = None
        stack: list[_Opener] = []
        i, n = 0, len(s)
        while i < n:
            m = _SPECIAL.search(s, i)
            if m is None:
                self.add(_TEXT, s[i:])
                break
            j = m.start()
            if j > i:
                self.add(_TEXT, s[i:j])
            c = s[j]
            if c == "\\":
                nxt = s[j + 1 : j + 2]
                if nxt == "@":  # "\@x" still notifies: handle the mention
                    i = j + 1
                elif nxt == "<":
                    self.add(_SAFE, "&lt;")
                    i = j + 2
                elif nxt and nxt in _ASCII_PUNCT:
                    self.add(_TEXT, s[j : j + 2])
                    i = j + 2
                else:
                    self.add(_TEXT, "\\")
                    i = j + 1
            elif c == "`":
                length = len(_TICKS.match(s, j)[0])  # type: ignore[index]
                close = None
                if not self.html:
                    if runs is None:
                        runs = {}
                        for run in _TICKS.finditer(s):
                            runs.setdefault(len(run[0]), []).append(run.start())
                    starts = runs.get(length, [])
                    k = bisect.bisect_left(starts, j + length)
                    close = starts[k] if k < len(starts) else None
                if close is None:  # a literal backtick, which must not pair up later
                    self.add(_SAFE, "&#96;" * length)
                    i = j + length
                else:
                    self.add(_CODE, s[j : close + length])
                    i = close + length
            elif c == "<":
                i = self.angle(s, j)
            elif c == "&":  # "&#64;x" renders "@x" (a mention), "&#58;" a colon (a URL)
                entity = _ENTITY.match(s, j)
                char = html.unescape(entity[0]) if entity else ""
                if len(char) == 1 and char.isascii() and char not in _INERT_ENTITIES:
                    self.add(_SAFE, "&amp;")
                    i = j + 1
                else:
                    self.add(_TEXT, entity[0] if entity else "&")
                    i = entity.end() if entity else j + 1
            elif c == "!":
                if s.startswith("[", j + 1):
                    stack.append(_Opener(self.add(_OPEN, "!\\["), True, j + 2))
                    i = j + 2
                else:
                    self.add(_TEXT, "!")
                    i = j + 1
            elif c == "[":
                stack.append(_Opener(self.add(_OPEN, "["), False, j + 1))
                i = j + 1
            elif c == "]":
                i = self.close(s, j, stack)
            elif c == "@":
                mention = _MENTION_RE.match(s, j)
                if mention:
                    self.add(_MENTION, mention[0])
                    i = mention.end()
                else:
                    self.add(_TEXT, "@")
                    i = j + 1
            else:
                i = self.url(s, j, bool(stack))

    def angle(self, s: str, j: int) -> int:
        m = _AUTOLINK.match(s, j)
        if m:
            if _url_allowed(m[1], self.hosts):
                self.add(_SAFE, f"<{_encode(m[1])}>")
            else:
                self.add(_REMOVED, LINK_REMOVED)
            return m.end()
        m = _TAG.match(s, j)
        if m:
            name = m[2].lower()
            if name in SAFE_TAGS:
                self.add(_SAFE, f"<{m[1]}{name}>")
            return m.end()
        self.add(_SAFE, "&lt;")
        return j + 1

    def close(self, s: str, j: int, stack: list[_Opener]) -> int:
        opener = stack.pop() if stack else None
        if opener is None or not opener.active:
            self.add(_CLOSE, "]")
            return j + 1
        m = _INLINE_DEST.match(s, j + 1)
        if m:
            dest = m[1] if m[1] is not None else m[2] or ""
            if not opener.image and _dest_allowed(dest, self.hosts):
                opener.piece[1] = "["
                self.add(_SAFE, f"]({_encode(dest)})")
            else:
                opener.piece[1] = ""  # an image or a link elsewhere: its text only
            if not opener.image:
                for other in stack:  # links do not nest
                    other.active = other.image
            return m.end()
        m = _REF_LABEL.match(s, j + 1)
        if m:
            if opener.image:
                opener.piece[1] = ""
                return m.end()
            if _label(m[1] or s[opener.start : j]) in self.defs:
                opener.piece[1] = "["
                self.add(_SAFE, "]" + m[0])
                for other in stack:
                    other.active = other.image
                return m.end()
        self.add(_CLOSE, "]")
        return j + 1

    def url(self, s: str, j: int, in_brackets: bool) -> int:
        m = (_BARE_URL_IN_BRACKETS if in_brackets else _BARE_URL).match(s, j)
        assert m is not None
        url = _trim_url(m[0])
        if len(url) <= len(m[1]):  # a scheme or "www." alone
            self.add(_TEXT, m[1])
            return j + len(m[1])
        if _url_allowed("https://" + url if m[1].lower() == "www." else url, self.hosts):
            self.add(_SAFE, _encode(url))
        else:
            self.add(_REMOVED, LINK_REMOVED)
        return j + len(url)

    def join(self) -> str:
        out: list[str] = []
        last = ""
        pending = -1  # index in out of a "]" or removed link whose form depends on what follows
        pieces = self.pieces
        for k, (kind, value) in enumerate(pieces):
            text = str(value)
            if kind == _MENTION:
                if last.isascii() and last.isalnum():
                    pass  # "a@b" is no mention
                elif not self.html:
                    text = f"`{text}`"
                elif not (
                    0 < k < len(pieces) - 1
                    and pieces[k - 1][1] == "<code>"
                    and pieces[k + 1][1] == "</code>"
                ):
                    text = f"<code>{text}</code>"
            if not text:
                continue
            if pending >= 0:
                if text[0] in "([:":
                    out[pending] = "\\]" if out[pending] == "]" else LINK_REMOVED + " "
                    last = out[pending][-1]
                pending = -1
            if text[0] == "`" and last == "`":
                text = " " + text  # adjacent spans would merge into one longer run
            elif text[0] == "[" and last == "!":
                text = "\\" + text  # no image syntax
            out.append(text)
            if kind in (_CLOSE, _REMOVED):
                pending = len(out) - 1
            last = text[-1]
        return "".join(out)


# --------------------------------------------------------------------------- answers: blocks

_DEF = re.compile(
    r" {0,3}\[([^\[\]\\`@<>]{0,200})\]:[ \t]*(?:<([^<>\n]*)>|(\S+))"
    r"(?:[ \t]+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?[ \t]*"
)
_DELIMITER_ROW = re.compile(
    r"[ \t>]*(?:\|[ \t]*)?:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?"
)
_CONTAINER = re.compile(r"(?:[ \t]*(?:>|[-*+](?=[ \t])|[0-9]{1,9}[.)](?=[ \t])))*[ \t]*")
_CELL_SPLIT = re.compile(r"\\.|\|")


def _indent(line: str) -> int:
    col = 0
    for ch in line:
        if ch == " ":
            col += 1
        elif ch == "\t":
            col += 4 - col % 4
        else:
            break
    return col


def _blank(line: str) -> bool:
    return not line.strip(" \t")


def _cells(line: str) -> list[str]:
    """A table row split at unescaped pipes (GitHub splits cells before reading code spans)."""
    cells, start = [], 0
    for m in _CELL_SPLIT.finditer(line):
        if m[0] == "|":
            cells.append(line[start : m.start()])
            start = m.end()
    cells.append(line[start:])
    return cells


def _kept_definition(m: re.Match[str], hosts: tuple[str, ...]) -> str | None:
    dest = m[2] if m[2] is not None else m[3]
    if not m[1].strip() or not _dest_allowed(dest, hosts):
        return None
    return f"[{m[1]}]: {_encode(dest)}"


class _Document:
    """Renders an answer line by line, tracking fenced code, HTML blocks and tables."""

    def __init__(self, hosts: tuple[str, ...]) -> None:
        self.hosts = hosts
        self.defs: set[str] = set()

    def line(self, text: str, html: bool, table: bool) -> str:
        scanner = _Line(self.hosts, self.defs, html)
        if table:
            for k, cell in enumerate(_cells(text)):
                if k:
                    scanner.add(_SAFE, "|")
                scanner.scan(cell)
        else:
            scanner.scan(text)
        return scanner.join()

    def collect_definitions(self, lines: list[str]) -> None:
        fence: tuple[str, int, int] | None = None
        for line in lines:
            if fence is not None:
                if _closes(line, fence):
                    fence = None
                continue
            fence = _opener(line)
            d = _DEF.fullmatch(line) if fence is None else None
            if d and _kept_definition(d, self.hosts):
                self.defs.add(_label(d[1]))

    def render(self, text: str) -> tuple[list[str], list[str | None]]:
        """The sanitized lines, and for each the fence a cut after it must close (or None)."""
        lines = text.split("\n")
        self.collect_definitions(lines)
        out: list[str] = []
        closers: list[str | None] = []
        fence: tuple[str, int, int] | None = None
        html: str | None = None  # None, "block" (until a blank line) or "pre" (until </pre>)
        table = poisoned = False
        for idx, line in enumerate(lines):
            if fence is not None:
                char, length, indent = fence
                closes = _closes(line, fence)
                if indent and not _blank(line) and _indent(line) < indent:
                    # The fence may have ended with its list item, or not: from here on
                    # everything is prose, which is safe either way.
                    fence, poisoned = None, True
                else:
                    out.append(line)
                    closers.append(None if closes else " " * indent + char * length)
                    if closes:
                        fence = None
                    continue
            if _blank(line):
                out.append(line)
                closers.append(None)
                table = False
                if html == "block":
                    html = None
                continue
            normal = html is None and not table and not poisoned
            if normal:
                fence = _opener(line)
                if fence is not None:
                    out.append(line)
                    closers.append(" " * fence[2] + fence[0] * fence[1])
                    continue
                d = _DEF.fullmatch(line)
                if d:
                    kept = _kept_definition(d, self.hosts)
                    if kept:
                        out.append(kept)
                        closers.append(None)
                    continue
            if (
                html is None
                and not table
                and "|" in line
                and idx + 1 < len(lines)
                and "|" in lines[idx + 1]
                and _DELIMITER_ROW.fullmatch(lines[idx + 1])
            ):
                table = True
            if html is None:
                rendered = self.line(line, False, table)
                start = _CONTAINER.match(rendered).end()  # type: ignore[union-attr]
                if rendered.startswith("<", start):  # GitHub may read this as an HTML block
                    html = "pre" if rendered.startswith("<pre>", start) else "block"
                    rendered = self.line(line, True, False)
            else:
                rendered = self.line(line, True, False)
            if html == "pre" and "</pre>" in rendered:
                html = None
            if _opener(rendered):  # prose must not open a fence GitHub would see
                col = _indent(rendered)
                entity = "&#96;" if rendered[col] == "`" else "&#126;"
                rendered = rendered[:col] + entity + rendered[col + 1 :]
            out.append(rendered)
            closers.append(None)
        return out, closers


# --------------------------------------------------------------------------- answers

_FAILED = "*The answer could not be made safe to post, so it is not shown.*"


def _failed(limit: object) -> str:
    return _FAILED[: max(limit, 0)] if isinstance(limit, int) else _FAILED


def _truncate(lines: list[str], closers: list[str | None], limit: int, total: int) -> str:
    notice = f"\n\n*… answer truncated ({total:,} characters in all).*"
    budget = min(limit - 200, limit - len(notice))
    keep = size = 0
    for line in lines:
        add = len(line) + (1 if keep else 0)
        if size + add > budget:
            break
        size += add
        keep += 1
    head = "\n".join(lines[:keep])
    closer = closers[keep - 1] if keep else None
    if closer and size + 1 + len(closer) <= budget:
        head += "\n" + closer
    result = head.rstrip("\n") + notice
    return result if len(result) <= limit else notice.strip()[: max(limit, 0)]


def sanitize_answer(
    markdown: str,
    *,
    secrets: Iterable[str] = (),
    allowed_hosts: Iterable[str] = ("github.com",),
    limit: int = 60_000,
) -> str:
    """``markdown`` made safe to post as a comment: secrets redacted, no HTML comments or invisible
    characters, mentions in code, no images, links and URLs only to ``allowed_hosts`` (and their
    subdomains), only ``SAFE_TAGS`` and without attributes, at most ``limit`` characters (cut at a
    line with a notice). Code is left alone but for redaction. Never raises."""
    try:
        return _sanitize(
            markdown if isinstance(markdown, str) else str(markdown or ""),
            tuple(s for s in secrets if isinstance(s, str)),
            _normalize_hosts(allowed_hosts),
            limit,
        )
    except Exception:  # a bug must neither post the raw answer nor crash the run
        return _failed(limit)


def _sanitize(markdown: str, secrets: tuple[str, ...], hosts: tuple[str, ...], limit: int) -> str:
    pattern = _secret_pattern(secrets)
    text = _redact(markdown, pattern)  # first, so nothing below can split a secret
    text = _redact(_remove_comments(_strip_invisible(text)), pattern)
    truncated = False
    window = max(4 * limit, 100_000)  # the result is capped anyway; bound the work
    if len(text) > window:
        cut = text.rfind("\n", 0, window)
        text = text[: cut if cut > 0 else window]
        truncated = True
    # Removing markup can splice new URLs, tokens or tags together: render until nothing changes.
    for _ in range(6):
        lines, closers = _Document(hosts).render(text)
        out = _redact_joined(_redact(_COMMENT_OPEN.sub("", "\n".join(lines)), pattern))
        if out == text:
            break
        text = out
    else:
        return _failed(limit)
    if len(out) <= limit and not truncated:
        return out
    return _truncate(out.split("\n"), closers, limit, len(markdown))
