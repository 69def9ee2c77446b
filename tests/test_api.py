"""The public API is exactly what __all__ says."""

from __future__ import annotations

import ghqa


def test_all_is_exact() -> None:
    public = {n for n in dir(ghqa) if not n.startswith("_")} - {
        "cachefs", "cli", "errors", "fetch", "index", "pipeline", "reporter", "settings",
    }  # fmt: skip
    assert set(ghqa.__all__) - {"__version__"} == public


def test_errors_share_a_base() -> None:
    for name in ("SpecError", "FetchError", "IndexingError", "EngineError", "NeedsKeyError",
                 "GitHubError", "ConfigError"):  # fmt: skip
        assert issubclass(getattr(ghqa, name), ghqa.GhqaError)
