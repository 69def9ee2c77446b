"""The public API is exactly what __all__ says."""

from __future__ import annotations

from types import ModuleType

import ghqa


def test_all_is_exact() -> None:
    public = {
        n
        for n in dir(ghqa)
        if not n.startswith("_") and not isinstance(getattr(ghqa, n), ModuleType)
    }
    assert set(ghqa.__all__) - {"__version__"} == public
    for name in ghqa.__all__:  # every public name resolves
        getattr(ghqa, name)


def test_errors_share_a_base() -> None:
    for name in ("SpecError", "FetchError", "IndexingError", "EngineError", "NeedsKeyError",
                 "GitHubError", "ConfigError"):  # fmt: skip
        assert issubclass(getattr(ghqa, name), ghqa.GhqaError)
