"""One question's run: what every strategy shares, and turning a draft into an Answer."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..reporter import Reporter
from ..settings import Settings
from . import prompts
from .answer import Answer, Citation
from .attach import attach_citations
from .budget import Budget
from .citations import mark_unverified, parse_citations, verify_citations
from .models import Models
from .trace import Trace
from .workspace import FileNotReadable, Workspace

_CODE_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]{2,})(?:\(\))?`")
_SNAKE_NAME = re.compile(r"\b([A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+)\b")


class Pace(Protocol):
    """How long a model call takes on this machine."""

    def seconds(self, prompt_tokens: int, reply_tokens: int) -> float: ...


@dataclass
class Draft:
    """What a strategy produced, before its citations are checked."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    partial: bool = False
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Run:
    """Everything one question needs; built by the engine, used by the strategies."""

    question: str
    ws: Workspace
    settings: Settings
    models: Models
    budget: Budget
    trace: Trace
    reporter: Reporter
    repo: str
    web_url: str | None
    small_model: bool = False
    #: The root model's speed on this machine, when known (the local model's).
    pace: Pace | None = None
    started: float = field(default_factory=time.monotonic)
    #: Tokens of code one call may carry: the settings' budget, or less when the router fits
    #: the plan to the time limit.
    context_budget: int = 0
    #: Spans of code put in front of a model, in the order they were shown.
    shown: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def commit(self) -> str:
        return self.ws.commit

    @property
    def label(self) -> str:
        """The repository as models see it: owner/name, or a local repository's directory
        name (no temporary paths in prompts, so replies and cache keys do not depend on them)."""
        spec = self.ws.index.checkout.spec
        return spec.display if spec.kind != "file" else spec.name

    def __post_init__(self) -> None:
        if not self.context_budget:
            self.context_budget = self.settings.context_tokens

    def answer_system(self) -> str:
        """The system prompt of a call that answers from excerpts of the code."""
        numbering = prompts.EVERY_LINE if self.ws.number_every == 1 else prompts.SPARSE_LINES
        return prompts.ANSWER_SYSTEM.format(
            repo=self.label, commit=self.commit[:12], numbering=numbering
        )

    def show(self, spans: Iterable[tuple[str, int, int]]) -> None:
        """Record that the lines of ``spans`` (path, start, end) go into a model's prompt."""
        self.shown.extend((path, start, end) for path, start, end in spans)

    def report(self, message: str, **data: Any) -> None:
        self.reporter("engine", message, elapsed=round(time.monotonic() - self.started, 2), **data)

    def verify(self, citations: list[Citation]) -> tuple[list[Citation], list[Any]]:
        def read(path: str) -> str | None:
            try:
                return self.ws.text(path)
            except FileNotReadable:
                return None

        return verify_citations(
            citations,
            self.ws.root,
            self.commit,
            allowed=lambda p: p in self.ws.entries,
            web_url=self.web_url,
            read=read,
        )

    def named_definitions(self, text: str, limit: int = 5) -> list[Citation]:
        """Definitions of the symbols ``text`` names: in backticks (``name`` or ``name()``)
        first, then snake_case words of the prose."""
        out: list[Citation] = []
        names = [*_CODE_NAME.findall(text), *_SNAKE_NAME.findall(text)]
        for name in dict.fromkeys(names):
            for d in self.ws.index.definitions(name)[:1]:
                if d.path in self.ws.entries and d.kind not in ("field", "variable"):
                    out.append(Citation(d.path, d.line, min(d.end_line, d.line + 199)))
            if len(out) >= limit:
                break
        return out

    def finish(self, draft: Draft, strategy: str) -> Answer:
        verified, dropped = self.verify([*draft.citations, *parse_citations(draft.text)])
        notes = list(draft.notes)
        text = mark_unverified(draft.text, [d.citation for d in dropped])
        if self.shown and draft.text.strip():
            have = {c.label for c in verified}
            attached, _ = self.verify(attach_citations(draft.text, self.shown, self.ws))
            attached = [c for c in attached if c.label not in have]
            if attached:
                verified += attached
                notes.append(
                    f"{len(attached)} citation(s) attached to sentences that name code the "
                    "model was shown"
                )
        elif not verified and draft.text.strip():
            verified, _ = self.verify(self.named_definitions(draft.text))
            if verified:
                notes.append(
                    f"the answer cited nothing; {len(verified)} citation(s) point at the "
                    "definitions it names"
                )
        answer = Answer(
            question=self.question,
            text=text.strip(),
            citations=verified,
            strategy=strategy,
            repo=self.repo,
            commit=self.commit,
            usage=self.budget.usage,
            dropped=dropped,
            partial=draft.partial,
            reason=draft.reason,
            wall_time=round(time.monotonic() - self.started, 3),
            trace_path=str(self.trace.path) if self.trace.path else None,
            notes=notes,
            shown=[f"{p}:{a}-{b}" for p, a, b in dict.fromkeys(self.shown)],
        )
        self.trace.event(
            "answer",
            strategy=strategy,
            text=answer.text,
            citations=[c.label for c in verified],
            dropped=[{"citation": d.citation.label, "reason": d.reason} for d in dropped],
            partial=answer.partial,
            reason=answer.reason,
            usage=answer.to_dict()["usage"],
        )
        return answer
