"""Errors shown to the user. Every message says what went wrong and how to fix it."""

from __future__ import annotations


class GhqaError(Exception):
    """Base class of every error ghqa reports to a user (the CLI shows the message, exit 1)."""


class SpecError(GhqaError):
    """A repository spec, ref or path given by the user is malformed."""


class FetchError(GhqaError):
    """The repository could not be fetched (unknown repo or ref, no network, no git, ...)."""


class IndexingError(GhqaError):
    """The checkout could not be indexed."""


class EngineError(GhqaError):
    """The answering engine failed."""


class NeedsKeyError(GhqaError):
    """A model is needed but no key or local model is configured."""


class GitHubError(GhqaError):
    """The GitHub API refused or failed a request."""


class QuestionError(GhqaError):
    """The question is empty or unreasonably long."""


class ConfigError(GhqaError):
    """A setting has an invalid value."""
