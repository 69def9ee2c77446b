"""What the engine returns: an answer, its checked citations, usage totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A span of a file at a commit: ``path`` lines ``start``..``end`` (1-based, inclusive).

    ``quote`` is a line of the span the model quoted (checked when present); ``url`` is a permalink
    when the repository is on a web host."""

    path: str
    start: int
    end: int
    commit: str = ""
    quote: str | None = None
    url: str | None = None

    @property
    def label(self) -> str:
        if self.start == self.end:
            return f"{self.path}:{self.start}"
        return f"{self.path}:{self.start}-{self.end}"


@dataclass(frozen=True)
class DroppedCitation:
    """A citation the engine could not verify, with the reason."""

    citation: Citation
    reason: str


@dataclass
class Usage:
    """Totals over every model call of one question."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency: float = 0.0
    models: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency: float,
        cost: float | None,
        cached: bool,
    ) -> None:
        if cached:
            self.cached_calls += 1
        else:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.latency += latency
            if cost is not None:
                self.cost = (self.cost or 0.0) + cost
        self.models[model] = self.models.get(model, 0) + 1

    def merge(self, other: Usage) -> None:
        self.calls += other.calls
        self.cached_calls += other.cached_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.latency += other.latency
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost
        for model, n in other.models.items():
            self.models[model] = self.models.get(model, 0) + n


@dataclass
class Answer:
    """The engine's result for one question about one pinned checkout."""

    question: str
    text: str
    citations: list[Citation]
    strategy: str
    repo: str
    commit: str
    usage: Usage
    dropped: list[DroppedCitation] = field(default_factory=list)
    partial: bool = False
    reason: str | None = None
    wall_time: float = 0.0
    trace_path: str | None = None
    notes: list[str] = field(default_factory=list)
    #: The spans of code shown to a model while answering, as ``path:start-end``.
    shown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["usage"]["tokens"] = self.usage.tokens
        for c, raw in zip(self.citations, data["citations"], strict=True):
            raw["label"] = c.label
        return data
