"""An Answer as text: Markdown with linked citations, a sources list, and a one-line footer.

Shared by every sink (terminal, issue comment, FAQ file, web page)."""

from __future__ import annotations

from .engine import Answer
from .engine.citations import link_citations, render_citations


def answer_markdown(answer: Answer, *, sources: bool = True) -> str:
    """The answer's Markdown, citations linked to their permalinks, then the sources."""
    parts = [link_citations(answer.text, answer.citations)]
    if answer.partial and answer.reason and answer.strategy != "none":
        parts.append(f"*Partial answer: {answer.reason}.*")
    if sources and answer.citations:
        parts.append("**Sources**\n\n" + render_citations(answer.citations))
    return "\n\n".join(p for p in parts if p.strip())


def footer(answer: Answer) -> str:
    """One line: strategy, models, calls, tokens, cost, time, commit."""
    u = answer.usage
    models = " + ".join(u.models) or "no model"
    calls = f"{u.calls} call{'s' if u.calls != 1 else ''}"
    if u.cached_calls:
        calls += f" ({u.cached_calls} cached)"
    items = [answer.strategy, models, calls, f"{u.tokens:,} tokens"]
    if u.cost is not None:
        items.append(f"${u.cost:.4f}")
    items.append(f"{answer.wall_time:.1f}s")
    items.append(f"{answer.repo}@{answer.commit[:12]}")
    if answer.dropped:
        items.append(f"{len(answer.dropped)} unverifiable citation(s) dropped")
    if answer.partial:
        items.append("PARTIAL")
    return " · ".join(items)
