"""An answer as HTML: its Markdown rendered safely, its citations opening the code view.

The answer's text is written by a model and may quote the repository, so it is untrusted:
raw HTML is shown as text, images are not loaded, links to other hosts get ``rel=noopener``
and may not use ``javascript:`` or ``data:``."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from ..engine.answer import Answer, Citation, DroppedCitation, Usage
from ..engine.citations import link_citations
from ..render import footer
from .highlight import block_html

#: Where a citation opens on this server: (path, start, end) -> URL.
CodeUrl = Callable[[str, int, int], str]


@dataclass
class SourceView:
    label: str
    url: str
    external: str | None = None


@dataclass
class AnswerView:
    """What the answer card shows."""

    html: Markup
    sources: list[SourceView]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    partial: bool = False
    reason: str | None = None
    footer: str = ""
    notes: list[str] = field(default_factory=list)
    strategy: str = ""
    commit: str = ""


def markdown_html(text: str) -> Markup:
    """Markdown to HTML with raw HTML escaped and images left out."""
    return Markup(_markdown().render(text))


def answer_view(data: dict[str, Any], code_url: CodeUrl) -> AnswerView:
    """The card for an answer given as ``Answer.to_dict()``."""
    answer = answer_from_dict(data)
    local = [dataclasses.replace(c, url=code_url(c.path, c.start, c.end)) for c in answer.citations]
    text = link_citations(answer.text, local)
    return AnswerView(
        html=markdown_html(text),
        sources=[
            SourceView(c.label, code_url(c.path, c.start, c.end), c.url) for c in answer.citations
        ],
        dropped=[(d.citation.label, d.reason) for d in answer.dropped],
        partial=answer.partial,
        reason=answer.reason,
        footer=footer(answer),
        notes=list(answer.notes),
        strategy=answer.strategy,
        commit=answer.commit,
    )


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """An :class:`Answer` back from its JSON form (unknown fields ignored, missing defaulted)."""
    usage_fields = {f.name for f in dataclasses.fields(Usage)}
    raw_usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    assert isinstance(raw_usage, dict)
    usage = Usage(**{k: v for k, v in raw_usage.items() if k in usage_fields})
    return Answer(
        question=str(data.get("question") or ""),
        text=str(data.get("text") or ""),
        citations=[c for c in map(_citation, data.get("citations") or []) if c is not None],
        strategy=str(data.get("strategy") or ""),
        repo=str(data.get("repo") or ""),
        commit=str(data.get("commit") or ""),
        usage=usage,
        dropped=[
            DroppedCitation(c, str(d.get("reason") or ""))
            for d in data.get("dropped") or []
            if isinstance(d, dict) and (c := _citation(d.get("citation"))) is not None
        ],
        partial=bool(data.get("partial")),
        reason=data.get("reason"),
        wall_time=float(data.get("wall_time") or 0.0),
        trace_path=data.get("trace_path"),
        notes=[str(n) for n in data.get("notes") or []],
    )


def _citation(raw: Any) -> Citation | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Citation(
            path=str(raw["path"]),
            start=int(raw["start"]),
            end=int(raw["end"]),
            commit=str(raw.get("commit") or ""),
            quote=raw.get("quote"),
            url=raw.get("url"),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _highlight(code: str, lang: str, _attrs: str) -> str:
    return str(block_html(code, lang or "text"))


def _link_open(
    self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    if href.startswith("/code?"):
        token.attrSet("class", "cite")
    else:
        token.attrSet("rel", "noopener noreferrer nofollow")
        token.attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


@functools.cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"]).disable("image")
    md.add_render_rule("link_open", _link_open)
    return md
