"""``ghqa eval QUESTIONS_FILE``: the command. Flags -> Settings -> run_eval -> tables."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from ..cliopts import Progress, cache_dir_option, model_options
from ..errors import GhqaError
from ..settings import Settings
from .strategies import DEFAULT_STRATEGIES, STRATEGIES, parse_strategies


@click.command(name="eval", context_settings={"max_content_width": 100})
@click.argument("questions_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-s",
    "--strategy",
    "strategies",
    default=",".join(DEFAULT_STRATEGIES),
    show_default=True,
    help=f"Comma-separated strategies to compare: {', '.join(STRATEGIES)}.",
)
@model_options
@click.option("--repeat", type=click.IntRange(1), default=1, help="Answers per question.")
@click.option("--subset", is_flag=True, help="Only the questions marked 'subset: true'.")
@click.option(
    "--question",
    "question_ids",
    multiple=True,
    metavar="ID",
    help="Only this question (repeatable; ids may also be comma-separated).",
)
@click.option(
    "--jobs", type=click.IntRange(1), help="Answers at once (default 4; the local model: 1)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a Markdown report here, and its plot beside it (.png).",
)
@click.option("--no-cache", is_flag=True, help="Answer again even if a result is cached.")
@click.option(
    "--no-model",
    is_flag=True,
    help="Stop each answer before its first model call and report context recall only "
    "(with the budgets of the model that would answer; nothing is cached).",
)
@cache_dir_option("clones, indexes and results")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def eval_command(
    questions_file: Path, strategies: str, model: str | None, sub_model: str | None,
    base_url: str | None, local_model: str | None, repeat: int, subset: bool,
    question_ids: tuple[str, ...], jobs: int | None,
    as_json: bool, report_file: Path | None, no_cache: bool, no_model: bool,
    cache_dir: Path | None, quiet: bool,
) -> None:  # fmt: skip
    """Answer the questions of QUESTIONS_FILE with each strategy, grade the answers, and
    compare: fact recall, citation precision and recall, verified citations, model calls,
    tokens, cost and time.

    Baselines: `whole` (the selected code in one call, cut at the context budget) and `grep`
    (windows around the question's words). Results are cached, so a rerun only answers what
    changed.

    \b
    Examples:
      ghqa eval benchmarks/questions/linux-sched.yml
      ghqa eval benchmarks/questions/linux-sched.yml --strategy grep,direct,rlm --repeat 3
      ghqa eval benchmarks/questions/linux-sched.yml --subset --report out/eval.md
    """
    from .questions import load_questions
    from .report import to_json, write_report
    from .runner import EvalOptions, run_eval
    from .summary import summarize
    from .table import question_table, total_table

    try:
        chosen = parse_strategies(strategies)
        qset = load_questions(questions_file)
        if subset:
            qset = qset.subset()
        if question_ids:
            qset = qset.only([i for ids in question_ids for i in ids.split(",") if i])
        settings = Settings.resolve(
            cache_dir=cache_dir,
            model=model,
            sub_model=sub_model,
            base_url=base_url,
            local_model=local_model,
        )
        options = EvalOptions(chosen, repeat, use_cache=not no_cache, jobs=jobs, no_model=no_model)
        run = run_eval(qset, settings, options, Progress(quiet))
    except GhqaError as exc:
        raise click.ClickException(str(exc)) from None
    summary = summarize(run)
    command = _command_line(
        questions_file,
        chosen,
        {"--model": model, "--sub-model": sub_model, "--local-model": local_model},
        repeat,
        subset,
        question_ids,
        report_file,
        as_json,
        no_cache,
        no_model,
    )
    note = write_report(run, summary, report_file, command) if report_file else None
    if as_json:
        click.echo(json.dumps(to_json(run, summary, command), indent=2))
    else:
        click.echo(question_table(summary))
        click.echo()
        click.echo(total_table(summary))
        click.echo()
        click.echo(
            f"{run.qset.name}: {len(run.qset.questions)} questions · model {run.model} · "
            f"commit {run.short_commit} · {len(run.records)} answers "
            f"({len(run.records) - len(run.computed)} from the cache) · "
            f"{run.model_calls} model calls in this run · {run.seconds:.1f}s"
        )
        click.echo(
            "cite P is 0 when an answer cites nothing verified; '-' is not applicable; "
            "(a-b) is the range over repeats where they differ"
        )
    if report_file and not quiet:
        click.echo(f"report: {report_file}", err=True)
    if note:
        click.echo(f"ghqa: {note}", err=True)


def _command_line(
    questions_file: Path,
    strategies: tuple[str, ...],
    models: dict[str, str | None],
    repeat: int,
    subset: bool,
    question_ids: tuple[str, ...],
    report_file: Path | None,
    as_json: bool,
    no_cache: bool,
    no_model: bool = False,
) -> str:
    """The command that reproduces this run (options given, not the environment)."""
    words = ["ghqa", "eval", str(questions_file), "--strategy", ",".join(strategies)]
    for option, value in models.items():
        if value:
            words += [option, value]
    if repeat > 1:
        words += ["--repeat", str(repeat)]
    if subset:
        words.append("--subset")
    if question_ids:
        words += ["--question", ",".join(question_ids)]
    if report_file:
        words += ["--report", str(report_file)]
    if as_json:
        words.append("--json")
    if no_cache:
        words.append("--no-cache")
    if no_model:
        words.append("--no-model")
    return shlex.join(words)
