"""Hard limits on one question, checked by the parent before every model call.

Concurrent sub-calls reserve their expected tokens before they start, so a batch cannot
overshoot the budget between the check and the reply.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .answer import Usage


class BudgetExceeded(Exception):
    """A limit was reached; ``reason`` says which, in words a user understands."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_calls: int = 60
    max_tokens: int = 500_000
    max_cost: float | None = None
    timeout: float = 600.0
    max_iterations: int = 12
    max_errors: int = 4


class Budget:
    """Usage so far against :class:`Limits`; thread-safe."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.usage = Usage()
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._reserved_calls = 0
        self._reserved_tokens = 0
        self._reserved_cost = 0.0
        self.exceeded: str | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining_time(self) -> float:
        return self.limits.timeout - self.elapsed

    def check_time(self) -> None:
        if self.elapsed >= self.limits.timeout:
            self._fail(f"the wall-clock limit of {self.limits.timeout:g}s was reached")

    def reserve(self, tokens: int, cost: float | None = None) -> None:
        """Claim one call of about ``tokens`` tokens costing at most ``cost``, or raise
        :class:`BudgetExceeded`."""
        with self._lock:
            self.check_time()
            u, lim = self.usage, self.limits
            if u.calls + self._reserved_calls + 1 > lim.max_calls:
                self._fail(f"the limit of {lim.max_calls} model calls was reached")
            if u.tokens + self._reserved_tokens + tokens > lim.max_tokens:
                self._fail(
                    f"the limit of {lim.max_tokens:,} tokens was reached "
                    f"({u.tokens:,} used, the next call needs about {tokens:,})"
                )
            if lim.max_cost is not None and (u.cost is not None or cost is not None):
                spent = u.cost or 0.0
                if spent + self._reserved_cost + (cost or 0.0) > lim.max_cost:
                    self._fail(
                        f"the cost limit of ${lim.max_cost:g} was reached (${spent:.4f} spent, "
                        f"the next call may cost up to ${cost or 0.0:.4f})"
                    )
            self._reserved_calls += 1
            self._reserved_tokens += tokens
            self._reserved_cost += cost or 0.0

    def settle(
        self,
        tokens: int,
        reserved_cost: float | None,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency: float,
        cost: float | None,
        cached: bool,
    ) -> None:
        """Replace a reservation of ``tokens`` by what the call really used."""
        with self._lock:
            self._reserved_calls -= 1
            self._reserved_tokens -= tokens
            self._reserved_cost -= reserved_cost or 0.0
            self.usage.add(model, prompt_tokens, completion_tokens, latency, cost, cached)

    def record_cached(self, model: str) -> None:
        """Count a reply served from the cache (no tokens, no cost)."""
        with self._lock:
            self.usage.add(model, 0, 0, 0.0, None, cached=True)

    def release(self, tokens: int, cost: float | None = None) -> None:
        """Give back a reservation whose call failed before using anything."""
        with self._lock:
            self._reserved_calls -= 1
            self._reserved_tokens -= tokens
            self._reserved_cost -= cost or 0.0

    def _fail(self, reason: str) -> None:
        self.exceeded = self.exceeded or reason
        raise BudgetExceeded(reason)
