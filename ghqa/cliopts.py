"""What the commands share: progress on stderr, and the model and cache-directory options.

Kept apart from ``cli.py`` so that commands defined in their own packages (``eval``, ``serve``)
can use them without importing the whole command line."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

LOCAL_MODEL_CHOICES = ("1.5b", "0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")


class Progress:
    """Prints what the library reports to stderr with the elapsed time, unless quiet."""

    def __init__(self, quiet: bool, verbose: bool = False):
        self.quiet = quiet
        self.verbose = verbose
        self.start = time.monotonic()

    def __call__(self, stage: str, message: str, /, **data: Any) -> None:
        if self.quiet:
            return
        line = f"ghqa [{time.monotonic() - self.start:5.1f}s] {message}"
        if self.verbose and data:
            line += "  " + " ".join(f"{k}={v}" for k, v in data.items())
        click.echo(line, err=True)


def model_options(func: F) -> F:
    """``--model``, ``--sub-model``, ``--base-url`` and ``--local-model``."""
    func = click.option(
        "--local-model",
        type=click.Choice(LOCAL_MODEL_CHOICES),
        help="Local model when no key is set [env GHQA_LOCAL_MODEL].",
    )(func)
    func = click.option(
        "--base-url", help="OpenAI-compatible server [env GHQA_BASE_URL, OPENAI_BASE_URL]."
    )(func)
    func = click.option("--sub-model", help="Model for sub-calls [env GHQA_SUB_MODEL].")(func)
    func = click.option("-m", "--model", help="Root model [env GHQA_MODEL].")(func)
    return func


def cache_dir_option(what: str) -> Callable[[F], F]:
    """``--cache-dir`` (env ``GHQA_CACHE_DIR``); ``what`` says what is kept there."""
    return click.option(
        "--cache-dir",
        envvar="GHQA_CACHE_DIR",
        show_envvar=True,
        type=click.Path(file_okay=False, path_type=Path),
        help=f"Where {what} are kept.",
    )
