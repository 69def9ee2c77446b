"""The question form: its fields checked, and the command line that answers it.

A question runs as ``python -m ghqa ask ... --trace FILE --json`` in its own process, so that
Cancel is a Ctrl-C the command line already handles (its sandbox workers die with it), and two
questions at once share the clone and index caches the way two terminals do."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GhqaError
from ..fetch.spec import parse_spec
from ..settings import Settings

STRATEGIES = ("auto", "direct", "chunked", "rlm")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


class FormError(ValueError):
    """A field of the form holds something no run could use; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AskRequest:
    """One question, as asked through the form."""

    repo: str
    question: str
    paths: tuple[str, ...] = ()
    ref: str | None = None
    strategy: str | None = None
    model: str | None = None
    max_calls: int | None = None
    max_cost: float | None = None
    no_cache: bool = False

    def options(self) -> dict[str, Any]:
        """The options kept in the history (the fields other than repo, paths, ref, question)."""
        found: dict[str, Any] = {
            "strategy": self.strategy,
            "model": self.model,
            "max_calls": self.max_calls,
            "max_cost": self.max_cost,
            "no_cache": self.no_cache or None,
        }
        return {k: v for k, v in found.items() if v is not None}

    def argv(self, trace: Path, cache_dir: Path) -> list[str]:
        """The command that answers this question; the question itself goes to its stdin."""
        args = [sys.executable, "-m", "ghqa", "ask", "--json", "--trace", str(trace)]
        args += ["--cache-dir", str(cache_dir)]
        if self.ref:
            args += ["--ref", self.ref]
        if self.strategy:
            args += ["--strategy", self.strategy]
        if self.model:
            args += ["--model", self.model]
        if self.max_calls is not None:
            args += ["--max-calls", str(self.max_calls)]
        if self.max_cost is not None:
            args += ["--max-cost", repr(self.max_cost)]
        if self.no_cache:
            args.append("--no-cache")
        return [*args, "--", self.repo, *self.paths, "-"]


def split_paths(text: str) -> tuple[str, ...]:
    """Paths typed in one field, separated by spaces, commas or new lines."""
    return tuple(p for p in re.split(r"[\s,]+", text) if p)


def parse_form(form: Mapping[str, Any], settings: Settings) -> AskRequest:
    """The request a submitted form describes, or a :class:`FormError` for its first bad field."""
    from ..engine.engine import check_question

    repo = str(form.get("repo") or "").strip()
    paths = split_paths(str(form.get("paths") or ""))
    ref = str(form.get("ref") or "").strip() or None
    if not repo:
        raise FormError("repo", "name a repository: owner/name, a URL or a local directory")
    try:
        spec = parse_spec(repo, paths, ref, github_host=settings.github_host)
    except GhqaError as exc:
        message = str(exc)
        field = "paths" if message.startswith("Invalid path") else "repo"
        field = "ref" if message.startswith("Invalid ref") else field
        raise FormError(field, message) from None
    try:
        question = check_question(str(form.get("question") or ""))
    except GhqaError as exc:
        raise FormError("question", str(exc)) from None
    strategy = str(form.get("strategy") or "").strip() or None
    if strategy is not None and strategy not in STRATEGIES:
        raise FormError("strategy", f"strategy must be one of {', '.join(STRATEGIES)}")
    model = str(form.get("model") or "").strip() or None
    if model is not None and not _MODEL.match(model):
        raise FormError("model", f"{model!r} is not a model name")
    return AskRequest(
        repo=repo,
        question=question,
        paths=spec.paths,
        ref=spec.ref,
        strategy=None if strategy == "auto" else strategy,
        model=model,
        max_calls=_number(form, "max_calls", int, 1),
        max_cost=_number(form, "max_cost", float, 0.0),
        no_cache=str(form.get("no_cache") or "") in ("1", "on", "true"),
    )


def _number(form: Mapping[str, Any], name: str, kind: type[Any], low: float) -> Any:
    text = str(form.get(name) or "").strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise FormError(name, f"{name.replace('_', ' ')} must be a number") from None
    if value < low or value != value:
        raise FormError(name, f"{name.replace('_', ' ')} must be at least {low}")
    return value
