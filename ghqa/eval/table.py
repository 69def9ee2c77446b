"""The evaluation's tables, as aligned text for a terminal or as Markdown."""

from __future__ import annotations

from collections.abc import Sequence

from .summary import Row, Stat, Summary

#: (metric, column heading)
COLUMNS = (
    ("context_recall", "context"),
    ("fact_recall", "facts"),
    ("citation_precision", "cite P"),
    ("citation_recall", "cite R"),
    ("verified_rate", "verified"),
    ("forbidden", "forbidden"),
    ("errors", "errors"),
    ("calls", "calls"),
    ("tokens", "tokens"),
    ("cost", "cost"),
    ("seconds", "seconds"),
)
NOT_APPLICABLE = "-"


def format_stat(metric: str, stat: Stat) -> str:
    """``0.67``, or ``0.67 (0.50-0.83)`` when repeats gave different values."""
    if stat.mean is None:
        return NOT_APPLICABLE
    text = _number(metric, stat.mean)
    if stat.varies and stat.low is not None and stat.high is not None:
        text += f" ({_number(metric, stat.low)}-{_number(metric, stat.high)})"
    return text


def _number(metric: str, value: float) -> str:
    if metric == "tokens":
        return f"{value:,.0f}"
    if metric == "cost":
        return f"${value:.4f}"
    if metric == "seconds":
        return f"{value:.1f}"
    if metric in ("calls", "forbidden", "errors"):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{value:.2f}"


def question_table(summary: Summary, markdown: bool = False) -> str:
    headers = ["strategy", "question", "used", *(title for _, title in COLUMNS)]
    rows = [
        _cells(row, [row.strategy, row.question_id or "", row.used]) for row in summary.questions
    ]
    return render(headers, rows, markdown, left=3)


def total_table(summary: Summary, markdown: bool = False) -> str:
    headers = ["strategy", "used", "answers", *(title for _, title in COLUMNS)]
    rows = [_cells(row, [row.strategy, row.used, str(row.answers)]) for row in summary.totals]
    return render(headers, rows, markdown, left=2)


def _cells(row: Row, first: list[str]) -> list[str]:
    return first + [format_stat(metric, row.metrics[metric]) for metric, _ in COLUMNS]


def render(
    headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool, left: int = 1
) -> str:
    """A table whose first ``left`` columns are left-aligned and the others right-aligned."""
    if markdown:
        rule = ["---" if i < left else "---:" for i in range(len(headers))]
        lines = [headers, rule, *rows]
        return "\n".join("| " + " | ".join(_escape(c) for c in line) + " |" for line in lines)
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")
