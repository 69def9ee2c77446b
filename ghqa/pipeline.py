"""The one module that knows every stage: spec -> fetch -> index (-> engine, -> sinks)."""

from __future__ import annotations

from collections.abc import Sequence

from .fetch import Checkout, fetch, parse_spec
from .index import RepoIndex, build_index
from .reporter import Reporter, null_reporter
from .settings import Settings


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
