"""Baselines answered in one model call, with the engine's prompts, models and citation checks.

- ``whole``: the selected files in path order, with line numbers, cut at the context budget
  (what "pack the repository into the prompt" tools do);
- ``grep``: windows of lines around the question's identifier-like words, packed into the
  budget (the simple "send the relevant code" approach).

Only the code sent differs from the ``direct`` strategy: the answer goes through the same
``Run.finish`` (citation parsing, verification, usage), so the numbers are comparable."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ..engine import Answer
from ..engine.context import STRONG, Span, pack, question_terms
from ..engine.direct import ask_with_context
from ..engine.engine import fill_empty, opened_run
from ..engine.workspace import FileNotReadable, Workspace
from ..index import RepoIndex
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .strategies import BASELINES

#: Lines shown before and after a grep hit.
GREP_WINDOW = 8
#: Hits taken per word of the question.
GREP_HITS_PER_TERM = 100
#: Tokens of a file's heading in the prompt (as the engine's packer counts them).
_HEADING_TOKENS = 12


def whole_context(ws: Workspace, budget_tokens: int) -> tuple[str, list[Span], int, int]:
    """Every readable file with line numbers, in path order, until ``budget_tokens`` is used;
    returns the text, the spans sent, the tokens sent and the tokens of all the files."""
    blocks: list[str] = []
    spans: list[Span] = []
    used = 0
    total = 0
    for path in ws.readable:
        try:
            lines = ws.lines(path)
            costs = ws.line_tokens(path)
        except FileNotReadable:
            continue
        total += _HEADING_TOKENS + sum(costs)
        room = budget_tokens - used - _HEADING_TOKENS
        taken = 0
        while taken < len(lines) and costs[taken] <= room:
            room -= costs[taken]
            taken += 1
        if taken == 0:
            continue
        used += _HEADING_TOKENS + sum(costs[:taken])
        blocks.append(f"### {path} (lines 1-{taken})\n{ws.numbered(path, 1, taken)}")
        spans.append(Span(path, 1, taken, 0.0, "in path order"))
    return "\n\n".join(blocks), spans, used, total


def grep_context(ws: Workspace, question: str, budget_tokens: int) -> tuple[str, list[Span], int]:
    """Windows around lines holding the question's words (whole words, any case), the most
    specific words first, packed into ``budget_tokens``."""
    terms = question_terms(question)
    spans: list[Span] = []
    for rank, term in enumerate(terms):
        pattern = re.compile(rf"\b{re.escape(term)}\b", re.IGNORECASE)
        for hit in ws.grep(pattern, limit=GREP_HITS_PER_TERM):
            start = max(1, hit.line - GREP_WINDOW)
            score = STRONG + len(terms) - rank
            spans.append(Span(hit.path, start, hit.line + GREP_WINDOW, score, f"mentions {term}"))
    text, chosen, used = pack(ws, spans, budget_tokens)
    return text, chosen, used


def answer_baseline(
    kind: str,
    index: RepoIndex,
    question: str,
    settings: Settings,
    reporter: Reporter = null_reporter,
    trace_path: Path | None = None,
    dry_run: bool = False,
    count: Callable[[str], int] | None = None,
) -> Answer:
    """Answer ``question`` with the ``whole`` or ``grep`` baseline, in one model call (none
    in a ``dry_run``)."""
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}")
    with opened_run(index, question, settings, reporter, trace_path, dry_run=dry_run) as run:
        ws = run.ws
        if count is not None:
            ws.count = count
        if kind == "whole":
            context, spans, used, total = whole_context(ws, settings.context_tokens)
            note = f"whole: sent ~{used:,} of ~{total:,} tokens of code"
        else:
            context, spans, used = grep_context(ws, question, settings.context_tokens)
            note = f"grep: sent {len(spans)} windows, ~{used:,} tokens of code"
        run.show((s.path, s.start, s.end) for s in spans)
        run.trace.event("strategy", name=kind, note=note)
        draft = ask_with_context(run, context or "(no code matched the question's words)")
        if not draft.text.strip() and draft.reason is None:
            draft.reason = "no reply"
        fill_empty(draft)
        draft.notes.insert(0, note)
        return run.finish(draft, kind)
