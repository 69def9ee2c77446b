"""The local path, question by question: the plan the router chose, its estimate, the prompt
tokens (counted by the model's server), time to the first answer token and the whole time.

    python benchmarks/bench_local_path.py [--set linux-sched|itsdangerous|both] [--limit N]
                                          [--model 1.5b|0.5b] [--json PATH]

One local model server answers every question (as `ghqa eval` does), with default settings and
`auto`; nothing comes from the response cache. Time to first token is llama.cpp's own prompt
evaluation time for the answer's request (from the server's log). The baseline is the plan's
own estimate: the ratio estimate / actual says how well plans are priced (1.0 is exact; above
1, the estimate was pessimistic).

Needs ``pip install 'ghqa[local]'``; the question sets' sources as `ghqa eval` fetches them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ghqa.engine import answer_question  # noqa: E402
from ghqa.engine.trace import load_trace  # noqa: E402
from ghqa.eval.questions import load_questions  # noqa: E402
from ghqa.eval.sources import source_spec  # noqa: E402
from ghqa.index import build_index  # noqa: E402
from ghqa.pipeline import checkout, model_server  # noqa: E402
from ghqa.settings import Settings  # noqa: E402

SETS = {
    "linux-sched": HERE / "questions" / "linux-sched.yml",
    "itsdangerous": HERE / "questions" / "itsdangerous.yml",
}
_PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")


def prompt_evals(log: Path) -> list[tuple[float, int]]:
    """(seconds, tokens) of every prompt evaluation the server logged so far."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [(float(ms) / 1000, int(n)) for ms, n in _PROMPT_EVAL.findall(text)]


def run_set(name: str, limit: int | None, settings: Settings) -> list[dict[str, Any]]:
    qset = load_questions(SETS[name])
    spec, ref = source_spec(qset.source, qset.name, settings.cache_root)
    rows: list[dict[str, Any]] = []
    questions = qset.questions[:limit] if limit else qset.questions
    with model_server(settings, lambda *a, **k: None) as model:
        served = dataclasses.replace(model.settings, cache="off")
        log = model.local.log_path if model.local is not None else None
        pace = model.pace
        for q in questions:
            co = checkout(spec, q.paths, ref, settings)
            index = build_index(co, settings)
            before = len(prompt_evals(log)) if log else 0
            trace = Path(tempfile.mkdtemp()) / "trace.jsonl"
            try:
                answer = answer_question(
                    index, q.question, served, trace_path=trace, small_model=model.small,
                    pace=pace, count=model.count_tokens,
                )  # fmt: skip
            finally:
                index.close()
            events, _ = load_trace(trace)
            route = next((e for e in events if e.get("type") == "route"), {})
            evals = prompt_evals(log)[before:] if log else []
            rows.append(
                {
                    "set": name,
                    "question": q.id,
                    "plan": route.get("strategy"),
                    "code_tokens": route.get("context_tokens"),
                    "estimate": route.get("estimate"),
                    "prompt_tokens": answer.usage.prompt_tokens,
                    "reply_tokens": answer.usage.completion_tokens,
                    "first_token": evals[0][0] if evals else None,
                    "seconds": answer.wall_time,
                    "calls": answer.usage.calls,
                    "partial": answer.partial,
                }
            )
            row = rows[-1]
            print(
                f"{name:12} {q.id:32} {row['plan'] or '-':7} "
                f"prompt {row['prompt_tokens']:>5,}  first token "
                f"{_num(row['first_token'])}s  total {row['seconds']:6.1f}s  "
                f"estimate {_num(row['estimate'])}s",
                flush=True,
            )
    return rows


def _num(value: float | None) -> str:
    return f"{value:6.1f}" if value is not None else "     -"


def summary(rows: list[dict[str, Any]]) -> list[str]:
    seconds = [r["seconds"] for r in rows]
    firsts = [r["first_token"] for r in rows if r["first_token"] is not None]
    ratios = [r["estimate"] / r["seconds"] for r in rows if r["estimate"] and r["seconds"]]
    plans: dict[str, int] = {}
    for r in rows:
        plans[r["plan"]] = plans.get(r["plan"], 0) + 1
    lines = [
        f"questions: {len(rows)}; plans: "
        + ", ".join(f"{plan} {n}" for plan, n in sorted(plans.items())),
        f"total time: median {statistics.median(seconds):.1f}s, max {max(seconds):.1f}s; "
        f"partial: {sum(r['partial'] for r in rows)}",
        f"prompt tokens: median {statistics.median(r['prompt_tokens'] for r in rows):,.0f}, "
        f"max {max(r['prompt_tokens'] for r in rows):,}",
    ]
    if firsts:
        lines.append(
            f"time to first token: median {statistics.median(firsts):.1f}s, max {max(firsts):.1f}s"
        )
    if ratios:
        lines.append(
            f"estimate / actual: median {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f}x)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=[*SETS, "both"], default="both")
    parser.add_argument("--limit", type=int, help="the first N questions of each set")
    parser.add_argument("--model", default="1.5b", help="the local model (1.5b or 0.5b)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    settings = Settings.resolve(local_model=args.model)
    if settings.api_key or settings.base_url:
        sys.exit("unset OPENAI_API_KEY / GHQA_BASE_URL: this measures the local model")
    names = list(SETS) if args.set == "both" else [args.set]
    rows = [row for name in names for row in run_set(name, args.limit, settings)]
    print()
    for line in summary(rows):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
