"""The ``direct`` strategy: the most relevant code, packed into one model call."""

from __future__ import annotations

from . import prompts
from .budget import BudgetExceeded
from .context import HINTS, gather
from .run import Draft, Run


def answer_direct(run: Run) -> Draft:
    # A small model gets no hints (lines that merely share a word with the question): on the
    # local 0.5B model they cost a fifth more tokens, for no more facts in its answers.
    ctx = gather(run.ws, run.question, run.context_budget, 0.0 if run.small_model else HINTS)
    run.report(
        f"direct: {len(ctx.spans)} spans from {len(ctx.files)} files, ~{ctx.tokens:,} tokens",
        spans=len(ctx.spans),
        tokens=ctx.tokens,
    )
    step = run.trace.event(
        "strategy", name="direct", spans=[f"{s.path}:{s.start}-{s.end}" for s in ctx.spans]
    )
    run.show((s.path, s.start, s.end) for s in ctx.spans)
    if not ctx.spans:
        ctx_text = "(no code matched the question's words; list of files:)\n" + "\n".join(
            run.ws.readable[:200]
        )
    else:
        ctx_text = ctx.text
    return ask_with_context(run, ctx_text, parent=step)


def ask_with_context(run: Run, context: str, parent: int | None = None) -> Draft:
    """One root-model call answering the question from ``context`` (numbered code)."""
    messages = [
        {
            "role": "system",
            "content": run.answer_system(),
        },
        {
            "role": "user",
            "content": prompts.DIRECT_USER.format(
                question=run.question, repo=run.label, context=context
            ),
        },
    ]
    try:
        reply = run.models.complete(messages, role="root", parent=parent)
    except BudgetExceeded as exc:
        return Draft("", partial=True, reason=exc.reason)
    partial = reply.finish_reason == "length"
    return Draft(
        reply.content,
        partial=partial,
        reason="the reply was cut off at the reply-token limit" if partial else None,
    )
