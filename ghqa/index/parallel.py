"""Spread CPU-bound work over the machine's cores with forked workers (Linux, macOS).

Forking is cheap (no interpreter start, no re-import of grammars), which matters when the whole
job takes a fraction of a second. It is used only while the process has a single thread; anywhere
else (a web server's worker threads, Windows) the work runs in this process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import threading
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def usable_workers(requested: int | None = None) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(requested or cpus or 1, 8))


class ForkedMap(Generic[T, R]):
    """``(i, func(items[i]))`` for every item, in no set order, computed by ``workers``
    processes balanced by ``weights``. The workers start at once, while the caller still gets
    ready to use the results.

    Each worker sends every result as soon as it has it; this process computes its own share
    one item at a time and, between two of its items, yields whatever the workers have sent. So
    the caller can use the results (write them out, say) while the workers are still busy, and
    little is left to do once they are done.

    ``collect_cost`` is what the caller spends on each result, wherever it was computed, as a
    fraction of computing it (0.1: a tenth); this process's own share is smaller by that much.
    A worker that fails has the rest of its share done here, so every item is yielded exactly
    once. :meth:`close` (also when iteration stops early) stops the workers.
    """

    def __init__(
        self,
        func: Callable[[T], R],
        items: Sequence[T],
        weights: Sequence[int],
        workers: int,
        collect_cost: float = 0.0,
    ):
        self._func = func
        self._items = items
        self._children: list[_Worker] = []
        self._own: Sequence[int] = range(len(items))
        if workers > 1 and len(items) > 1 and hasattr(os, "fork"):
            if threading.active_count() == 1:
                shares = _shares(weights, min(workers, len(items)), collect_cost)
                self._own = shares[0]
                try:
                    for share in shares[1:]:
                        if share:
                            self._children.append(_Worker(func, items, share))
                except BaseException:
                    self.close()
                    raise
        self._results = self._run()

    def __iter__(self) -> Iterator[tuple[int, R]]:
        return self

    def __next__(self) -> tuple[int, R]:
        return next(self._results)

    def close(self) -> None:
        """Stop the workers still at work (their results are not wanted), and reap them all."""
        self._results.close()
        for child in self._children:
            child.stop()

    def __del__(self) -> None:
        self.close()

    def _run(self) -> Generator[tuple[int, R], None, None]:
        func, items = self._func, self._items
        try:
            for i in self._own:
                yield i, func(items[i])
                for child in self._children:
                    yield from child.received(block=False)
            for child in self._children:
                yield from child.received(block=True)
                yield from ((i, func(items[i])) for i in child.left())  # it failed
        finally:
            for child in self._children:
                if child.fd is not None:  # stopped early
                    child.stop()


def _shares(weights: Sequence[int], n: int, collect_cost: float) -> list[list[int]]:
    """Items (by index) for ``n`` processes, largest first, so that each has about as much to
    do; the first (this process) also spends ``collect_cost`` on every item."""
    shares: list[list[int]] = [[] for _ in range(n)]
    loads = [0.0] * n
    loads[0] = collect_cost * sum(weights)
    for i in sorted(range(len(weights)), key=lambda i: -weights[i]):
        j = min(range(n), key=lambda j: loads[j])
        shares[j].append(i)
        loads[j] += weights[i]
    return shares


_HEADER = struct.Struct("<Q")


class _Worker:
    """A forked process computing ``func`` over ``share`` and sending each result back through a
    pipe as ``(index, result)``, pickled behind its length."""

    def __init__(self, func: Callable[[T], R], items: Sequence[T], share: list[int]):
        import fcntl  # POSIX, like fork

        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # Linux: room for all it sends
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_fd)
            code = 0
            try:
                for i in share:
                    data = pickle.dumps((i, func(items[i])), protocol=pickle.HIGHEST_PROTOCOL)
                    view = memoryview(_HEADER.pack(len(data)) + data)
                    while view:
                        view = view[os.write(write_fd, view) :]
                os.close(write_fd)  # the end, at once: exiting (freeing memory) takes a while
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.pid: int | None = pid
        self.fd: int | None = read_fd
        self.pending = set(share)
        self.buffer = bytearray()

    def received(self, block: bool) -> Iterator[tuple[int, Any]]:
        """The results that have arrived (with ``block``: all of them, until the worker ends)."""
        while self.fd is not None:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                if not block:
                    return
                select.select([self.fd], [], [])
                continue
            if not chunk:  # the worker is done (or died); it is reaped once it has exited
                os.close(self.fd)
                self.fd = None
                self.reap(block=False)
                return
            self.buffer += chunk
            while len(self.buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self.buffer)
                if len(self.buffer) < _HEADER.size + size:
                    break
                i, value = pickle.loads(self.buffer[_HEADER.size : _HEADER.size + size])
                del self.buffer[: _HEADER.size + size]
                self.pending.discard(i)
                yield i, value

    def left(self) -> list[int]:
        """The items of the share whose result never came (the worker failed), in order."""
        return sorted(self.pending)

    def reap(self, block: bool) -> None:
        if self.pid is not None:
            try:
                pid, _ = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                pid = self.pid
            if pid:
                self.pid = None

    def stop(self) -> None:
        """Stop the worker if it is still at work, and reap it."""
        if self.fd is not None and self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        self.reap(block=True)
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
