"""A trace (the JSONL file the engine writes) turned into what the page shows.

:class:`TraceView` takes the trace's records one at a time, in file order, so the same code
serves a finished trace read from disk and a trace still being written by a running question:
each record that becomes something visible yields a :class:`Node` placed under its parent (a
root turn, a code cell, a batch of sub-calls), and the usage totals climb with each model call.
Long values (prompts, outputs) are clipped to what a page can hold; the raw file has the rest.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..errors import GhqaError
from ..fetch.spec import parse_spec
from .codeview import permalink
from .highlight import block_html
from .security import Redactor

#: Characters of a prompt message, a reply or a code output shown before clipping (head + tail).
TEXT_LIMIT = 4000
CODE_LIMIT = 20_000
#: Lines of a trace file this viewer reads at most.
MAX_RECORDS = 200_000

#: Where a cited span opens: (repository, commit, path, start, end) -> URL.
CodeUrl = Callable[[str, str, str, int, int], str]


@dataclass
class Clip:
    """A text clipped to its head and tail, saying how much was left out."""

    head: str
    tail: str = ""
    omitted: int = 0

    @property
    def size(self) -> int:
        return len(self.head) + len(self.tail) + self.omitted


def clip(text: str, limit: int = TEXT_LIMIT) -> Clip:
    if len(text) <= limit:
        return Clip(text)
    half = limit // 2
    return Clip(text[:half], text[-half:], len(text) - 2 * half)


@dataclass
class Link:
    """A ``path:start-end`` label and where it opens (the code view), when known."""

    label: str
    url: str | None = None


@dataclass
class Node:
    """One visible step of the trace, with the steps it contains."""

    id: int
    kind: str
    t: float
    data: dict[str, Any]
    parent: int | None = None
    children: list[Node] = field(default_factory=list)


@dataclass
class Usage:
    """Totals over the model calls seen so far."""

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency: float = 0.0
    root_calls: int = 0
    sub_calls: int = 0
    models: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, event: dict[str, Any]) -> None:
        model = str(event.get("model") or "?")
        self.models[model] = self.models.get(model, 0) + 1
        if event.get("role") == "sub":
            self.sub_calls += 1
        else:
            self.root_calls += 1
        if event.get("cached"):
            self.cached += 1
            return
        self.calls += 1
        self.prompt_tokens += _int(event.get("prompt_tokens"))
        self.completion_tokens += _int(event.get("completion_tokens"))
        self.latency += float(event.get("latency") or 0.0)
        cost = event.get("cost")
        if isinstance(cost, (int, float)):
            self.cost = (self.cost or 0.0) + float(cost)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cached": self.cached,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.tokens,
            "cost": None if self.cost is None else round(self.cost, 6),
            "root_calls": self.root_calls,
            "sub_calls": self.sub_calls,
            "models": dict(self.models),
        }


class TraceView:
    """The visible tree of one trace, built record by record."""

    def __init__(
        self,
        redactor: Redactor | None = None,
        code_url: CodeUrl | None = None,
        repo: str | None = None,
    ):
        """``repo`` is the repository as it was asked about (the trace holds its display
        name, which for a URL is not enough to find it in the cache)."""
        self.redactor = redactor or Redactor(())
        self.code_url = code_url
        self.repo = repo
        self.blobs: dict[str, str] = {}
        self.nodes: dict[int, Node] = {}
        self.roots: list[Node] = []
        self.usage = Usage()
        self.question: dict[str, Any] | None = None
        self.strategy: str | None = None
        self.route_reason: str | None = None
        self.answer: dict[str, Any] | None = None
        self.turns = 0
        self.records = 0
        self._parents: dict[int, int | None] = {}
        self._last_root_messages = 0
        self._open_turn: int | None = None

    # -- feeding -----------------------------------------------------------------------------

    def add(self, record: dict[str, Any]) -> Node | None:
        """Take the next record of the trace; the node it adds, if it shows something."""
        self.records += 1
        if record.get("type") == "blob":
            sha, text = record.get("sha"), record.get("text")
            if isinstance(sha, str) and isinstance(text, str):
                self.blobs[sha] = self.redactor.text(text)
            return None
        event = self.redactor.value(self._resolve(record))
        try:
            eid = int(event.get("id"))
        except (TypeError, ValueError):
            return None
        parent = event.get("parent")
        parent_id = self._placed(parent if isinstance(parent, int) else None)
        if event.get("type") == "sub_batch" and self._open_turn is not None:
            # Sub-calls are made while a cell of the latest turn runs; the engine files them
            # under the strategy, the page shows them in that turn.
            if self._parents.get(self._open_turn) == parent_id:
                parent_id = self._open_turn
        self._parents[eid] = parent_id
        kind, data = self._describe(event)
        if kind == "turn":
            self._open_turn = eid
        elif kind == "strategy":
            self._open_turn = None
        if kind is None:
            return None
        node = Node(eid, kind, float(event.get("t") or 0.0), data, parent_id)
        self.nodes[eid] = node
        if parent_id is not None and parent_id in self.nodes:
            self.nodes[parent_id].children.append(node)
        else:
            node.parent = None
            self.roots.append(node)
        return node

    def feed(self, records: Iterable[dict[str, Any]]) -> list[Node]:
        return [n for n in (self.add(r) for r in records) if n is not None]

    def _placed(self, parent: int | None) -> int | None:
        """The nearest shown ancestor of ``parent``."""
        seen = 0
        while parent is not None and parent not in self.nodes and seen < 100:
            parent = self._parents.get(parent)
            seen += 1
        return parent

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"ref"} and isinstance(value["ref"], str):
                return self.blobs.get(value["ref"], f"[missing blob {value['ref']}]")
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value

    def answer_as_dict(self) -> dict[str, Any] | None:
        """The answer the trace records, in the form of ``Answer.to_dict()`` (citations with
        permalinks when the repository is on GitHub), or None when the run did not end."""
        event, question = self.answer, self.question or {}
        if event is None:
            return None
        commit = self.commit
        web_url = None
        with contextlib.suppress(GhqaError):
            web_url = parse_spec(_str(question.get("repo"))).web_url
        citations = []
        for label in event.get("citations") or []:
            parsed = parse_label(_str(label))
            if parsed:
                path, start, end = parsed
                url = permalink(web_url, commit, path, start, end)
                citations.append(
                    {"path": path, "start": start, "end": end, "commit": commit, "url": url}
                )
        dropped = []
        for d in event.get("dropped") or []:
            parsed = parse_label(_str(d.get("citation"))) if isinstance(d, dict) else None
            if parsed and isinstance(d, dict):
                path, start, end = parsed
                cited = {"path": path, "start": start, "end": end}
                dropped.append({"citation": cited, "reason": d.get("reason")})
        return {
            "question": question.get("question"),
            "text": event.get("text"),
            "citations": citations,
            "strategy": event.get("strategy"),
            "repo": question.get("repo"),
            "commit": commit,
            "usage": event.get("usage") or {},
            "dropped": dropped,
            "partial": event.get("partial"),
            "reason": event.get("reason"),
            "wall_time": event.get("t"),
        }

    # -- what each event type shows ------------------------------------------------------------

    def _describe(self, e: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        kind = str(e.get("type") or "")
        if kind == "question":
            self.question = e
            return "question", {
                "question": _str(e.get("question")),
                "repo": _str(e.get("repo")),
                "commit": _str(e.get("commit")),
                "paths": [str(p) for p in e.get("paths") or []],
                "root_model": _str(e.get("root_model")),
                "sub_model": _str(e.get("sub_model")),
            }
        if kind == "route":
            self.strategy = _str(e.get("strategy"))
            self.route_reason = _str(e.get("reason"))
            return "route", {"strategy": self.strategy, "reason": self.route_reason}
        if kind == "strategy":
            self._last_root_messages = 0
            name = _str(e.get("name"))
            self.strategy = name or self.strategy
            spans = [self._link(s) for s in e.get("spans") or e.get("chunks") or []]
            return "strategy", {
                "name": name,
                "tools": e.get("tools"),
                "spans": spans,
                "spans_title": "chunks" if e.get("chunks") else "code sent",
            }
        if kind == "sandbox":
            return "sandbox", {"layers": [str(x) for x in e.get("layers") or []]}
        if kind == "turn":
            self.turns = max(self.turns, _int(e.get("n")))
            return "turn", {"n": _int(e.get("n"))}
        if kind == "model_call":
            self.usage.add(e)
            return "call", self._call(e)
        if kind == "cell":
            return "cell", self._cell(e)
        if kind == "sub_batch":
            return "batch", {"size": _int(e.get("size"))}
        if kind == "protocol":
            return "protocol", {"change": _str(e.get("change"))}
        if kind == "answer":
            self.answer = e
            return "answer", {
                "strategy": _str(e.get("strategy")),
                "text": clip(_str(e.get("text")), CODE_LIMIT),
                "citations": [self._link(c) for c in e.get("citations") or []],
                "dropped": [
                    {"citation": _str(d.get("citation")), "reason": _str(d.get("reason"))}
                    for d in e.get("dropped") or []
                    if isinstance(d, dict)
                ],
                "partial": bool(e.get("partial")),
                "reason": _str(e.get("reason")),
                "usage": e.get("usage") if isinstance(e.get("usage"), dict) else {},
            }
        fields = {k: v for k, v in e.items() if k not in ("id", "parent", "type", "t")}
        return "other", {"type": kind or "?", "fields": clip(_json(fields))}

    def _call(self, e: dict[str, Any]) -> dict[str, Any]:
        messages = [m for m in e.get("messages") or [] if isinstance(m, dict)]
        role = _str(e.get("role")) or "root"
        if role == "root":
            previous = self._last_root_messages
            new = messages[previous + 1 :] if 0 < previous < len(messages) else messages
            self._last_root_messages = len(messages)
        else:
            new = messages
        shown = new
        calls = []
        for tc in e.get("tool_calls") or []:
            if isinstance(tc, dict):
                calls.append(self._tool_call(tc))
        prompt = [{"role": _str(m.get("role")), "text": clip(_message_text(m))} for m in shown]
        content = _str(e.get("content"))
        return {
            "role": role,
            "model": _str(e.get("model")),
            "cached": bool(e.get("cached")),
            "prompt_tokens": _int(e.get("prompt_tokens")),
            "completion_tokens": _int(e.get("completion_tokens")),
            "latency": float(e.get("latency") or 0.0),
            "cost": e.get("cost") if isinstance(e.get("cost"), (int, float)) else None,
            "finish_reason": _str(e.get("finish_reason")),
            "messages": len(messages),
            "prompt": prompt,
            "prompt_skipped": len(messages) - len(shown),
            "preview": _first_line(_message_text(shown[-1]) if shown else ""),
            "content": clip(content),
            "content_preview": _first_line(content),
            "tool_calls": calls,
        }

    def _tool_call(self, tc: dict[str, Any]) -> dict[str, Any]:
        name = _str(tc.get("name"))
        raw = _str(tc.get("arguments"))
        try:
            args = json.loads(raw)
        except ValueError:
            args = None
        if name == "run_python" and isinstance(args, dict) and isinstance(args.get("code"), str):
            return {"name": name, "code": _code(args["code"])}
        if name == "submit" and isinstance(args, dict):
            cites = args.get("citations")
            labels = [str(c) for c in cites] if isinstance(cites, list) else []
            return {
                "name": name,
                "answer": clip(_str(args.get("answer")), CODE_LIMIT),
                "citations": [self._link(c) for c in labels],
            }
        return {"name": name, "raw": clip(raw)}

    def _cell(self, e: dict[str, Any]) -> dict[str, Any]:
        code = _str(e.get("code"))
        output = _str(e.get("output"))
        return {
            "code": _code(code),
            "first_line": _first_line(code),
            "output": clip(output),
            "error": clip(_str(e.get("error"))),
            "seconds": float(e.get("seconds") or 0.0),
            "restarted": bool(e.get("restarted")),
            "submitted": bool(e.get("submitted")),
        }

    @property
    def commit(self) -> str:
        return _str((self.question or {}).get("commit"))

    def _link(self, label: Any) -> Link:
        text = _str(label)
        parsed = parse_label(text)
        repo = self.repo or _str((self.question or {}).get("repo"))
        if parsed is None or self.code_url is None or not repo or not self.commit:
            return Link(text)
        return Link(text, self.code_url(repo, self.commit, *parsed))


def parse_label(label: str) -> tuple[str, int, int] | None:
    """``path:start-end`` (or ``path:line``) as its parts."""
    path, sep, span = label.rpartition(":")
    if not sep or not path:
        return None
    first, _, last = span.partition("-")
    try:
        start = int(first)
        end = int(last) if last else start
    except ValueError:
        return None
    return path, start, end


def read_records(path: Path, limit: int = MAX_RECORDS) -> Iterator[dict[str, Any]]:
    """The records of a trace file; a last line still being written, and lines that are not
    JSON objects, are skipped."""
    with path.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f):
            if n >= limit:
                return
            record = parse_line(line)
            if record is not None:
                yield record


def parse_line(line: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def looks_like_trace(path: Path) -> bool:
    """Whether the file's first record is a trace event (so that nothing else is shown)."""
    try:
        with path.open("rb") as f:
            first = f.readline(1_000_000)
    except OSError:
        return False
    record = parse_line(first.decode("utf-8", "replace"))
    return record is not None and "type" in record and ("id" in record or "sha" in record)


def _code(code: str) -> Markup:
    shown = code if len(code) <= CODE_LIMIT else code[:CODE_LIMIT] + "\n# … (cut)"
    return block_html(shown, "python")


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        text = "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict)
        )  # fmt: skip
    else:
        text = _str(content)
    for tc in message.get("tool_calls") or []:
        if isinstance(tc, dict):
            function = tc.get("function") or {}
            name = _str(function.get("name"))
            text += f"\n[{name}] {_str(function.get('arguments'))}"
    return text.strip()


def _first_line(text: str, limit: int = 120) -> str:
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def _json(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, default=str)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
