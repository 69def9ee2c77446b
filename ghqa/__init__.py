"""ghqa: answers questions about GitHub repositories, with citations checked against the code.

The names below are imported on first use, so that ``ghqa --help`` does not pay for the model
client, git and tree-sitter."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigError,
    EngineError,
    FetchError,
    GhqaError,
    GitHubError,
    IndexingError,
    NeedsKeyError,
    QuestionError,
    SpecError,
)
from .settings import Settings

if TYPE_CHECKING:
    from .engine import Answer, Citation, Usage
    from .fetch import Checkout, RepoSpec, parse_spec
    from .index import FileEntry, Reference, RepoIndex, Symbol
    from .pipeline import ask, checkout, open_index

__version__ = "0.1.0"

_LAZY = {
    "Answer": ".engine",
    "Citation": ".engine",
    "Usage": ".engine",
    "Checkout": ".fetch",
    "RepoSpec": ".fetch",
    "parse_spec": ".fetch",
    "FileEntry": ".index",
    "Reference": ".index",
    "RepoIndex": ".index",
    "Symbol": ".index",
    "ask": ".pipeline",
    "checkout": ".pipeline",
    "open_index": ".pipeline",
}

__all__ = [
    "Answer",
    "Checkout",
    "Citation",
    "ConfigError",
    "EngineError",
    "FetchError",
    "FileEntry",
    "GhqaError",
    "GitHubError",
    "IndexingError",
    "NeedsKeyError",
    "QuestionError",
    "Reference",
    "RepoIndex",
    "RepoSpec",
    "Settings",
    "SpecError",
    "Symbol",
    "Usage",
    "__version__",
    "ask",
    "checkout",
    "open_index",
    "parse_spec",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ghqa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    submodules = {
        n
        for n, v in globals().items()
        if isinstance(v, ModuleType) and v.__name__.startswith("ghqa.")
    }
    return sorted(set(__all__) | submodules)
