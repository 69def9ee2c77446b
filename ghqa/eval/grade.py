"""Grading one answer against its question's facts, expected citations and forbidden claims.

- fact recall: facts matched / facts (a fact is matched when any of its alternatives, a regular
  expression, matches the answer text, case-insensitively);
- citation recall: expected spans overlapped by at least one verified citation / expected spans;
- citation precision: verified citations that overlap some expected span / verified citations,
  0 when nothing was cited and verified;
- verified rate: verified / (verified + dropped);
- forbidden: the forbidden patterns that match the answer text;
- context recall: expected spans whose lines were shown to a model while answering / expected
  spans; a span counts as shown when at least half of its lines were (or 40 of them, for a
  long one), whatever the model then wrote.

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
    context: tuple[bool, ...] = ()  # per expected span: shown to a model (empty: not known)

    @property
    def fact_recall(self) -> float | None:
        return sum(self.facts) / len(self.facts) if self.facts else None

    @property
    def citation_recall(self) -> float | None:
        return sum(self.spans) / len(self.spans) if self.spans else None

    @property
    def context_recall(self) -> float | None:
        return sum(self.context) / len(self.context) if self.context else None

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


#: A long expected span counts as shown when this many of its lines were.
SHOWN_LINES = 40


def was_shown(expected: Span, shown: Sequence[Span]) -> bool:
    """Whether at least half of ``expected``'s lines (or :data:`SHOWN_LINES` of them) lie in
    the ``shown`` spans."""
    lines: set[int] = set()
    for s in shown:
        if s.path == expected.path:
            lines.update(range(max(s.start, expected.start), min(s.end, expected.end) + 1))
    size = expected.end - expected.start + 1
    return len(lines) >= min(SHOWN_LINES, (size + 1) // 2)


def fact_matched(alternatives: Sequence[str], text: str) -> bool:
    return any(re.search(pattern, text, re.IGNORECASE) for pattern in alternatives)


def grade_answer(
    question: EvalQuestion,
    text: str,
    verified: Sequence[Span],
    dropped: int,
    shown: Sequence[Span] = (),
) -> Grade:
    """Grade ``text`` and its ``verified`` citations (``dropped`` others failed verification);
    ``shown`` is the code the model was shown."""
    expected: tuple[ExpectedSpan, ...] = question.citations
    return Grade(
        facts=tuple(fact_matched(fact, text) for fact in question.facts),
        spans=tuple(any(overlaps(e, c) for c in verified) for e in expected),
        verified=len(verified),
        on_target=sum(any(overlaps(c, e) for e in expected) for c in verified),
        dropped=dropped,
        forbidden=tuple(p for p in question.forbidden if re.search(p, text, re.IGNORECASE)),
        context=tuple(was_shown(e, shown) for e in expected),
    )


def failed_grade(question: EvalQuestion) -> Grade:
    """The grade of an answer that never came (an error): nothing matched, nothing cited."""
    return grade_answer(question, "", [], 0)
