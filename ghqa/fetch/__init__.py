"""Fetching: repository specs and partial, sparse clones in the cache."""

from .clone import Checkout, fetch, repo_dir
from .spec import RepoSpec, normalize_paths, parse_spec

__all__ = ["Checkout", "RepoSpec", "fetch", "normalize_paths", "parse_spec", "repo_dir"]
