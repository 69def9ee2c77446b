"""Spread CPU-bound work over the machine's cores with forked workers (Linux, macOS).

Forking is cheap (no interpreter start, no re-import of grammars), which matters when the whole
job takes a fraction of a second. It is used only while the process has a single thread; anywhere
else (a web server's worker threads, Windows) the work runs in this process.

While a map runs in a single-threaded process, the cyclic garbage collector is paused (in the
workers too), until its last result is out or it is closed. Its passes cost about 1% of
indexing, which makes no cycles; and after a fork, a pass writes to every page of objects it
scans, each of which then costs a copy.
"""

from __future__ import annotations

import contextlib
import gc
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
    """``(i, func(items[i]))`` for every item, in no set order, computed by this process and
    ``workers - 1`` forked ones, which start at once, while the caller still gets ready to use
    the results.

    The items are dealt out as they are asked for, heaviest (by ``weights``) first: each process
    takes the next one when it is done with the last, so they all finish at about the same time,
    whatever an item costs and whatever else this process does. A worker sends each result as
    soon as it has it; this process, between two items of its own, yields whatever the workers
    have sent, so the caller can use the results (write them out, say) while the workers are
    still busy. A worker that fails has its items done here, so every item is yielded exactly
    once. :meth:`close` (also when iteration stops early) stops the workers.
    """

    def __init__(
        self, func: Callable[[T], R], items: Sequence[T], weights: Sequence[int], workers: int
    ):
        _reap_exited()
        self._func = func
        self._items = items
        self._children: list[_Worker] = []
        self._batches: list[list[int]] = [[i] for i in range(len(items))]
        self._tickets: int | None = None  # the read end of a pipe of batch numbers
        self._results = self._run()
        single_threaded = threading.active_count() == 1
        self._gc_paused = single_threaded and gc.isenabled()
        if self._gc_paused:
            gc.disable()
        if workers > 1 and len(items) > 1 and hasattr(os, "fork") and single_threaded:
            self._batches = _batches(weights)
            self._tickets = _ticket_pipe(len(self._batches))
            try:
                for _ in range(min(workers, len(items)) - 1):
                    self._children.append(_Worker(func, items, self._batches, self._tickets))
            except BaseException:
                self.close()
                raise

    def __iter__(self) -> Iterator[tuple[int, R]]:
        return self

    def __next__(self) -> tuple[int, R]:
        return next(self._results)

    def close(self) -> None:
        """Stop the workers still at work (their results are not wanted), and reap them (one
        still exiting once done is reaped later)."""
        self._results.close()
        for child in self._children:
            child.stop()
        if self._tickets is not None:
            os.close(self._tickets)
            self._tickets = None
        self._resume_gc()

    def _resume_gc(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def __del__(self) -> None:
        self.close()

    def _run(self) -> Generator[tuple[int, R], None, None]:
        func, items = self._func, self._items
        done: set[int] = set()
        try:
            if self._tickets is None:
                yield from ((i, func(x)) for i, x in enumerate(items))
                return
            while batch := _next_batch(self._tickets, self._batches):
                for i in batch:
                    done.add(i)
                    yield i, func(items[i])
                for child in self._children:
                    for i, value in child.received(block=False):
                        done.add(i)
                        yield i, value
            for child in self._children:
                for i, value in child.received(block=True):
                    done.add(i)
                    yield i, value
            # What a worker took but never sent (it failed) is done here.
            yield from ((i, func(items[i])) for i in range(len(items)) if i not in done)
        finally:
            for child in self._children:
                if child.fd is not None:  # stopped early
                    child.stop()
            self._resume_gc()  # all is out: no need to wait for close()


#: At most this many batches are dealt out (4 bytes each, all in one pipe's buffer).
_MAX_TICKETS = 4096
_TICKET = struct.Struct("<I")


def _batches(weights: Sequence[int]) -> list[list[int]]:
    """The items (by index), heaviest first, one per batch; past :data:`_MAX_TICKETS` items,
    neighbours (in that order) share a batch."""
    order = sorted(range(len(weights)), key=lambda i: -weights[i])
    size = -(-len(order) // _MAX_TICKETS)
    return [order[k : k + size] for k in range(0, len(order), size)]


def _ticket_pipe(count: int) -> int:
    """The read end of a pipe holding the numbers 0..count-1, then its end: each read of one
    number takes it for that process alone."""
    read_fd, write_fd = os.pipe()
    try:
        data = b"".join(_TICKET.pack(n) for n in range(count))
        view = memoryview(data)
        while view:  # fits in the pipe's buffer (16 kB at most): never blocks
            view = view[os.write(write_fd, view) :]
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return read_fd


def _next_batch(tickets: int, batches: list[list[int]]) -> list[int]:
    """The next batch dealt out to this process; empty when all are taken."""
    data = os.read(tickets, _TICKET.size)
    return batches[_TICKET.unpack(data)[0]] if data else []


_HEADER = struct.Struct("<Q")


class _Worker:
    """A forked process that takes batches of items from the tickets pipe, computes ``func`` on
    them and sends each result back through its own pipe as ``(index, result)``, pickled
    behind its length."""

    def __init__(
        self,
        func: Callable[[T], R],
        items: Sequence[T],
        batches: list[list[int]],
        tickets: int,
    ):
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
                while batch := _next_batch(tickets, batches):
                    for i in batch:
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
                yield i, value

    def reap(self, block: bool) -> None:
        if self.pid is not None and _reaped(self.pid, block):
            self.pid = None

    def stop(self) -> None:
        """Stop the worker if it is still at work, and reap it. A worker that has sent all it
        had may still be exiting (freeing its memory takes a millisecond or so): it is not
        waited for, but reaped later, by the next :class:`ForkedMap`."""
        if self.fd is None:  # done
            self.reap(block=False)
            if self.pid is not None:
                _exiting.append(self.pid)
                self.pid = None
            return
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        self.reap(block=True)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = None


#: Workers that had sent all they had but were still exiting when their map was closed.
_exiting: list[int] = []


def _reaped(pid: int, block: bool) -> bool:
    """Whether the child ``pid`` has exited (and is now reaped)."""
    try:
        return os.waitpid(pid, 0 if block else os.WNOHANG)[0] != 0
    except ChildProcessError:  # reaped already
        return True


def _reap_exited() -> None:
    _exiting[:] = [pid for pid in _exiting if not _reaped(pid, block=False)]
