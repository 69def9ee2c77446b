"""Progress reporting. Library code never prints: it tells an injected reporter what happens."""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    def __call__(self, stage: str, message: str, /, **data: Any) -> None:
        """Called at each step: ``stage`` is a short key (``fetch``, ``index``, ...)."""


def null_reporter(stage: str, message: str, /, **data: Any) -> None:
    """A reporter that discards everything."""
