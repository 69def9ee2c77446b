"""Templates: the Jinja2 environment, its filters, and the HTML pieces the server streams."""

from __future__ import annotations

import datetime
import time
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from .answerview import AnswerView, answer_view
from .history import RunRecord
from .traceview import Node, TraceView


def code_url(repo: str, commit: str, path: str, start: int, end: int) -> str:
    """Where the code view of ``path`` lines ``start``..``end`` at ``commit`` opens."""
    query = {"repo": repo, "commit": commit, "path": path, "start": start, "end": end}
    return "/code?" + urlencode(query)


def make_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ghqa.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=_num, secs=_secs, money=_money, when=_when, ago=_ago, tokens_within=tokens_within
    )
    return env


def tokens_within(node: Node) -> int:
    """Tokens of the model calls made in ``node`` and everything below it."""
    total = 0
    if node.kind == "call" and not node.data.get("cached"):
        total += int(node.data.get("prompt_tokens") or 0) + int(
            node.data.get("completion_tokens") or 0
        )
    return total + sum(tokens_within(child) for child in node.children)


class PageRenderer:
    """Renders pages and the fragments a live run streams."""

    def __init__(self, env: Environment | None = None):
        self.env = env or make_environment()

    def page(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def node(self, node: Node, view: TraceView) -> str:
        return self.env.get_template("_node.html").render(n=node)

    def answer(self, record: RunRecord) -> str:
        return self.env.get_template("_answer.html").render(record=record, a=record_answer(record))


def record_answer(record: RunRecord) -> AnswerView | None:
    """The answer card of a run, when it has an answer."""
    answer = record.answer
    if not answer:
        return None
    commit = str(answer.get("commit") or "")
    return answer_view(answer, lambda p, s, e: code_url(record.repo, commit, p, s, e))


def _num(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "-"


def _secs(value: Any) -> str:
    try:
        return f"{float(value):.1f}"
    except (TypeError, ValueError):
        return "-"


def _money(value: Any) -> str:
    if value is None:
        return ""
    return f"${float(value):.4f}"


def _when(value: Any) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(float(value))
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M")


def _ago(value: Any) -> str:
    try:
        seconds = time.time() - float(value)
    except (TypeError, ValueError):
        return "-"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return _when(value)
