"""Choosing a strategy from the size of the relevant code and the budget."""

from __future__ import annotations

from dataclasses import dataclass

from .context import gather
from .run import Run

STRATEGIES = ("direct", "chunked", "rlm")


@dataclass(frozen=True)
class Route:
    strategy: str
    reason: str


def route(run: Run) -> Route:
    """``direct`` when the relevant code fits one call; ``chunked`` for a small model or a
    budget too small for a REPL session; ``rlm`` otherwise. A forced strategy is taken as is."""
    forced = run.settings.strategy
    if forced != "auto":
        return Route(forced, "chosen by the user")
    budget = run.settings.context_tokens
    ctx = gather(run.ws, run.question, budget)
    limits = run.budget.limits
    if (ctx.named or run.small_model) and ctx.relevant_tokens <= budget:
        return Route(
            "direct",
            f"the relevant code (~{ctx.relevant_tokens:,} tokens around "
            f"{', '.join(ctx.named[:3])}) fits one call",
        )
    if run.small_model:
        return Route("chunked", "a small local model cannot drive the REPL well")
    if limits.max_calls < 4 or limits.max_iterations < 3:
        return Route("chunked", f"the budget ({limits.max_calls} calls) is too small for a REPL")
    why = (
        "the question names no symbol of this code"
        if not ctx.named
        else f"the relevant code (~{ctx.relevant_tokens:,} tokens) is larger than one call"
    )
    return Route("rlm", why)
