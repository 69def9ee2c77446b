"""Running an evaluation: every question × strategy × repeat, answered, graded and cached.

Answers run concurrently (a few at a time) unless the model is the local one, which answers one
at a time. Model replies are not taken from the response cache (each answer is a fresh
measurement, and repeats are independent samples); finished results are taken from the
evaluation cache instead, so a rerun only pays for what changed."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..engine import Answer, Usage, answer_question
from ..engine.budget import Budget, Limits
from ..engine.cache import ResponseCache
from ..engine.models import Models
from ..engine.run import Pace
from ..engine.trace import Trace
from ..errors import GhqaError
from ..fetch import Checkout
from ..index import build_index
from ..pipeline import checkout, learn_pace, local_settings, local_stopped, model_server
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .baselines import answer_baseline
from .grade import failed_grade, grade_answer
from .questions import EvalQuestion, ExpectedSpan, QuestionFileError, QuestionSet
from .results import RESULTS_FILE, AnswerRecord, ResultCache, result_key
from .sources import source_spec
from .strategies import BASELINES, DEFAULT_STRATEGIES

#: Answers in flight at once for a remote model.
DEFAULT_JOBS = 4


@dataclass(frozen=True)
class EvalOptions:
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    repeat: int = 1
    use_cache: bool = True  # read results from the evaluation cache
    jobs: int | None = None  # answers in flight at once (default: DEFAULT_JOBS; local: 1)
    no_model: bool = False  # stop before the first model call: context recall only


@dataclass(frozen=True)
class Job:
    question: EvalQuestion
    strategy: str
    repeat: int


@dataclass
class EvalRun:
    """The graded answers of one evaluation, with what it ran on."""

    qset: QuestionSet
    strategies: tuple[str, ...]
    repeat: int
    model: str
    commits: dict[str, str]  # question id -> commit
    records: list[AnswerRecord]
    started: datetime
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def commit(self) -> str:
        """The commit, or the commits joined by ", " when questions saw different ones."""
        return ", ".join(dict.fromkeys(self.commits.values()))

    @property
    def short_commit(self) -> str:
        return ", ".join(dict.fromkeys(c[:12] for c in self.commits.values()))

    @property
    def computed(self) -> list[AnswerRecord]:
        """The answers computed by this run (not read from the cache)."""
        return [r for r in self.records if not r.from_cache]

    @property
    def model_calls(self) -> int:
        """Model calls made by this run."""
        return sum(r.calls for r in self.computed)


def run_eval(
    qset: QuestionSet,
    settings: Settings,
    options: EvalOptions = EvalOptions(),
    reporter: Reporter = null_reporter,
) -> EvalRun:
    """Answer every question of ``qset`` with every strategy ``options.repeat`` times, grade the
    answers, and keep them in the evaluation cache."""
    settings = settings.check()
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    spec, ref = source_spec(qset.source, qset.name, settings.cache_root)
    checkouts = _checkouts(qset, spec, ref, settings, reporter)
    check_expected_spans(qset, checkouts)
    model = model_name(settings)
    settings = dataclasses.replace(settings, model=model)
    jobs = [
        Job(q, s, r)
        for s in options.strategies
        for q in qset.questions
        for r in range(options.repeat)
    ]
    records: dict[Job, AnswerRecord] = {}
    notes: list[str] = []
    if options.no_model:
        _run_dry(jobs, checkouts, settings, records, reporter)
        notes.append("no model: answers stop before the first model call (context recall only)")
    else:
        _run_with_model(jobs, checkouts, settings, options, model, qset.name, records, reporter)
    return EvalRun(
        qset=qset,
        strategies=options.strategies,
        repeat=options.repeat,
        model=model,
        commits={q.id: checkouts[q.paths].commit for q in qset.questions},
        records=[records[job] for job in jobs],
        started=started,
        seconds=round(time.monotonic() - clock, 3),
        notes=notes,
    )


def _run_with_model(
    jobs: list[Job],
    checkouts: dict[tuple[str, ...], Checkout],
    settings: Settings,
    options: EvalOptions,
    model: str,
    name: str,
    records: dict[Job, AnswerRecord],
    reporter: Reporter,
) -> None:
    """Every job not in the evaluation cache, answered by the model and kept in the cache."""
    results = ResultCache(settings.cache_root / RESULTS_FILE, read=options.use_cache)
    try:
        todo: list[tuple[Job, str]] = []
        for job in jobs:
            co = checkouts[job.question.paths]
            key = result_key(job.question, job.strategy, model, co.commit, job.repeat, settings)
            cached = results.get(key)
            if cached is not None:
                records[job] = cached
            else:
                todo.append((job, key))
        reporter(
            "eval",
            f"{len(jobs)} answers: {len(jobs) - len(todo)} from the cache, "
            f"{len(todo)} to compute with {model}",
            answers=len(jobs),
            todo=len(todo),
        )
        if todo:
            with model_server(settings, reporter) as in_use:
                served = dataclasses.replace(in_use.settings, cache=_response_mode(settings.cache))
                small = in_use.small
                pace = in_use.pace

                def answer(job: Job) -> AnswerRecord:
                    nonlocal pace
                    co = checkouts[job.question.paths]
                    trace = _trace_path(served, name, job)
                    record = answer_job(
                        job, co, served, small, trace, pace=pace, count=in_use.count_tokens
                    )
                    usage = Usage(
                        record.calls, record.cached_calls, record.prompt_tokens,
                        record.completion_tokens,
                    )  # fmt: skip
                    pace = learn_pace(in_use, usage, record.seconds) or pace
                    if record.failed and (stopped := local_stopped(in_use.local)) is not None:
                        record = dataclasses.replace(record, error=stopped)
                    return record

                def done(job: Job, key: str, record: AnswerRecord) -> None:
                    records[job] = record
                    results.put(key, record)
                    reporter("eval", f"[{len(records)}/{len(jobs)}] {_summary(job, record)}")

                one_at_a_time = small or served.concurrency <= 1
                workers = 1 if one_at_a_time else options.jobs or DEFAULT_JOBS
                _run_all(todo, answer, done, min(workers, len(todo)))
    finally:
        results.close()


def _run_dry(
    jobs: list[Job],
    checkouts: dict[tuple[str, ...], Checkout],
    settings: Settings,
    records: dict[Job, AnswerRecord],
    reporter: Reporter,
) -> None:
    """Every job up to its first model call, with the budgets of the model that would answer
    (the local one's when no key or server is set); nothing is cached."""
    small = not (settings.api_key or settings.base_url)
    count = None
    if small:
        from ..engine.tokens import local_tokenizer

        settings = local_settings(settings)
        tokenizer = local_tokenizer(settings)
        count = tokenizer.count if tokenizer is not None else None
    for n, job in enumerate(jobs, 1):
        co = checkouts[job.question.paths]
        record = answer_job(job, co, settings, small, dry_run=True, count=count)
        records[job] = record
        reporter("eval", f"[{n}/{len(jobs)}] {_summary(job, record)}")


def _response_mode(mode: str) -> str:
    """Fresh model calls (recorded for others), unless the responses are replayed or off."""
    return mode if mode in ("replay", "off") else "refresh"


def model_name(settings: Settings) -> str:
    """The root model's name: the local model's when no key or server is set (without starting
    it), else the configured one, or the first the server lists."""
    if not (settings.api_key or settings.base_url):
        from ..local import local_model

        return local_model(settings.local_model).name
    if settings.model:
        return settings.model
    models = Models(settings, Budget(Limits()), ResponseCache(None), Trace(None))
    try:
        return models.root
    finally:
        models.close()


def _checkouts(
    qset: QuestionSet, spec: str, ref: str | None, settings: Settings, reporter: Reporter
) -> dict[tuple[str, ...], Checkout]:
    """A checkout (fetched and indexed) for each distinct set of paths the questions use."""
    found: dict[tuple[str, ...], Checkout] = {}
    for paths in dict.fromkeys(q.paths for q in qset.questions):
        co = checkout(spec, paths, ref, settings, reporter)
        build_index(co, settings, reporter).close()
        found[paths] = co
    return found


def check_expected_spans(qset: QuestionSet, checkouts: dict[tuple[str, ...], Checkout]) -> None:
    """Every expected citation must be lines of a file the question's paths hold."""
    problems: list[str] = []
    lengths: dict[tuple[tuple[str, ...], str], int | None] = {}
    for q in qset.questions:
        co = checkouts[q.paths]
        for span in q.citations:
            where = (co.paths, span.path)
            if where not in lengths:
                lengths[where] = _line_count(co, span.path)
            count = lengths[where]
            scope = ", ".join(q.paths) or "the repository"
            if count is None:
                problems.append(
                    f"question {q.id!r}: citation {span.label}: no such file in {scope} at "
                    f"commit {co.commit[:12]}"
                )
            elif span.end > count:
                problems.append(
                    f"question {q.id!r}: citation {span.label}: the file has {count} lines"
                )
    if problems:
        raise QuestionFileError("\n".join(f"{qset.file}: {p}" for p in problems))


def _line_count(co: Checkout, path: str) -> int | None:
    inside = not co.paths or any(path == p or path.startswith(p + "/") for p in co.paths)
    full = co.root / path
    if not inside or not full.is_file():
        return None
    return len(full.read_bytes().splitlines())


def answer_job(
    job: Job,
    co: Checkout,
    settings: Settings,
    small: bool,
    trace: Path | None = None,
    dry_run: bool = False,
    pace: Pace | None = None,
    count: Callable[[str], int] | None = None,
) -> AnswerRecord:
    """Answer and grade one job; an exception becomes a failed record, not a crash. A
    ``dry_run`` stops before the first model call."""
    started = time.monotonic()
    q = job.question
    try:
        index = build_index(co, settings)
        try:
            if job.strategy in BASELINES:
                answer = answer_baseline(
                    job.strategy, index, q.question, settings, trace_path=trace,
                    dry_run=dry_run, count=count,
                )  # fmt: skip
            else:
                chosen = dataclasses.replace(settings, strategy=job.strategy)
                answer = answer_question(
                    index, q.question, chosen, trace_path=trace, small_model=small,
                    dry_run=dry_run, pace=pace, count=count,
                )  # fmt: skip
        finally:
            index.close()
    except Exception as exc:
        message = str(exc) if isinstance(exc, GhqaError) else f"{type(exc).__name__}: {exc}"
        return AnswerRecord(
            question_id=q.id,
            strategy=job.strategy,
            repeat=job.repeat,
            used=job.strategy,
            text="",
            citations=[],
            dropped=[],
            grade=failed_grade(q),
            seconds=round(time.monotonic() - started, 3),
            error=message or type(exc).__name__,
            commit=co.commit,
            trace=str(trace) if trace else None,
        )
    return record_of(job, answer, round(time.monotonic() - started, 3))


def record_of(job: Job, answer: Answer, seconds: float) -> AnswerRecord:
    usage = answer.usage
    return AnswerRecord(
        question_id=job.question.id,
        strategy=job.strategy,
        repeat=job.repeat,
        used=answer.strategy,
        text=answer.text,
        citations=[c.label for c in answer.citations],
        dropped=[f"{d.citation.label}: {d.reason}" for d in answer.dropped],
        grade=grade_answer(
            job.question,
            answer.text,
            answer.citations,
            len(answer.dropped),
            [_span(label) for label in answer.shown],
        ),
        calls=usage.calls,
        cached_calls=usage.cached_calls,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=usage.cost,
        seconds=seconds,
        partial=answer.partial,
        error=(answer.reason or "partial answer") if answer.partial else None,
        commit=answer.commit,
        trace=answer.trace_path,
        notes=list(answer.notes),
    )


def _span(label: str) -> ExpectedSpan:
    """``path:start-end`` as a span."""
    path, _, lines = label.rpartition(":")
    start, _, end = lines.partition("-")
    return ExpectedSpan(path, int(start), int(end or start))


def _trace_path(settings: Settings, name: str, job: Job) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name) or "eval"
    folder = settings.cache_root / "eval" / "traces" / safe
    return folder / f"{job.question.id}.{job.strategy}.{job.repeat}.jsonl"


def _summary(job: Job, record: AnswerRecord) -> str:
    grade = record.grade
    facts = f"facts {sum(grade.facts)}/{len(grade.facts)}"
    outcome = f"error: {record.error}" if record.failed else facts
    repeat = f" #{job.repeat + 1}" if job.repeat else ""
    return (
        f"{job.strategy} {job.question.id}{repeat}: {outcome}, {record.calls} calls, "
        f"{record.tokens:,} tokens, {record.seconds:.1f}s"
    )


def _run_all(
    todo: list[tuple[Job, str]],
    answer: Callable[[Job], AnswerRecord],
    done: Callable[[Job, str, AnswerRecord], None],
    workers: int,
) -> None:
    if workers <= 1:
        for job, key in todo:
            done(job, key, answer(job))
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ghqa-eval")
    try:
        futures: dict[Future[AnswerRecord], tuple[Job, str]] = {
            pool.submit(answer, job): (job, key) for job, key in todo
        }
        for future in as_completed(futures):
            job, key = futures[future]
            done(job, key, future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
