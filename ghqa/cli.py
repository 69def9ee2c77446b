"""The command line. Thin: flags -> Settings -> one library call -> output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import GhqaError
from .settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

SYMBOL_KINDS = (
    "function", "method", "constructor", "class", "struct", "union", "enum", "enumerator",
    "interface", "trait", "impl", "module", "namespace", "type", "typedef", "field",
    "variable", "constant", "macro",
)  # fmt: skip


class _Progress:
    """Prints what the library reports to stderr, unless quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, stage: str, message: str, /, **data: Any) -> None:
        if not self.quiet:
            click.echo(f"ghqa: {message}", err=True)


def _repo_options(func: F) -> F:
    func = click.option(
        "--ref", envvar="GHQA_REF", show_envvar=True, help="Branch, tag or commit (default: HEAD)."
    )(func)
    func = click.option(
        "--cache-dir",
        envvar="GHQA_CACHE_DIR",
        show_envvar=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Where clones and indexes are kept.",
    )(func)
    func = click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")(func)
    return func


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")(func)


def _settings(cache_dir: Path | None) -> Settings:
    return Settings.resolve(cache_dir=cache_dir)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ghqa")
def cli() -> None:
    """Answer questions about a GitHub repository, or a part of it, with cited code.

    \b
    Examples:
      ghqa fetch torvalds/linux kernel/sched
      ghqa symbols torvalds/linux kernel/sched --name calc_delta_fair
      ghqa callers torvalds/linux kernel/sched calc_delta_fair
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

    co = checkout(repo, paths, ref, _settings(cache_dir), _Progress(quiet))
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

    index = open_index(repo, paths, ref, _settings(cache_dir), _Progress(quiet))
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

    index = open_index(repo, paths, ref, _settings(cache_dir), _Progress(quiet))
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
    index = open_index(repo, paths, ref, _settings(cache_dir), _Progress(quiet))
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
        cli.main(
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
