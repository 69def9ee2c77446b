"""The engine: (question, indexed checkout, settings) -> Answer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import QuestionError
from ..index import RepoIndex
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .answer import Answer, Citation, Usage
from .budget import Budget, BudgetExceeded, Limits
from .cache import ResponseCache
from .chunked import answer_chunked
from .citations import verify_citations
from .context import gather
from .direct import answer_direct
from .models import Models
from .rlm import ProtocolFailure, answer_rlm
from .router import route
from .run import Draft, Pace, Run
from .trace import Trace
from .workspace import Workspace

RESPONSES_FILE = "responses-v1.sqlite"
#: A small model sees the line number of every this many lines (numbers cost it time).
SMALL_MODEL_NUMBER_EVERY = 5
#: Longer questions are refused: code belongs in the repository, not in the question.
MAX_QUESTION_CHARS = 20_000


def check_question(question: str) -> str:
    """The question with its whitespace normalized, or a :class:`QuestionError`."""
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(question):,} characters long; keep it under "
            f"{MAX_QUESTION_CHARS:,} (ask about the code, don't paste it)"
        )
    question = " ".join(question.split())
    if not question:
        raise QuestionError("the question is empty: ask something about the code")
    return question


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_calls=settings.max_calls,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        timeout=settings.timeout,
        max_iterations=settings.max_iterations,
        max_errors=settings.max_errors,
    )


def answer_question(
    index: RepoIndex,
    question: str,
    settings: Settings,
    reporter: Reporter = null_reporter,
    trace_path: Path | None = None,
    small_model: bool = False,
    web_url: str | None = None,
    dry_run: bool = False,
    pace: Pace | None = None,
    count: Callable[[str], int] | None = None,
) -> Answer:
    """Answer ``question`` about the checkout behind ``index``, within the settings' budgets.

    ``small_model`` says the model is too small to drive the REPL well (the local one);
    ``web_url`` is where citations link to, when not the repository spec's own web page (a
    local checkout of a GitHub repository). A ``dry_run`` stops at the first model call: the
    answer is empty and partial, and its ``shown`` says what the model would have read.
    ``pace`` is the model's speed on this machine (plans are fitted to the time limit) and
    ``count`` its tokenizer's count (code is fitted to the token budget), where known."""
    settings.check()
    question = check_question(question)
    with opened_run(
        index, question, settings, reporter, trace_path, web_url, small_model, dry_run
    ) as run:
        run.pace = pace
        if count is not None:
            run.ws.count = count
        trace, models, spec = run.trace, run.models, index.checkout.spec
        trace.event(
            "question",
            question=question,
            repo=spec.display,
            commit=index.commit,
            paths=list(index.checkout.paths),
            root_model=models.root,
            sub_model=models.sub,
        )
        chosen = route(run)
        if chosen.context_tokens is not None:
            run.context_budget = chosen.context_tokens
        trace.event(
            "route",
            strategy=chosen.strategy,
            reason=chosen.reason,
            context_tokens=chosen.context_tokens,
            estimate=chosen.estimate,
        )
        run.report(
            f"strategy {chosen.summary}: {chosen.reason}",
            strategy=chosen.strategy,
            estimate=chosen.estimate,
        )
        strategy = chosen.strategy
        notes = [f"strategy {chosen.summary}: {chosen.reason}"]
        draft = _run_strategy(run, strategy)
        if isinstance(draft, ProtocolFailure):
            notes.append(f"fell back to chunked: {draft}")
            run.report(f"rlm: {draft}; falling back to chunked", strategy="chunked")
            strategy = "chunked"
            draft = _run_strategy(run, strategy)
        assert isinstance(draft, Draft)
        fill_empty(draft)
        draft.notes = notes + draft.notes
        return run.finish(draft, strategy)


@contextlib.contextmanager
def opened_run(
    index: RepoIndex,
    question: str,
    settings: Settings,
    reporter: Reporter = null_reporter,
    trace_path: Path | None = None,
    web_url: str | None = None,
    small_model: bool = False,
    dry_run: bool = False,
) -> Iterator[Run]:
    """A :class:`Run` for one question, with its budget, response cache, trace and model
    client; all of them closed when the block ends."""
    budget = Budget(limits_of(settings))
    cache = ResponseCache(
        settings.cache_root / RESPONSES_FILE if settings.cache != "off" else None, settings.cache
    )
    trace = Trace(trace_path)
    models = None
    try:
        models = Models(settings, budget, cache, trace, reporter, dry_run=dry_run)
        spec = index.checkout.spec
        ws = Workspace(index)
        if small_model:
            ws.number_every = SMALL_MODEL_NUMBER_EVERY
        yield Run(
            question=question,
            ws=ws,
            settings=settings,
            models=models,
            budget=budget,
            trace=trace,
            reporter=reporter,
            repo=spec.display,
            web_url=web_url or spec.web_url,
            small_model=small_model,
        )
    finally:
        if models is not None:
            models.close()
        cache.close()
        trace.close()


def fill_empty(draft: Draft) -> Draft:
    """A draft with no text says why there is no answer, and is partial."""
    if not draft.text.strip():
        draft.text = f"No answer: {draft.reason or 'the model returned nothing'}."
        draft.partial = True
    return draft


def _run_strategy(run: Run, strategy: str) -> Draft | ProtocolFailure:
    try:
        if strategy == "direct":
            return answer_direct(run)
        if strategy == "chunked":
            return answer_chunked(run)
        return answer_rlm(run)
    except ProtocolFailure as exc:
        return exc
    except BudgetExceeded as exc:
        return Draft("", partial=True, reason=exc.reason)


def code_only_answer(index: RepoIndex, question: str, settings: Settings, reason: str) -> Answer:
    """Without any model: the code the engine would have sent, with its citations."""
    question = check_question(question)
    ws = Workspace(index)
    ctx = gather(ws, question, settings.context_tokens)
    text = ctx.text or "No code matched the question's words."
    citations = [Citation(s.path, s.start, s.end) for s in ctx.spans]
    spec = index.checkout.spec
    verified, dropped = verify_citations(
        citations, ws.root, ws.commit, allowed=lambda p: p in ws.entries, web_url=spec.web_url
    )
    return Answer(
        question=question,
        text=text,
        citations=verified,
        strategy="none",
        repo=spec.display,
        commit=index.commit,
        usage=Usage(),
        dropped=dropped,
        partial=True,
        reason=reason,
        notes=["no model: this is the relevant code, not an answer"],
    )
