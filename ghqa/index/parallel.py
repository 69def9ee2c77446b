"""Spread CPU-bound work over the machine's cores with forked workers (Linux, macOS).

Forking is cheap (no interpreter start, no re-import of grammars), which matters when the whole
job takes a fraction of a second. It is used only while the process has a single thread; anywhere
else (a web server's worker threads, Windows) the work runs in this process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import warnings
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def usable_workers(requested: int | None = None) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(requested or cpus or 1, 8))


def imap_forked(
    func: Callable[[T], R],
    items: Sequence[T],
    weights: Sequence[int],
    workers: int,
    local_cost: float = 1.0,
) -> Generator[tuple[int, R], None, None]:
    """``(i, func(items[i]))`` for every item, in no set order, computed by ``workers``
    processes balanced by ``weights``: this process's share first, one item at a time, so the
    caller can use them (write them out, say) while the other workers are still busy; then
    each worker's share as it finishes.

    ``local_cost`` weighs this process's items by what the caller does with each result (1.5:
    half as much again as computing it), so that this process gets a smaller share. A worker
    that fails has its share redone here, so every item is yielded exactly once. Closing the
    iterator early stops the workers.
    """
    if workers <= 1 or len(items) < 2 or not hasattr(os, "fork"):
        yield from ((i, func(x)) for i, x in enumerate(items))
        return
    if threading.active_count() > 1:
        yield from ((i, func(x)) for i, x in enumerate(items))
        return
    shares: list[list[int]] = [[] for _ in range(min(workers, len(items)))]
    loads = [0.0] * len(shares)
    factors = [local_cost] + [1.0] * (len(shares) - 1)
    for i in sorted(range(len(items)), key=lambda i: -weights[i]):
        j = min(range(len(shares)), key=lambda j: loads[j] + weights[i] * factors[j])
        shares[j].append(i)
        loads[j] += weights[i] * factors[j]
    children: list[tuple[int, int, list[int]]] = []
    try:
        for share in shares[1:]:
            if share:
                children.append(_start(func, items, share))
        for i in shares[0]:
            yield i, func(items[i])
        while children:
            pid, read_fd, share = children.pop(0)
            values: list[R] | None = _collect(pid, read_fd, len(share))
            if values is None:
                values = [func(items[i]) for i in share]
            yield from zip(share, values, strict=True)
    finally:
        for pid, read_fd, _ in children:  # stopped early: the workers' results are not wanted
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.close(read_fd)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _start(
    func: Callable[[T], R], items: Sequence[T], share: list[int]
) -> tuple[int, int, list[int]]:
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        code = 0
        try:
            data = pickle.dumps([func(items[i]) for i in share], protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd, share


def _collect(pid: int, read_fd: int, count: int) -> list[R] | None:
    """A worker's results, or None when it failed."""
    chunks = []
    with os.fdopen(read_fd, "rb") as f:
        while chunk := f.read(1 << 20):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if status != 0 or not chunks:
        return None
    try:
        values: list[R] = pickle.loads(b"".join(chunks))
    except Exception:
        return None
    return values if len(values) == count else None
