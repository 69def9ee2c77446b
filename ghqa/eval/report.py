"""The evaluation as JSON, as a Markdown report, and as a plot of tokens against fact recall."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..cachefs import atomic_write
from .questions import Source
from .runner import EvalRun
from .summary import Summary
from .table import question_table, total_table

METRIC_NOTES = """\
- **context** (context recall): expected spans whose lines were shown to a model while \
answering (at least half of a span's lines, or 40 of them) / expected spans; it needs no model \
(`ghqa eval --no-model` stops before the first model call).
- **facts** (fact recall): the question's facts the answer states / its facts; a fact is a \
regular expression, or a list of alternatives any one of which suffices, matched \
case-insensitively against the answer text.
- **cite P** (citation precision): verified citations that overlap an expected span / verified \
citations; an answer with no verified citation scores 0.
- **cite R** (citation recall): expected spans overlapped by at least one verified citation / \
expected spans.
- **verified**: citations that passed verification against the commit / all citations the \
answer made. Baselines and strategies go through the same parsing and checks, including the \
engine's fallback: an answer that cites nothing is given the definitions of the symbols it names.
- **forbidden**: forbidden claims the answer made; **errors**: answers that failed (an \
exception) or are partial (a budget stop, a cut-off reply).
- **calls**, **tokens**, **cost**, **seconds**: per answer for a question; summed over the \
questions for a strategy's total. Cost needs `GHQA_PRICE`.
- A value in parentheses is the range (min-max) over repeats, where they differ; `-` means \
not applicable (no facts, no expected spans, no citations at all, no price)."""


def to_json(run: EvalRun, summary: Summary, command: str) -> dict[str, Any]:
    return {
        "name": run.qset.name,
        "file": str(run.qset.file),
        "command": command,
        "date": run.started.isoformat(timespec="seconds"),
        "source": run.qset.source.label,
        "model": run.model,
        "commit": run.commit,
        "strategies": list(run.strategies),
        "repeat": run.repeat,
        "run": {
            "answers": len(run.records),
            "from_cache": len(run.records) - len(run.computed),
            "model_calls": run.model_calls,
            "seconds": run.seconds,
        },
        "totals": [row.to_dict() for row in summary.totals],
        "questions": [row.to_dict() for row in summary.questions],
        "answers": [record.to_dict() for record in run.records],
    }


def markdown_report(run: EvalRun, summary: Summary, command: str, plot: str | None) -> str:
    qset = run.qset
    lines = [
        f"# ghqa eval: {qset.name}",
        "",
        f"- command: `{command}`",
        f"- date: {run.started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- model: {run.model}",
        f"- source: {_source_label(qset.source)}, commit {run.commit}",
        f"- questions: {len(qset.questions)}, strategies: {', '.join(run.strategies)}, "
        f"repeats: {run.repeat}",
        f"- answers: {len(run.records)} ({len(run.records) - len(run.computed)} from the cache), "
        f"model calls in this run: {run.model_calls}",
        "",
        "## Per strategy",
        "",
        total_table(summary, markdown=True),
        "",
    ]
    if plot:
        lines += [f"![tokens against fact recall per strategy]({plot})", ""]
    lines += ["## Per question", "", question_table(summary, markdown=True), ""]
    failures = [r for r in run.records if r.error]
    if failures:
        lines += ["## Errors and partial answers", ""]
        for r in failures:
            repeat = f" (repeat {r.repeat + 1})" if run.repeat > 1 else ""
            lines.append(f"- {r.strategy} `{r.question_id}`{repeat}: {_one_line(r.error or '')}")
        lines.append("")
    lines += ["## Metrics", "", METRIC_NOTES, ""]
    return "\n".join(lines)


def write_report(run: EvalRun, summary: Summary, path: Path, command: str) -> str | None:
    """Write the Markdown report at ``path`` and its plot beside it (``path`` with ``.png``);
    returns a note when the plot could not be drawn."""
    image = path.with_suffix(".png")
    note = write_plot(summary, image)
    text = markdown_report(run, summary, command, None if note else image.name)
    atomic_write(path, text.encode(), shared=True)
    return note


def write_plot(summary: Summary, path: Path) -> str | None:
    """A PNG of tokens (per pass over the questions) against fact recall, one point per
    strategy with its range over repeats; returns why not when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return "no plot: matplotlib is not installed (pip install matplotlib)"
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6.4, 4.4), dpi=100)
    try:
        markers = "osD^vP*Xh"
        for number, row in enumerate(summary.totals):
            tokens, recall = row.metrics["tokens"], row.metrics["fact_recall"]
            if tokens.mean is None or recall.mean is None:
                continue
            axes.errorbar(
                tokens.mean,
                recall.mean,
                xerr=_spread(tokens.mean, tokens.low, tokens.high),
                yerr=_spread(recall.mean, recall.low, recall.high),
                fmt=markers[number % len(markers)],
                markersize=8,
                capsize=3,
                alpha=0.8,
                label=row.strategy
                if row.used in ("", row.strategy)
                else f"{row.strategy} ({row.used})",
            )
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="best", fontsize="small")
        axes.set_xlabel("tokens (sum over the questions)")
        axes.set_ylabel("fact recall (mean)")
        axes.set_ylim(-0.05, 1.05)
        axes.set_xlim(left=0)
        axes.grid(alpha=0.3)
        axes.set_title("tokens against fact recall per strategy")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        pyplot.close(figure)
    return None


def _spread(mean: float, low: float | None, high: float | None) -> list[list[float]] | None:
    if low is None or high is None or high <= low:
        return None
    return [[mean - low], [high - mean]]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _source_label(source: Source) -> str:
    """The source, with a snapshot directory relative to where the command ran: a report is
    committed and read on other machines."""
    if source.kind != "snapshot":
        return source.label
    try:
        return f"snapshot {os.path.relpath(source.value)}"
    except ValueError:  # another drive
        return source.label
