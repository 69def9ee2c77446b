"""Indexing: files and symbols of a checkout, stored in SQLite."""

from .build import build_index
from .files import FileEntry
from .lexical import ensure_lexical, lexical_search
from .repoindex import RepoIndex
from .store import INDEX_VERSION
from .symbols import Reference, Symbol, extract

__all__ = [
    "INDEX_VERSION",
    "FileEntry",
    "Reference",
    "RepoIndex",
    "Symbol",
    "build_index",
    "ensure_lexical",
    "extract",
    "lexical_search",
]
