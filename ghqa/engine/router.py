"""Choosing a strategy from the size of the relevant code, the budget and the model's speed.

Where the model's speed is known (the local model's, measured once per machine), every plan is
priced in seconds and only plans that fit the question's time limit with a margin are taken: a
small model is never sent to map a whole scope, it gets the best code that fits one call.
"""

from __future__ import annotations

from dataclasses import dataclass

from .context import gather
from .run import Run

STRATEGIES = ("direct", "chunked", "rlm")
#: A plan may take at most this share of the time limit (the rest is the margin).
TIME_SHARE = 0.5
#: What a small model's answer should take at most, in seconds.
SMALL_MODEL_SECONDS = 80.0
#: Tokens of a prompt beside its code: instructions, the question, headings.
PROMPT_OVERHEAD = 400
#: The reply length a plan is priced with (answers are usually shorter than the cap).
EXPECTED_REPLY = 450


@dataclass(frozen=True)
class Route:
    strategy: str
    reason: str
    #: Tokens of code the plan sends in one call (None: the settings' budget).
    context_tokens: int | None = None
    #: The plan's estimated duration in seconds, when the model's speed is known.
    estimate: float | None = None

    @property
    def summary(self) -> str:
        """The plan in a few words, for the footer and ``-v``."""
        if self.estimate is None:
            return self.strategy
        code = f", ~{self.context_tokens:,} tokens of code" if self.context_tokens else ""
        return f"{self.strategy}{code}, est. {self.estimate:.0f}s"


def reply_tokens(run: Run) -> int:
    return min(run.settings.reply_tokens, EXPECTED_REPLY)


def call_seconds(run: Run, prompt_tokens: int) -> float | None:
    """The estimated time of one call with ``prompt_tokens`` of code, if the pace is known."""
    if run.pace is None:
        return None
    return run.pace.seconds(prompt_tokens + PROMPT_OVERHEAD, reply_tokens(run))


def time_allowed(run: Run) -> float:
    """Seconds a plan may take: a share of the time limit, and for a small model (which the
    user waits for on a CPU) at most :data:`SMALL_MODEL_SECONDS`."""
    allowed = run.budget.limits.timeout * TIME_SHARE
    return min(allowed, SMALL_MODEL_SECONDS) if run.small_model else allowed


def fitting_context(run: Run, budget: int) -> int:
    """The largest code budget (at most ``budget``) whose single call fits the time allowed."""
    if run.pace is None:
        return budget
    allowed = time_allowed(run)
    low, high = 0, budget
    while low < high:  # the pace is monotonic in the prompt's length
        mid = (low + high + 1) // 2
        seconds = call_seconds(run, mid)
        if seconds is not None and seconds <= allowed:
            low = mid
        else:
            high = mid - 1
    return max(low, min(budget, 500))


def route(run: Run) -> Route:
    """``direct`` when the relevant code fits one call, and always for a small model (with as
    much code as fits the time limit); ``chunked`` when the budget is too small for a REPL
    session; ``rlm`` otherwise. A forced strategy is taken as is."""
    forced = run.settings.strategy
    budget = fitting_context(run, run.settings.context_tokens)
    if forced != "auto":
        return Route(forced, "chosen by the user", budget, _estimate(run, forced, budget))
    ctx = gather(run.ws, run.question, budget)
    limits = run.budget.limits
    if run.small_model or (ctx.named and ctx.relevant_tokens <= budget):
        if ctx.relevant_tokens <= budget:
            why = f"the relevant code (~{ctx.relevant_tokens:,} tokens"
            why += f" around {', '.join(ctx.named[:3])})" if ctx.named else ")"
            why += " fits one call"
        else:
            why = (
                f"a small model reads the best-ranked ~{budget:,} of ~{ctx.relevant_tokens:,} "
                "tokens of relevant code in one call"
            )
        return Route("direct", why, budget, call_seconds(run, budget))
    if limits.max_calls < 4 or limits.max_iterations < 3:
        return Route(
            "chunked",
            f"the budget ({limits.max_calls} calls) is too small for a REPL",
            budget,
            _estimate(run, "chunked", budget),
        )
    why = (
        "the question names no symbol of this code"
        if not ctx.named
        else f"the relevant code (~{ctx.relevant_tokens:,} tokens) is larger than one call"
    )
    return Route("rlm", why, budget)


def _estimate(run: Run, strategy: str, budget: int) -> float | None:
    if strategy == "direct":
        return call_seconds(run, budget)
    return None
