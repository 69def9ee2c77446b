"""Spread CPU-bound work over the machine's cores with forked workers (Linux, macOS).

Forking is cheap (no interpreter start, no re-import of grammars), which matters when the whole
job takes a fraction of a second. It is used only while the process has a single thread; anywhere
else (a web server's worker threads, Windows) the work runs in this process.
"""

from __future__ import annotations

import os
import pickle
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def usable_workers(requested: int | None = None) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(requested or cpus or 1, 8))


def map_forked(
    func: Callable[[T], R], items: Sequence[T], weights: Sequence[int], workers: int
) -> list[R]:
    """``[func(x) for x in items]``, split over ``workers`` processes balanced by ``weights``.

    A worker that fails has its share redone here, so the result is always complete.
    """
    if workers <= 1 or len(items) < 2 or not hasattr(os, "fork"):
        return [func(x) for x in items]
    if threading.active_count() > 1:
        return [func(x) for x in items]
    shares: list[list[int]] = [[] for _ in range(min(workers, len(items)))]
    loads = [0] * len(shares)
    for i in sorted(range(len(items)), key=lambda i: -weights[i]):
        j = loads.index(min(loads))
        shares[j].append(i)
        loads[j] += weights[i]
    children: list[tuple[int, int, list[int]]] = []
    for share in shares[1:]:
        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_fd)
            code = 0
            try:
                data = pickle.dumps(
                    [func(items[i]) for i in share], protocol=pickle.HIGHEST_PROTOCOL
                )
                view = memoryview(data)
                while view:
                    view = view[os.write(write_fd, view) :]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd, share))
    results: dict[int, R] = {i: func(items[i]) for i in shares[0]}
    for pid, read_fd, share in children:
        chunks = []
        with os.fdopen(read_fd, "rb") as f:
            while chunk := f.read(1 << 20):
                chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        values: list[R] | None = None
        if status == 0 and chunks:
            try:
                values = pickle.loads(b"".join(chunks))
            except Exception:
                values = None
        if values is None or len(values) != len(share):
            values = [func(items[i]) for i in share]
        results.update(zip(share, values, strict=True))
    return [results[i] for i in range(len(items))]
