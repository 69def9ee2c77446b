"""The command line. Thin: flags -> Settings -> one library call -> output."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from .cliopts import Progress, cache_dir_option, model_options
from .errors import GhqaError
from .eval.command import eval_command
from .settings import Settings, resolve_with_sources
from .web.command import serve_command

F = TypeVar("F", bound=Callable[..., Any])

#: The exit status of an answer that is printed but partial (a time-out, a budget reached).
EXIT_PARTIAL = 3

SYMBOL_KINDS = (
    "function", "method", "constructor", "class", "struct", "union", "enum", "enumerator",
    "interface", "trait", "impl", "module", "namespace", "type", "typedef", "field",
    "variable", "constant", "macro",
)  # fmt: skip


def _repo_options(func: F) -> F:
    func = click.option(
        "--ref", envvar="GHQA_REF", show_envvar=True, help="Branch, tag or commit (default: HEAD)."
    )(func)
    func = cache_dir_option("clones and indexes")(func)
    func = click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")(func)
    return func


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")(func)


def _settings(cache_dir: Path | None) -> Settings:
    return Settings.resolve(cache_dir=cache_dir)


class _AskByDefault(click.Group):
    """``ghqa REPO [PATH]... QUESTION`` means ``ghqa ask REPO [PATH]... QUESTION``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help", "--version"):
            args = ["ask", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_AskByDefault, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ghqa")
def cli() -> None:
    """Answer questions about a GitHub repository, or a part of it, with cited code.

    \b
    Examples:
      ghqa torvalds/linux kernel/sched "how does calc_delta_fair avoid division"
      ghqa pallets/click "how are options parsed?" --strategy rlm
      ghqa symbols torvalds/linux kernel/sched --name calc_delta_fair
      ghqa callers torvalds/linux kernel/sched calc_delta_fair
      ghqa serve                                   # ask and watch in a browser
      ghqa config

    With no API key, a local model answers (pip install 'ghqa[local]').
    """


@cli.command()
@click.argument("repo")
@click.argument("paths", nargs=-1)
@_repo_options
@_json_option
def fetch(
    repo: str, paths: tuple[str, ...], ref: str | None, cache_dir: Path | None, quiet: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """Fetch PATHS of REPO (a sparse, partial clone) and print its directory and commit.

    REPO is owner/name, an https:// or file:// URL, or a local directory.
    """
    from .pipeline import checkout

    co = checkout(repo, paths, ref, _settings(cache_dir), Progress(quiet))
    if as_json:
        _print_json(
            {
                "repo": co.spec.display,
                "root": str(co.root),
                "commit": co.commit,
                "paths": list(co.paths),
            }  # fmt: skip
        )
    else:
        click.echo(str(co.root))
        click.echo(co.commit)


@cli.command()
@click.argument("repo")
@click.argument("paths", nargs=-1)
@_repo_options
@_json_option
def files(
    repo: str, paths: tuple[str, ...], ref: str | None, cache_dir: Path | None, quiet: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """List the files under PATHS of REPO: path, size, language and flags."""
    from .pipeline import open_index

    index = open_index(repo, paths, ref, _settings(cache_dir), Progress(quiet))
    entries = index.files()
    if as_json:
        _print_json(
            [{**asdict(e), "flags": sorted(e.flags), "line": None} for e in entries],
            drop=("line",),
        )
        return
    for e in entries:
        click.echo(f"{e.path}\t{e.size}\t{e.lang or '-'}\t{','.join(sorted(e.flags)) or '-'}")


@cli.command()
@click.argument("repo")
@click.argument("paths", nargs=-1)
@click.option("--name", help="Only symbols with exactly this name.")
@click.option("--prefix", help="Only symbols whose name starts with this.")
@click.option("--kind", type=click.Choice(SYMBOL_KINDS), help="Only symbols of this kind.")
@_repo_options
@_json_option
def symbols(
    repo: str, paths: tuple[str, ...], name: str | None, prefix: str | None, kind: str | None,
    ref: str | None, cache_dir: Path | None, quiet: bool, as_json: bool,
) -> None:  # fmt: skip
    """List the definitions under PATHS of REPO, with their line spans."""
    from .pipeline import open_index

    index = open_index(repo, paths, ref, _settings(cache_dir), Progress(quiet))
    found = index.symbols(name=name, kind=kind, prefix=prefix)
    if as_json:
        _print_json([asdict(s) for s in found])
    else:
        for s in found:
            scope = f"{s.scope}::" if s.scope else ""
            click.echo(f"{s.path}:{s.line}-{s.end_line}\t{s.kind}\t{scope}{s.name}")
    if not found and not quiet:
        click.echo("ghqa: no symbols match", err=True)


@cli.command()
@click.argument("repo")
@click.argument("paths_and_name", nargs=-1, required=True, metavar="[PATH]... NAME")
@_repo_options
@_json_option
def callers(
    repo: str, paths_and_name: tuple[str, ...], ref: str | None, cache_dir: Path | None,
    quiet: bool, as_json: bool,
) -> None:  # fmt: skip
    """List the call sites of function NAME under PATHS of REPO, with the calling function."""
    from .pipeline import open_index

    *paths, name = paths_and_name
    index = open_index(repo, paths, ref, _settings(cache_dir), Progress(quiet))
    found = index.callers(name)
    if as_json:
        _print_json(
            [{"path": r.path, "line": r.line, "caller": r.caller, "name": r.name} for r in found]
        )
    else:
        for r in found:
            click.echo(f"{r.path}:{r.line}\t{r.caller or '-'}")
    if not found and not quiet:
        click.echo(f"ghqa: no calls to {name} found", err=True)


@cli.command(context_settings={"max_content_width": 100})
@click.argument("words", nargs=-1, required=True, metavar="REPO [PATH]... QUESTION")
@click.option(
    "-s",
    "--strategy",
    type=click.Choice(["auto", "direct", "chunked", "rlm"]),
    help="How to answer (default auto) [env GHQA_STRATEGY].",
)
@model_options
@click.option("--threads", type=click.IntRange(1), help="Local model threads [env GHQA_THREADS].")
@click.option("--max-calls", type=click.IntRange(1), help="Model calls [env GHQA_MAX_CALLS].")
@click.option("--max-tokens", type=click.IntRange(1), help="Tokens [env GHQA_MAX_TOKENS].")
@click.option("--max-cost", type=click.FloatRange(0), help="USD [env GHQA_MAX_COST].")
@click.option(
    "--timeout", type=click.FloatRange(0, min_open=True), help="Seconds [env GHQA_TIMEOUT]."
)
@click.option("--no-cache", is_flag=True, help="Ask the model even if the answer is cached.")
@click.option(
    "--trace",
    "trace_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the trace (JSONL) here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Detailed progress on stderr.")
@_repo_options
def ask(
    words: tuple[str, ...], strategy: str | None, model: str | None, sub_model: str | None,
    base_url: str | None, local_model: str | None, threads: int | None, max_calls: int | None,
    max_tokens: int | None, max_cost: float | None, timeout: float | None, no_cache: bool,
    trace_file: Path | None, as_json: bool, verbose: bool, ref: str | None,
    cache_dir: Path | None, quiet: bool,
) -> None:  # fmt: skip
    """Answer QUESTION about PATHS of REPO, citing the code.

    REPO is owner/name, an https:// or file:// URL, or a local directory; PATHS narrow it
    (default: the whole repository). QUESTION "-" reads it from stdin.

    \b
    Examples:
      ghqa torvalds/linux kernel/sched "how does calc_delta_fair avoid division"
      ghqa ask . "where is the config file parsed?" --json
      OPENAI_API_KEY=... ghqa torvalds/linux kernel/sched "how is vruntime updated?" -s rlm
    """
    from .pipeline import ask as run_ask

    if len(words) < 2:
        raise click.UsageError('give a repository and a question, e.g. ghqa owner/name "how ...?"')
    repo, *paths, question = words
    if _looks_like_path(repo, question):
        shown = " ".join([repo, *paths, question])
        raise click.UsageError(
            f'the question is missing ("{question}" is a path); put it last, in quotes: '
            f'ghqa {shown} "how does ... work?"'
        )
    if question == "-":
        question = sys.stdin.read()
    settings = Settings.resolve(
        cache_dir=cache_dir,
        strategy=strategy,
        model=model,
        sub_model=sub_model,
        base_url=base_url,
        local_model=local_model,
        threads=threads,
        max_calls=max_calls,
        max_tokens=max_tokens,
        max_cost=max_cost,
        timeout=timeout,
        cache="off" if no_cache else None,
    )
    progress = Progress(quiet, verbose)
    answer = run_ask(repo, question, paths, ref, settings, progress, trace_file)
    _print_answer(answer, as_json)
    if answer.strategy == "none":
        raise NoAnswer(answer.reason or "no model")
    if answer.partial:
        if not quiet:
            click.echo(f"ghqa: partial answer: {answer.reason}", err=True)
        raise click.exceptions.Exit(EXIT_PARTIAL)


def _looks_like_path(repo: str, word: str) -> bool:
    """Whether the last word of ``ghqa REPO [PATH]... QUESTION`` is a path, not a question: a
    path of a local repository, or one word of path characters with a ``/`` or a file's
    extension in it (``kernel/sched``, ``fair.c``)."""
    if not word or word == "-" or any(c.isspace() for c in word) or word.endswith("?"):
        return False
    local = Path(repo.removeprefix("file://"))
    if local.is_dir() and (local / word).exists():
        return True
    return _PATHLIKE.fullmatch(word) is not None and (
        "/" in word or _EXTENSION.search(word) is not None
    )


_PATHLIKE = re.compile(r"[\w.\-/]+")
_EXTENSION = re.compile(r"\w\.[A-Za-z][A-Za-z0-9]{0,4}$")


class NoAnswer(GhqaError):
    """Only the relevant code could be shown (no model)."""


def _print_answer(answer: Any, as_json: bool) -> None:
    from .render import answer_markdown, footer

    if as_json:
        _print_json(answer.to_dict())
        return
    text = answer_markdown(answer)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        console = Console()
        console.print(Markdown(text, hyperlinks=True))
        console.print(footer(answer), style="dim", highlight=False, markup=False)
    else:
        click.echo(text)
        click.echo()
        click.echo(footer(answer))


@cli.command(name="action")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def action_command(quiet: bool) -> None:
    """Answer the /ask comment of a GitHub Actions event (used by action.yml).

    Reads GITHUB_EVENT_PATH, GITHUB_EVENT_NAME, GITHUB_REPOSITORY, GITHUB_API_URL and the
    action's inputs (GHQA_TRIGGER, GHQA_MIN_PERMISSION, GHQA_GITHUB_TOKEN, ...) from the
    environment.
    """
    from .github.action import run_action

    outcome = run_action(os.environ, None, Progress(quiet))
    click.echo(f"ghqa: {outcome.reason}" + (f" ({outcome.url})" if outcome.url else ""), err=True)
    if outcome.code:
        raise click.exceptions.Exit(outcome.code)


@cli.command(name="faq")
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--force", is_flag=True, help="Re-answer every entry.")
@click.option(
    "--publish",
    is_flag=True,
    help="Commit the file to the FAQ branch and open (or update) its one pull request.",
)
@click.option(
    "--repo",
    "repository",
    envvar="GITHUB_REPOSITORY",
    metavar="OWNER/NAME",
    help="Repository to publish to and mine questions from (default: $GITHUB_REPOSITORY).",
)
@click.option("--shard", default="1/1", metavar="K/N", help="Answer only the K-th of N shares.")
@click.option("--run-id", envvar="GITHUB_RUN_ID", hidden=True)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Directory the output path is relative to (default: here).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def faq_command(
    config_file: Path,
    dry_run: bool,
    force: bool,
    publish: bool,
    repository: str | None,
    shard: str,
    run_id: str | None,
    root: Path,
    quiet: bool,
) -> None:
    """Build or update the FAQ described by CONFIG_FILE (YAML or TOML).

    Entries whose cited code did not change are kept without a model call.

    \b
    Examples:
      ghqa faq .github/ghqa-faq.yml --dry-run
      ghqa faq .github/ghqa-faq.yml --publish      # in a scheduled workflow
    """
    from .faq import load_config
    from .faq.job import parse_shard, run_faq

    config = load_config(config_file)
    run = run_faq(
        config,
        Settings.resolve(),
        root,
        Progress(quiet),
        force=force,
        dry_run=dry_run,
        publish=publish,
        repository=repository or None,
        shard=parse_shard(shard),
        run_id=run_id or None,
    )
    report, u = run.report, run.report.usage
    verb = "would change" if dry_run else "wrote"
    for label, items in (
        ("kept", report.kept), ("re-answered", report.reanswered), ("added", report.added),
        ("stale", report.stale), ("removed", report.removed),
    ):  # fmt: skip
        click.echo(f"{label}: {len(items)}" + "".join(f"\n  - {q}" for q in items))
    if config.mine is not None:
        click.echo(f"mined: {run.mined} question(s) from issues")
    for note in run.notes:
        click.echo(f"note: {note}")
    cost = f", ${u.cost:.4f}" if u.cost is not None else ""
    click.echo(f"model calls: {u.calls} ({u.cached_calls} cached), {u.tokens:,} tokens{cost}")
    click.echo(f"{verb} {report.path}" if report.changed else f"{report.path} is up to date")
    published = run.published
    if published is not None:
        if published.committed:
            action = "opened" if published.opened else "updated"
            click.echo(f"published: {action} pull request {published.pull_url}")
        elif published.pull_url:
            click.echo(f"published: no change; pull request {published.pull_url} is current")
        else:
            click.echo("published: no change; nothing to commit")


@cli.command(name="config")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-check", is_flag=True, help="Only show the settings.")
def config_command(cache_dir: Path | None, no_check: bool) -> None:
    """Show the resolved settings, where each came from, and check git, the cache and the model."""
    from .doctor import checks, describe

    settings, sources = resolve_with_sources(None, cache_dir=cache_dir)
    for name, value, source in describe(settings, sources):
        click.echo(f"{name:16} {value:40} {source}")
    if no_check:
        return
    failed = 0
    for label, ok, detail in checks(settings):
        failed += not ok
        click.echo(f"{'ok  ' if ok else 'FAIL'} {label}: {detail}")
    if failed:
        raise click.exceptions.Exit(1)


# Their heavy parts load only when the command runs.
cli.add_command(eval_command, name="eval")
cli.add_command(serve_command, name="serve")


def _print_json(value: Any, drop: Sequence[str] = ()) -> None:
    if isinstance(value, list) and drop:
        value = [{k: v for k, v in item.items() if k not in drop} for item in value]
    click.echo(json.dumps(value, indent=2))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: loads ``.env`` if present, maps errors to one line and a non-zero exit."""
    from dotenv import find_dotenv, load_dotenv

    dotenv = find_dotenv(usecwd=True)
    if dotenv:
        load_dotenv(dotenv, override=False)
    debug = bool(os.environ.get("GHQA_DEBUG"))
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="ghqa", standalone_mode=False
        )
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except GhqaError as e:
        if debug:
            raise
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as e:
        if debug:
            raise
        click.echo(
            f"Error: unexpected {type(e).__name__}: {e} (set GHQA_DEBUG=1 for a traceback, "
            "and please report it)",
            err=True,
        )
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
