"""The ``chunked`` strategy: the sub model reads code-aligned chunks of the relevant files
concurrently and reports what matters; the root model writes the answer from those notes."""

from __future__ import annotations

from . import prompts
from .budget import BudgetExceeded
from .chunks import Chunk, file_chunks
from .context import STRONG, Span, candidates, pack
from .router import call_seconds, time_allowed
from .run import Draft, Run

#: Size of one chunk, in tokens.
CHUNK_TOKENS = 6000
#: Code the root model sees beside the notes (the best spans), in tokens.
SYNTH_CONTEXT_TOKENS = 4000
#: Chunks read for one question at most.
MAX_CHUNKS = 48
#: Model calls kept back for the synthesis.
_RESERVED_CALLS = 1


def relevant_chunks(
    run: Run, limit: int, chunk_tokens: int = CHUNK_TOKENS
) -> tuple[list[Chunk], list[Span]]:
    """Chunks of the files the question is about, most relevant first, at most ``limit``."""
    spans, _, _ = candidates(run.ws, run.question)
    score: dict[str, float] = {}
    for s in spans:
        score[s.path] = score.get(s.path, 0.0) + s.score
    paths = sorted(score, key=lambda p: -score[p]) or run.ws.readable
    ranked: list[tuple[float, Chunk]] = []
    for path in paths:
        for chunk in file_chunks(run.ws, path, chunk_tokens):
            weight = sum(
                s.score
                for s in spans
                if s.path == chunk.path and s.start <= chunk.end and s.end >= chunk.start
            )
            ranked.append((weight, chunk))
        if len(ranked) >= 4 * limit:
            break
    ranked.sort(key=lambda pair: -pair[0])
    # Chunks holding a strong span (a definition, a call site) when there are any; else any hit.
    chosen = (
        [c for w, c in ranked if w >= STRONG][:limit]
        or [c for w, c in ranked if w > 0][:limit]
        or [c for _, c in ranked][:limit]
    )
    chosen.sort(key=lambda c: (c.path, c.start))
    return chosen, spans


def chunk_room(run: Run, chunk_tokens: int) -> int:
    """How many chunks the sub model can read within the calls left and, where the model's
    speed is known, within the time limit (with the synthesis priced in)."""
    limits = run.budget.limits
    room = max(1, limits.max_calls - run.budget.usage.calls - _RESERVED_CALLS)
    per_chunk = call_seconds(run, chunk_tokens)
    synthesis = call_seconds(run, SYNTH_CONTEXT_TOKENS)
    if per_chunk is None or synthesis is None:
        return min(room, MAX_CHUNKS)
    allowed = time_allowed(run) - run.budget.elapsed - synthesis
    return max(1, min(room, MAX_CHUNKS, int(allowed // per_chunk)))


def answer_chunked(run: Run, notes_in: list[str] | None = None) -> Draft:
    chunk_tokens = min(CHUNK_TOKENS, run.context_budget)
    chunks, spans = relevant_chunks(run, chunk_room(run, chunk_tokens), chunk_tokens)
    step = run.trace.event("strategy", name="chunked", chunks=[c.label for c in chunks])
    run.report(
        f"chunked: {len(chunks)} chunks to the sub model", chunks=len(chunks), batch=len(chunks)
    )
    map_prompts = [
        prompts.MAP_USER.format(
            question=run.question,
            label=c.label,
            code=run.ws.numbered(c.path, c.start, c.end),
        )
        for c in chunks
    ]
    run.show((c.path, c.start, c.end) for c in chunks)
    results = run.models.batch(map_prompts, parent=step, system=prompts.MAP_SYSTEM)
    notes = list(notes_in or [])
    failures = 0
    for chunk, result in zip(chunks, results, strict=True):
        if isinstance(result, Exception):
            failures += 1
            continue
        text = result.strip()
        if text and text.upper().rstrip(".") != "NONE":
            notes.append(f"From {chunk.label}:\n{text}")
    run.report(f"chunked: {len(notes)} chunks had something relevant", notes=len(notes))
    context, shown, _ = pack(run.ws, spans, SYNTH_CONTEXT_TOKENS)
    run.show((s.path, s.start, s.end) for s in shown)
    messages = [
        {
            "role": "system",
            "content": run.answer_system(),
        },
        {
            "role": "user",
            "content": prompts.SYNTH_USER.format(
                question=run.question,
                repo=run.label,
                notes="\n\n".join(notes) or "(the readers found nothing relevant)",
                context_heading="Key code:\n\n" if context else "",
                context=context,
            ),
        },
    ]
    reason = None
    if failures:
        reason = f"{failures} of {len(chunks)} chunks could not be read by the sub model"
    try:
        reply = run.models.complete(messages, role="root", parent=step)
    except BudgetExceeded as exc:
        text = "\n\n".join(notes)
        return Draft(text, partial=True, reason=exc.reason, notes=["answer is the raw notes"])
    partial = failures > 0 or reply.finish_reason == "length"
    if reply.finish_reason == "length":
        reason = "the reply was cut off at the reply-token limit"
    return Draft(reply.content, partial=partial, reason=reason)
