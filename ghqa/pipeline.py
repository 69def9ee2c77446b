"""The one module that knows every stage: spec -> fetch -> index -> engine -> Answer."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import EngineError, NeedsKeyError
from .fetch import Checkout, fetch, parse_spec
from .index import RepoIndex, build_index
from .reporter import Reporter, null_reporter
from .settings import Settings

# The engine (and the model clients under it) is imported where a question is answered, so that
# the commands that only fetch and index (``ghqa symbols``, ...) do not pay for it.
if TYPE_CHECKING:
    from .engine import Answer, Usage
    from .engine.run import Pace
    from .local import LocalServer


def checkout(
    repo: str,
    paths: Sequence[str] = (),
    ref: str | None = None,
    settings: Settings | None = None,
    reporter: Reporter = null_reporter,
) -> Checkout:
    """Fetch ``paths`` of ``repo`` at ``ref`` into the cache; the result is pinned to a commit."""
    settings = settings or Settings.resolve()
    spec = parse_spec(repo, tuple(paths), ref, github_host=settings.github_host)
    return fetch(spec, settings, reporter)


def open_index(
    repo: str,
    paths: Sequence[str] = (),
    ref: str | None = None,
    settings: Settings | None = None,
    reporter: Reporter = null_reporter,
) -> RepoIndex:
    """Fetch, then index (or reuse the index of) ``paths`` of ``repo`` at ``ref``."""
    settings = settings or Settings.resolve()
    co = checkout(repo, paths, ref, settings, reporter)
    return build_index(co, settings, reporter)


def ask(
    repo: str,
    question: str,
    paths: Sequence[str] = (),
    ref: str | None = None,
    settings: Settings | None = None,
    reporter: Reporter = null_reporter,
    trace_path: Path | None = None,
    web_url: str | None = None,
) -> Answer:
    """Answer ``question`` about ``paths`` of ``repo`` at ``ref``, with verified citations.

    With no API key and no server configured, the local model answers (``ghqa[local]``); when
    that is not installed either, the answer is the relevant code itself, marked partial, with
    the reason saying how to get a written answer. The trace goes to ``trace_path``, or to a new
    file under the cache's ``traces`` folder. ``web_url`` overrides where citations link to."""
    from .engine import check_question

    started = time.monotonic()
    settings = (settings or Settings.resolve()).check()
    question = check_question(question)
    index = open_index(repo, paths, ref, settings, reporter)
    try:
        with answerer(settings, reporter) as answer:
            result = answer(index, question, trace_path, web_url)
    finally:
        index.close()
    result.wall_time = round(time.monotonic() - started, 3)
    return result


#: Answers a question about an index: (index, question, trace path, web URL) -> Answer.
AnswerFn = Callable[[RepoIndex, str, "Path | None", "str | None"], "Answer"]


@contextlib.contextmanager
def answerer(settings: Settings, reporter: Reporter = null_reporter) -> Iterator[AnswerFn]:
    """A function answering any number of questions with one model, which (when it is the
    local one) is started once for the block. Without any model, its answers are the relevant
    code, marked partial, with the reason saying how to get a written answer."""
    from .engine import answer_question, code_only_answer

    with contextlib.ExitStack() as stack:
        try:
            model = stack.enter_context(model_server(settings, reporter))
        except NoModel as exc:
            reason = str(exc)

            def code_only(
                index: RepoIndex, question: str, trace_path: Path | None, web_url: str | None
            ) -> Answer:
                return code_only_answer(index, question, settings, reason)

            yield code_only
            return

        pace = model.pace

        def answer(
            index: RepoIndex, question: str, trace_path: Path | None, web_url: str | None
        ) -> Answer:
            nonlocal pace
            trace = trace_path or default_trace_path(settings, question)
            try:
                result = answer_question(
                    index, question, model.settings, reporter, trace, model.small, web_url,
                    pace=pace, count=model.count_tokens,
                )  # fmt: skip
                pace = learn_pace(model, result.usage, result.usage.latency) or pace
                return result
            except EngineError as exc:
                stopped = local_stopped(model.local)
                if stopped is None:
                    raise
                raise EngineError(stopped) from exc

        yield answer


def learn_pace(model: ModelInUse, usage: Usage, seconds: float) -> Pace | None:
    """The local model's kept speed moved towards what a one-call answer took (``seconds``);
    None for a configured model, a cached answer, or several calls (their times overlap)."""
    if model.local is None or usage.calls != 1 or usage.cached_calls:
        return None
    from .local.speed import record_call

    return record_call(
        model.local, model.settings, usage.prompt_tokens, usage.completion_tokens, seconds
    )


def local_stopped(local: LocalServer | None) -> str | None:
    """What to say when the local model's server has stopped by itself (it crashed): the model
    client can only tell that the server is unreachable. None while it runs, and for a
    configured model."""
    if local is None or (ended := local.ended()) is None:
        return None
    return f"the local model server has stopped ({ended}); its log: {local.log_path}"


class NoModel(NeedsKeyError):
    """No key, no server and no local model: only the relevant code can be shown."""


class ModelInUse(NamedTuple):
    """What a block asks its questions with: the settings to reach the model, whether it is
    the small local one, the local model's server (None for a configured one), its speed on
    this machine and its tokenizer's counter (None where unknown)."""

    settings: Settings
    small: bool
    local: LocalServer | None
    pace: Pace | None = None
    count_tokens: Callable[[str], int] | None = None


@contextlib.contextmanager
def model_server(settings: Settings, reporter: Reporter) -> Iterator[ModelInUse]:
    """The model to ask questions with: a configured key or server is used as is; otherwise
    the local model is started for the duration of the block and stopped after it (also on
    Ctrl-C)."""
    if settings.api_key or settings.base_url:
        yield ModelInUse(settings, False, None)
        return
    from .local import local_available, start_local

    missing = local_available()
    if missing is not None:
        raise NoModel(
            "no model configured: set OPENAI_API_KEY (or GHQA_BASE_URL), "
            f"or install the local model: {missing}"
        )
    from .engine.tokens import local_tokenizer
    from .local.speed import local_speed

    server = start_local(settings, reporter)
    try:
        served = dataclasses.replace(
            local_settings(settings, server.context),
            base_url=server.base_url,
            api_key="local",
            model=server.model_alias,
            sub_model=server.model_alias,
        )
        try:
            pace: Pace | None = local_speed(server, settings, reporter)
        except EngineError as exc:  # plans are then not fitted to the time limit
            reporter("local", f"the model's speed is unknown: {exc}")
            pace = None
        tokenizer = local_tokenizer(settings)
        count = tokenizer.count if tokenizer is not None else None
        yield ModelInUse(served, True, server, pace, count)
    finally:
        server.stop()


def local_settings(settings: Settings, window: int | None = None) -> Settings:
    """``settings`` as the local model answers with them: its context budget, reply length,
    decoding and time-outs (``window``: the server's context window, when it runs)."""
    context = LOCAL_CONTEXT_TOKENS
    if window is not None:
        context = min(context, window - 2 * LOCAL_REPLY_TOKENS)
    return dataclasses.replace(
        settings,
        tools="off",
        concurrency=1,
        temperature=0.0 if settings.temperature is None else settings.temperature,
        extra_params=settings.extra_params or LOCAL_EXTRA_PARAMS,
        request_timeout=max(settings.request_timeout, LOCAL_REQUEST_TIMEOUT),
        reply_tokens=min(settings.reply_tokens, LOCAL_REPLY_TOKENS),
        context_tokens=min(settings.context_tokens, context),
    )


#: Reply length for the local model: answers, not essays, on a CPU.
LOCAL_REPLY_TOKENS = 700
#: Code sent to the local model in one call: the strong spans, without hints (prompts are slow
#: on a CPU, and a small model is distracted by more).
LOCAL_CONTEXT_TOKENS = 4_000
#: Greedy decoding with a repetition penalty: repeatable answers without a small model's loops.
LOCAL_EXTRA_PARAMS = '{"repeat_penalty": 1.3}'
#: A long prompt takes minutes on two cores.
LOCAL_REQUEST_TIMEOUT = 600.0


def default_trace_path(settings: Settings, question: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    digest = hashlib.sha256(question.encode()).hexdigest()[:8]
    return settings.cache_root / "traces" / f"{stamp}-{digest}.jsonl"
