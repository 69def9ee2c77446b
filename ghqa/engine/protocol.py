"""The text protocol: Python code in a model's reply, and lenient tool-call arguments.

Servers without native tool calls get the code action as fenced blocks (```` ```python ````,
```` ```repl ````, ``~~~python``); some models wrap code in tool-like markup instead (``<invoke>``,
``<tool_call>`` JSON, ``<|python_tag|>``). :func:`extract_code` accepts all of these;
:func:`parse_tool_arguments` repairs the usual damage to native tool-call arguments.
"""

from __future__ import annotations

import ast
import html
import json
import re
import textwrap
from functools import lru_cache
from typing import Any, NamedTuple

#: Fence languages taken as Python (the first word of the info string, lower-cased).
PYTHON_LANGS = frozenset({"python", "py", "python3", "py3", "repl", "ipython", "pycon"})
#: Keys (JSON) and parameter names (markup) that carry code in tool-like wrappers.
CODE_KEYS = ("code", "source", "python", "script", "program", "cell", "input", "command")

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$", re.M)
_WRAPPER = re.compile(
    r"<(?P<tag>invoke|tool_call|function_calls|minimax:tool_call)\b(?P<attrs>[^<>]{0,300})>"
    r"|<function=(?P<fname>[\w.:-]{1,100})>"
    r"|<\|python_tag\|>",
    re.I,
)
_NAME_ATTR = re.compile(r"""name\s*=\s*["']?(?P<name>[^"'\s>]+)""")
_PARAM = re.compile(
    r"""<parameter(?:\s+name\s*=\s*["']?|=)(?P<name>[\w.-]{1,100})["']?\s*>""", re.I
)
_END_OF_TURN = re.compile(r"<\|(?:eom_id|eot_id|end_of_text|end|im_end)\|>")
_CODEISH_NAME = re.compile(r"(?i)py|repl|code|exec|interpreter")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|apos|#\d{1,6}|#x[0-9a-fA-F]{1,6});")
_CDATA = re.compile(r"^\s*<!\[CDATA\[(.*)\]\]>\s*$", re.S)
_CODE_NODES = (
    ast.Call, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Import, ast.ImportFrom,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While, ast.If, ast.With,
    ast.Try, ast.Return, ast.Delete, ast.Assert, ast.Raise,
)  # fmt: skip
_PROSE_ANSWER = re.compile(
    r"\b(?-i:FINAL(?:_VAR)?)\s*\("
    r"|^[ \t]*(?:[*_]{1,2})?[ \t]*final[ \t]+answer[ \t]*(?:[*_]{1,2})?[ \t]*[:：]"
    r"|^[ \t]{0,3}#{1,6}[ \t]*(?:final[ \t]+)?answer\b"
    r"|^[ \t]*(?:\*\*|__)answer[ \t]*:?[ \t]*(?:\*\*|__)"
    r"|^[ \t]*answer[ \t]*:",
    re.M | re.I,
)
_MAX_DEPTH = 3


class Fence(NamedTuple):
    """A fenced block: ``start``/``end`` offsets of the whole block, its language and body."""

    start: int
    end: int
    lang: str
    body: str
    closed: bool


def extract_code(text: str) -> list[str]:
    """The Python code blocks of a reply, in order (see the module docstring for the formats).

    Untagged fences count when their content is complete Python that does something; a final fence
    cut off by the token limit yields its partial code. Blank blocks are skipped."""
    try:
        return _extract(text.replace("\r\n", "\n"), 0, code_context=False)
    except RecursionError:  # pragma: no cover - pathological nesting
        return []


def fenced_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of every fenced code block of Markdown ``text``."""
    spans = []
    pos = 0
    while (m := _next_fence(text, pos)) is not None:
        fence = _read_fence(text, m)
        spans.append((fence.start, fence.end))
        pos = max(fence.end, m.end())
    return spans


def parse_tool_arguments(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a native tool call's ``arguments``: ``(object, None)`` or ``(None, problem)``.

    Tolerates code fences around the JSON, trailing junk, Python-style quoting, raw newlines and
    stray backslashes inside strings, and a bare code string (returned as ``{"code": ...}``)."""
    if isinstance(raw, dict):
        return dict(raw), None
    if raw is None or not str(raw).strip():
        return {}, None
    try:
        return _parse_arguments(str(raw))
    except Exception as exc:  # noqa: BLE001 - this parser must never raise
        return None, f"invalid JSON in tool arguments: {type(exc).__name__}"


def has_submission_prose(text: str) -> bool:
    """Whether the reply looks like a final answer written as prose (``FINAL(...)``, ``Final
    answer:``, ``## Answer``) outside code blocks. Used only to send a corrective message."""
    parts = []
    pos = 0
    for start, end in fenced_spans(text):
        parts.append(text[pos:start])
        pos = end
    parts.append(text[pos:])
    return _PROSE_ANSWER.search("\n".join(parts)) is not None


# -- fences and wrappers ---------------------------------------------------------------------------


def _extract(text: str, depth: int, code_context: bool) -> list[str]:
    """Fences and wrappers of ``text`` in order. ``code_context``: inside a code wrapper, where an
    untagged fence is code whatever it holds."""
    out: list[str] = []
    pos = 0
    fence_m = _next_fence(text, 0)
    wrap_m = _WRAPPER.search(text) if depth < _MAX_DEPTH else None
    while fence_m is not None or wrap_m is not None:
        if wrap_m is None or (fence_m is not None and fence_m.start() <= wrap_m.start()):
            assert fence_m is not None
            fence = _read_fence(text, fence_m)
            if fence.lang in PYTHON_LANGS or (
                not fence.lang and (code_context or _looks_like_python(fence.body))
            ):
                _add(out, fence.body)
            pos = max(fence.end, fence_m.end())
        else:
            body, pos = _wrapper_body(text, wrap_m)
            out.extend(_wrapper_code(wrap_m, body, depth))
        if fence_m is not None and fence_m.start() < pos:
            fence_m = _next_fence(text, pos)
        if wrap_m is not None and wrap_m.start() < pos:
            wrap_m = _WRAPPER.search(text, pos)
    return out


def _next_fence(text: str, pos: int) -> re.Match[str] | None:
    while (m := _FENCE_OPEN.search(text, pos)) is not None:
        if not (m["fence"][0] == "`" and "`" in m["info"]):  # ```inline``` is not a fence
            return m
        pos = m.end() + 1
    return None


@lru_cache(maxsize=64)
def _closing(char: str, length: int) -> re.Pattern[str]:
    return re.compile(rf"[ \t]*{re.escape(char)}{{{length},}}[ \t]*")


def _read_fence(text: str, m: re.Match[str]) -> Fence:
    """The block opened by ``m``: up to a closing fence line, a line ending in the fence (a common
    slip: ``print(x)```), or the end of the text (a reply cut off by the token limit)."""
    char, size, indent = m["fence"][0], len(m["fence"]), len(m["indent"])
    closing = _closing(char, size)
    info = m["info"].strip().lstrip("{.").lower()
    lang = re.match(r"[\w+#-]*", info)
    body_start = m.end() + 1
    lines: list[str] = []
    pos, end, closed = body_start, len(text), False
    while pos < len(text):
        nl = text.find("\n", pos)
        line_end = len(text) if nl < 0 else nl
        line = text[pos:line_end]
        if closing.fullmatch(line):
            end, closed = line_end, True
            break
        stripped = line.rstrip()
        if stripped.endswith(char * size) and stripped.strip(char).strip():
            lines.append(stripped.rstrip(char))
            end, closed = line_end, True
            break
        lines.append(line)
        pos = line_end + 1
    body = "\n".join(_unindent(line, indent) for line in lines)
    return Fence(m.start(), end, lang.group() if lang else "", body, closed)


def _unindent(line: str, width: int) -> str:
    """``line`` without up to ``width`` leading blanks (the indentation of a list item's fence)."""
    cut = 0
    while cut < width and cut < len(line) and line[cut] in " \t":
        cut += 1
    return line[cut:]


def _wrapper_body(text: str, m: re.Match[str]) -> tuple[str, int]:
    """The body of the wrapper opened by ``m`` and the offset after it (or the text's end)."""
    tag = (m["tag"] or "").lower()
    if m["fname"] is not None:
        tag = "function"
    elif not tag:  # <|python_tag|>: code until the end of the turn
        stop = _END_OF_TURN.search(text, m.end())
        end = stop.start() if stop else len(text)
        return text[m.end() : end], stop.end() if stop else len(text)
    close = re.compile(rf"</{re.escape(tag)}\s*>", re.I).search(text, m.end())
    if close is None:
        return text[m.end() :], len(text)
    return text[m.end() : close.start()], close.end()


def _wrapper_code(m: re.Match[str], body: str, depth: int) -> list[str]:
    tag = (m["tag"] or "").lower()
    if tag in ("function_calls", "minimax:tool_call"):
        found = _extract(body, depth + 1, code_context=False)
        if not found and "<" not in body and _looks_like_python(body):
            _add(found, html.unescape(body))
        return found
    name_m = _NAME_ATTR.search(m["attrs"] or "")
    name = m["fname"] or (name_m["name"] if name_m else "")
    python_tag = not tag and m["fname"] is None
    codeish = python_tag or tag == "tool_call" or bool(_CODEISH_NAME.search(name))
    params = _parameters(body)
    if params:
        chosen = [v for k, v in params if k.lower() in CODE_KEYS]
        if not chosen and codeish:
            chosen = [params[0][1]]
        return [code for v in chosen for code in _value_code(v, depth)]
    if body.lstrip().startswith("{"):
        args, _problem = parse_tool_arguments(body.strip())
        code = _json_code(args) if args is not None else None
        codes: list[str] = []
        if code is not None:
            _add(codes, code)
        return codes
    inner = _extract(body, depth + 1, code_context=codeish)
    if inner or not codeish:
        return inner
    return _value_code(body, depth)


def _parameters(body: str) -> list[tuple[str, str]]:
    """``(name, value)`` of each ``<parameter name="x">`` or ``<parameter=x>`` in ``body``."""
    found = []
    pos = 0
    while (m := _PARAM.search(body, pos)) is not None:
        close = body.find("</parameter>", m.end())
        nxt = _PARAM.search(body, m.end())
        if close < 0 or (nxt is not None and nxt.start() < close):
            end = nxt.start() if nxt is not None else len(body)
            found.append((m["name"], body[m.end() : end]))
            pos = end
        else:
            found.append((m["name"], body[m.end() : close]))
            pos = close + len("</parameter>")
    return found


def _value_code(value: str, depth: int) -> list[str]:
    """Code given as a parameter's value: fenced, or raw and possibly HTML-escaped."""
    cdata = _CDATA.match(value)
    if cdata:
        value = cdata.group(1)
    if _next_fence(value, 0) is not None:
        found = _extract(value, depth + 1, code_context=True)
        if found:
            return found
    if _ENTITY.search(value):
        value = _unescape(value)
    code = _clean(value.strip("\n"))
    return [code] if code else []


def _unescape(value: str) -> str:
    """``value`` HTML-unescaped when that is what makes it Python, or when it has no bare ``<``,
    ``>`` or ``&`` (a model that escapes, escapes them all)."""
    unescaped = html.unescape(value)
    raw_ok, unescaped_ok = _compiles(value), _compiles(unescaped)
    if raw_ok != unescaped_ok:
        return unescaped if unescaped_ok else value
    return value if re.search(r"[<>&]", _ENTITY.sub("", value)) else unescaped


def _json_code(obj: Any) -> str | None:
    """The code inside a JSON tool call: ``{"name": ..., "arguments": {"code": ...}}`` and kin."""
    for _ in range(3):
        if isinstance(obj, str):
            parsed, _problem = parse_tool_arguments(obj)
            if parsed is None or (set(parsed) == {"code"} and parsed["code"] == obj):
                return obj
            obj = parsed
        if not isinstance(obj, dict):
            return None
        for key in CODE_KEYS:
            if isinstance(obj.get(key), str):
                return str(obj[key])
        inner = next(
            (obj[k] for k in ("arguments", "parameters", "args", "input") if k in obj), None
        )
        if inner is None:
            return None
        obj = inner
    return None


# -- normalizing code ------------------------------------------------------------------------------


def _add(out: list[str], code: str) -> None:
    code = _clean(code)
    if code:
        out.append(code)


def _clean(code: str) -> str:
    """Trailing whitespace stripped, ``>>>``/``...`` prompts dropped when every line has one, a
    uniform indentation removed when the first statement is indented (it could not run)."""
    lines = code.replace("\r\n", "\n").split("\n")
    filled = [line for line in lines if line.strip()]
    prompted = [
        line.startswith((">>> ", "... ")) or line.rstrip() in (">>>", "...") for line in filled
    ]
    if filled and all(prompted) and any(line.startswith(">>>") for line in filled):
        lines = [
            line[4:] if line.startswith((">>> ", "... ")) else line.lstrip(">.") for line in lines
        ]
    code = "\n".join(lines)
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    if first[:1] in (" ", "\t"):
        code = textwrap.dedent(code)
    return code.rstrip()


def _compiles(code: str) -> bool:
    try:
        ast.parse(code)
    except Exception:  # noqa: BLE001 - SyntaxError, ValueError (NUL), RecursionError, MemoryError
        return False
    return True


def _looks_like_python(code: str) -> bool:
    """Complete Python that does something (a call, an assignment, a loop...), not a bare name,
    number or path such as ``kernel/sched/fair.c`` (which parses as a division)."""
    try:
        tree = ast.parse(_clean(code))
    except Exception:  # noqa: BLE001
        return False
    return any(isinstance(node, _CODE_NODES) for node in ast.walk(tree))


# -- tool arguments --------------------------------------------------------------------------------

_JSON_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[^\n]*\n(?P<body>.*?)\n?[ \t]*\1\s*$", re.S)
_ESCAPE = re.compile(r"\\(.?)", re.S)
_JSON_WORDS = {"true": "True", "false": "False", "null": "None"}


def _parse_arguments(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    text = raw.strip()
    fenced = _JSON_FENCE.match(text)
    if fenced:
        text = fenced["body"].strip()
    first_error: str | None = None
    for attempt in (text, _ESCAPE.sub(_fix_escape, text)):
        try:
            value = json.loads(attempt, strict=False)
        except json.JSONDecodeError as exc:
            first_error = first_error or f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        else:
            return _as_object(value, text)
    brace = text.find("{")
    if brace >= 0:
        try:
            value, _end = json.JSONDecoder(strict=False).raw_decode(text, brace)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict):
                return value, None
        if len(text) < 200_000:
            for candidate in (text[brace:], _python_words(text[brace:])):
                try:
                    value = ast.literal_eval(candidate)
                except Exception:  # noqa: BLE001, S112 - try the next repair
                    continue
                if isinstance(value, dict):
                    return {str(k): v for k, v in value.items()}, None
    if brace < 0 and not text.startswith("[") and _compiles(text):
        return {"code": text}, None
    return None, f"invalid JSON in tool arguments: {first_error or 'not a JSON object'}"


def _as_object(value: Any, text: str) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(value, dict):
        return value, None
    if isinstance(value, str):
        inner = value.strip()
        if inner.startswith("{"):
            obj, _problem = parse_tool_arguments(inner)
            if obj is not None:
                return obj, None
        return {"code": value}, None
    return None, f"invalid JSON in tool arguments: expected an object, got {type(value).__name__}"


def _python_words(text: str) -> str:
    return re.sub(r"\b(true|false|null)\b", lambda m: _JSON_WORDS[m.group()], text)


def _fix_escape(m: re.Match[str]) -> str:
    """A backslash that does not start a JSON escape, doubled (``\\d`` in a regex, say)."""
    char = m.group(1)
    return m.group() if char and char in '"\\/bfnrtu' else "\\\\" + char
