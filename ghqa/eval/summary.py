"""Aggregating graded answers: per question and strategy (over repeats), and per strategy.

A question's row averages its repeats; a strategy's total row first takes each repeat's pass
over the questions (rates averaged, counts summed) and then averages the passes. Both keep the
spread across repeats (min, max, standard deviation)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .results import AnswerRecord
from .runner import EvalRun

#: Metrics averaged over questions in a total row.
RATES = ("context_recall", "fact_recall", "citation_precision", "citation_recall", "verified_rate")
#: Metrics summed over questions in a total row.
COUNTS = ("forbidden", "errors", "calls", "tokens", "cost", "seconds")
METRICS = RATES + COUNTS

_VALUES: dict[str, Callable[[AnswerRecord], float | None]] = {
    "context_recall": lambda r: r.grade.context_recall,
    "fact_recall": lambda r: r.grade.fact_recall,
    "citation_precision": lambda r: r.grade.citation_precision,
    "citation_recall": lambda r: r.grade.citation_recall,
    "verified_rate": lambda r: r.grade.verified_rate,
    "forbidden": lambda r: float(len(r.grade.forbidden)),
    "errors": lambda r: float(r.error is not None),
    "calls": lambda r: float(r.calls + r.cached_calls),
    "tokens": lambda r: float(r.tokens),
    "cost": lambda r: r.cost,
    "seconds": lambda r: r.seconds,
}


@dataclass(frozen=True)
class Stat:
    """A metric over repeats: mean, min, max, standard deviation (``None``: not applicable)."""

    mean: float | None
    low: float | None = None
    high: float | None = None
    stdev: float | None = None
    n: int = 0

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat:
        known = [v for v in values if v is not None]
        if not known:
            return cls(None)
        spread = statistics.stdev(known) if len(known) > 1 else 0.0
        return cls(statistics.fmean(known), min(known), max(known), spread, len(known))

    @property
    def varies(self) -> bool:
        return self.low is not None and self.high is not None and self.high > self.low

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "mean": self.mean,
            "min": self.low,
            "max": self.high,
            "stdev": self.stdev,
            "n": self.n,
        }


@dataclass(frozen=True)
class Row:
    """A question × strategy (``question_id`` set) or a strategy's total (``None``)."""

    strategy: str
    question_id: str | None
    kind: str
    used: str  # strategies that answered, e.g. "direct" or "direct/chunked"
    answers: int
    metrics: dict[str, Stat]

    def to_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "question": self.question_id,
            "kind": self.kind,
            "used": self.used,
            "answers": self.answers,
            **{name: stat.to_dict() for name, stat in self.metrics.items()},
        }


@dataclass(frozen=True)
class Summary:
    questions: list[Row]  # per strategy, then per question, in the set's order
    totals: list[Row]  # per strategy


def summarize(run: EvalRun) -> Summary:
    by_key: dict[tuple[str, str], list[AnswerRecord]] = {}
    for record in run.records:
        by_key.setdefault((record.strategy, record.question_id), []).append(record)
    kinds = {q.id: q.kind for q in run.qset.questions}
    rows: list[Row] = []
    totals: list[Row] = []
    for strategy in run.strategies:
        mine = [r for r in run.records if r.strategy == strategy]
        for q in run.qset.questions:
            records = by_key.get((strategy, q.id), [])
            metrics = {m: Stat.of([_VALUES[m](r) for r in records]) for m in METRICS}
            rows.append(Row(strategy, q.id, kinds[q.id], _used(records), len(records), metrics))
        totals.append(Row(strategy, None, "", _used(mine), len(mine), _total(mine, run.repeat)))
    return Summary(rows, totals)


def _total(records: list[AnswerRecord], repeats: int) -> dict[str, Stat]:
    passes = [[r for r in records if r.repeat == n] for n in range(repeats)]
    metrics: dict[str, Stat] = {}
    for name in METRICS:
        per_pass: list[float | None] = []
        for answers in passes:
            values = [v for v in (_VALUES[name](r) for r in answers) if v is not None]
            if not values:
                per_pass.append(None)
            elif name in RATES:
                per_pass.append(statistics.fmean(values))
            else:
                per_pass.append(sum(values))
        metrics[name] = Stat.of(per_pass)
    return metrics


def _used(records: list[AnswerRecord]) -> str:
    return "/".join(dict.fromkeys(r.used for r in records))
