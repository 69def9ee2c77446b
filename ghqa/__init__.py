"""ghqa: answers questions about GitHub repositories, with citations checked against the code."""

from .errors import (
    ConfigError,
    EngineError,
    FetchError,
    GhqaError,
    GitHubError,
    IndexingError,
    NeedsKeyError,
    SpecError,
)
from .fetch import Checkout, RepoSpec, parse_spec
from .index import FileEntry, Reference, RepoIndex, Symbol
from .pipeline import checkout, open_index
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Checkout",
    "ConfigError",
    "EngineError",
    "FetchError",
    "FileEntry",
    "GhqaError",
    "GitHubError",
    "IndexingError",
    "NeedsKeyError",
    "Reference",
    "RepoIndex",
    "RepoSpec",
    "Settings",
    "SpecError",
    "Symbol",
    "__version__",
    "checkout",
    "open_index",
    "parse_spec",
]
