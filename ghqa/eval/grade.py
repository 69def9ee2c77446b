"""Grading one answer against its question's facts, expected citations and forbidden claims.

- fact recall: facts matched / facts (a fact is matched when any of its alternatives, a regular
  expression, matches the answer text, case-insensitively);
- citation recall: expected spans overlapped by at least one verified citation / expected spans;
- citation precision: verified citations that overlap some expected span / verified citations,
  0 when nothing was cited and verified;
- verified rate: verified / (verified + dropped);
- forbidden: the forbidden patterns that match the answer text.

A value that does not apply (no facts, no expected spans, no citations at all) is ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .questions import EvalQuestion, ExpectedSpan


class Span(Protocol):
    """A cited span: ghqa's :class:`~ghqa.engine.Citation` or an :class:`ExpectedSpan`."""

    @property
    def path(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


@dataclass(frozen=True)
class Grade:
    facts: tuple[bool, ...]  # per fact: matched
    spans: tuple[bool, ...]  # per expected span: overlapped by a verified citation
    verified: int  # verified citations
    on_target: int  # verified citations overlapping some expected span
    dropped: int  # citations that failed verification
    forbidden: tuple[str, ...] = ()  # forbidden patterns that matched

    @property
    def fact_recall(self) -> float | None:
        return sum(self.facts) / len(self.facts) if self.facts else None

    @property
    def citation_recall(self) -> float | None:
        return sum(self.spans) / len(self.spans) if self.spans else None

    @property
    def citation_precision(self) -> float | None:
        if not self.spans:
            return None
        return self.on_target / self.verified if self.verified else 0.0

    @property
    def verified_rate(self) -> float | None:
        total = self.verified + self.dropped
        return self.verified / total if total else None


def overlaps(a: Span, b: Span) -> bool:
    """Whether two spans share a line of the same file."""
    return a.path == b.path and a.start <= b.end and b.start <= a.end


def fact_matched(alternatives: Sequence[str], text: str) -> bool:
    return any(re.search(pattern, text, re.IGNORECASE) for pattern in alternatives)


def grade_answer(
    question: EvalQuestion, text: str, verified: Sequence[Span], dropped: int
) -> Grade:
    """Grade ``text`` and its ``verified`` citations (``dropped`` others failed verification)."""
    expected: tuple[ExpectedSpan, ...] = question.citations
    return Grade(
        facts=tuple(fact_matched(fact, text) for fact in question.facts),
        spans=tuple(any(overlaps(e, c) for c in verified) for e in expected),
        verified=len(verified),
        on_target=sum(any(overlaps(c, e) for e in expected) for c in verified),
        dropped=dropped,
        forbidden=tuple(p for p in question.forbidden if re.search(p, text, re.IGNORECASE)),
    )


def failed_grade(question: EvalQuestion) -> Grade:
    """The grade of an answer that never came (an error): nothing matched, nothing cited."""
    return grade_answer(question, "", [], 0)
