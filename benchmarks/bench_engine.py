"""Engine benchmarks against a model server that sleeps a fixed latency per call.

    python benchmarks/bench_engine.py [--latency 0.5] [--json PATH]

(a) wall time of 8 batched sub-calls against one sub-call (both through the real openai client
    and ghqa's budgeted model layer);
(b) tokens sent to the model to answer "how does calc_delta_fair avoid division" with each
    strategy, against the tokens of all of kernel/sched (what sending everything would cost);
(c) the same question asked again: answered from the response cache with zero model calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "linux-sched"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from ghqa.engine import answer_question  # noqa: E402
from ghqa.engine.budget import Budget  # noqa: E402
from ghqa.engine.cache import ResponseCache  # noqa: E402
from ghqa.engine.engine import limits_of  # noqa: E402
from ghqa.engine.models import Models  # noqa: E402
from ghqa.engine.trace import Trace  # noqa: E402
from ghqa.pipeline import open_index  # noqa: E402
from ghqa.settings import Settings  # noqa: E402

from enginekit import FAIR, all_text, model_settings, run_python, submit  # noqa: E402
from fakeopenai import FakeOpenAI, Reply  # noqa: E402

QUESTION = "how does calc_delta_fair avoid division"
ANSWER = (
    f"`calc_delta_fair` ({FAIR}:289-295) calls `__calc_delta` ({FAIR}:259-284), which "
    f"multiplies by the cached inverse weight and shifts by `WMULT_SHIFT` ({FAIR}:228)."
)


def make_repo(root: Path) -> Path:
    repo = root / "linux"
    repo.mkdir()
    subprocess.run(["cp", "-r", str(DATA / "kernel"), str(repo)], check=True)
    env = ["-c", "user.name=b", "-c", "user.email=b@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(repo), "commit", "-qm", "sched"], check=True)
    return repo


def bench_batch(server: FakeOpenAI, cache: Path) -> dict[str, Any]:
    settings = model_settings(server, cache, cache="off")
    models = Models(settings, Budget(limits_of(settings)), ResponseCache(None), Trace())
    try:
        t = time.perf_counter()
        models.batch(["one question"])
        one = time.perf_counter() - t
        t = time.perf_counter()
        models.batch([f"question {i}" for i in range(8)])
        eight = time.perf_counter() - t
    finally:
        models.close()
    return {"one_call_s": round(one, 3), "eight_batched_s": round(eight, 3), "ratio": eight / one}


def responder(body: dict[str, Any]) -> Reply:
    """Plays the model for every strategy: REPL steps for the root, notes for the readers."""
    text = all_text(body)
    if "Notes from reading" in text or "Code from" in text:
        return Reply(ANSWER)
    if "Code (kernel/" in text:
        return Reply("NONE" if "__calc_delta(u64" not in text else f"- shifts ({FAIR}:259-284)")
    if "Explain" in text and "tools" not in body:
        return Reply("It multiplies by a precomputed inverse and shifts.")
    turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
    steps = [
        run_python('print(repo.definition("calc_delta_fair"))'),
        run_python('print(repo.definition("__calc_delta"))\nprint(repo.grep("WMULT_SHIFT")[:3])'),
        run_python('print(llm_query("Explain: " + repo.read("fair.c", 259, 284)))'),
        submit(ANSWER, [f"{FAIR}:259-284", f"{FAIR}:289-295", f"{FAIR}:228"]),
    ]
    return steps[min(turns, len(steps) - 1)]


def bench_tokens(server: FakeOpenAI, index: Any, cache: Path) -> dict[str, Any]:
    whole = sum(f.size for f in index.files()) // 4
    out: dict[str, Any] = {"all_of_kernel_sched_tokens": whole}
    for strategy in ("auto", "direct", "chunked", "rlm"):
        before = len(server.requests)
        settings = model_settings(server, cache / strategy, strategy=strategy)
        answer = answer_question(index, QUESTION, settings)
        sent = sum(len(all_text(r)) // 4 for r in server.requests[before:])
        out[strategy] = {
            "tokens_sent": sent,
            "prompt_tokens_reported": answer.usage.prompt_tokens,
            "share_of_all": sent / whole,
            "calls": answer.usage.calls,
            "strategy_used": answer.strategy,
            "verified_citations": len(answer.citations),
        }
        again = answer_question(index, QUESTION, settings)
        out[strategy]["repeat_model_calls"] = again.usage.calls
        out[strategy]["repeat_cached_calls"] = again.usage.cached_calls
        out[strategy]["repeat_s"] = again.wall_time
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        index = open_index(
            f"file://{repo}", ["kernel/sched"], None, Settings.resolve({}, cache_dir=root / "c")
        )
        with FakeOpenAI(responder, latency=args.latency) as server:
            batch = bench_batch(server, root / "batch")
            tokens = bench_tokens(server, index, root / "tokens")
        index.close()
    figures = {"latency_s": args.latency, "batch": batch, "tokens": tokens}
    print(
        f"(a) model latency {args.latency}s: 1 sub-call {batch['one_call_s']}s, "
        f"8 batched {batch['eight_batched_s']}s -> {batch['ratio']:.2f}x (target < 2x)"
    )
    whole = tokens["all_of_kernel_sched_tokens"]
    print(f"(b) tokens sent for {QUESTION!r}; all of kernel/sched is ~{whole:,} tokens")
    for s in ("auto", "direct", "chunked", "rlm"):
        t = tokens[s]
        label = f"auto ({t['strategy_used']})" if s == "auto" else s
        print(
            f"    {label:15} {t['tokens_sent']:>8,} tokens in {t['calls']:>2} calls = "
            f"{t['share_of_all']:.2%} of all{' (target < 5%)' if s == 'auto' else ''}; "
            f"{t['verified_citations']} verified citations"
        )
    print(
        "(c) asked again: "
        + "; ".join(
            f"{s} {tokens[s]['repeat_model_calls']} model calls "
            f"({tokens[s]['repeat_cached_calls']} from cache, {tokens[s]['repeat_s']}s)"
            for s in ("auto", "direct", "chunked", "rlm")
        )
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
