"""Forked workers give the same results as doing the work in-process."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ghqa.index.parallel import ForkedMap


def map_forked(
    func: Callable[[Any], Any], items: list[Any], weights: list[int], workers: int
) -> list[Any]:
    """The results in the items' order."""
    return [v for _, v in sorted(ForkedMap(func, items, weights, workers), key=lambda r: r[0])]


def square_with_pid(x: int) -> tuple[int, int]:
    time.sleep(0.002)  # long enough for every process to get some
    return x * x, os.getpid()


def test_results_in_order_and_spread_over_workers() -> None:
    items = list(range(40))
    out = map_forked(square_with_pid, items, [1] * 40, workers=2)
    assert [v for v, _ in out] == [x * x for x in items]
    assert len({pid for _, pid in out}) == 2


def fail_in_child(x: int) -> int:
    if os.getpid() != PARENT:
        raise RuntimeError("worker failure")
    return x + 1


PARENT = os.getpid()


def test_a_failing_worker_has_its_share_redone() -> None:
    assert map_forked(fail_in_child, [1, 2, 3, 4], [1, 1, 1, 1], workers=2) == [2, 3, 4, 5]


def test_serial_for_one_worker() -> None:
    out = map_forked(square_with_pid, [3, 4], [1, 1], workers=1)
    assert out == [(9, os.getpid()), (16, os.getpid())]


def slow_here_only(x: int) -> tuple[int, int]:
    if os.getpid() == PARENT:
        time.sleep(0.1)
    return x, os.getpid()


def test_work_is_dealt_out_as_asked_for() -> None:
    # This process is slow (it has other work, say): the worker takes what it does not.
    out = list(ForkedMap(slow_here_only, list(range(40)), [1] * 40, workers=2))
    assert sorted(i for i, _ in out) == list(range(40))
    mine = [i for i, (_, pid) in out if pid == PARENT]
    assert 1 <= len(mine) <= 4


def slower_here(x: int) -> tuple[int, int]:
    time.sleep(0.15 if os.getpid() == PARENT else 0.05)
    return x, os.getpid()


def test_worker_results_come_while_this_process_still_works() -> None:
    out = list(ForkedMap(slower_here, list(range(12)), [1] * 12, workers=2))
    assert sorted(i for i, _ in out) == list(range(12))
    pids = [pid for _, (_, pid) in out]
    last_own = max(n for n, pid in enumerate(pids) if pid == PARENT)
    # The worker's results come between this process's, not after them all.
    assert any(pid != PARENT for pid in pids[:last_own])


TAKEN = [0]


def fail_on_second_in_child(x: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        TAKEN[0] += 1  # the child's own copy
        if TAKEN[0] == 2:
            os._exit(3)
    else:
        time.sleep(0.05)
    return x + 1, os.getpid()


def test_a_worker_failing_half_way_has_the_rest_done_here() -> None:
    out = list(ForkedMap(fail_on_second_in_child, list(range(8)), [1] * 8, workers=2))
    assert sorted(i for i, _ in out) == list(range(8))  # each exactly once
    assert all(v == i + 1 for i, (v, _) in out)
    pids = [pid for _, (_, pid) in out]
    assert pids.count(PARENT) == 7  # the worker sent its first result, then died on its second


def slow_in_child(x: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        time.sleep(30)
    return x, os.getpid()


def test_closing_early_stops_the_workers() -> None:
    it = ForkedMap(slow_in_child, [1, 2, 3, 4], [1, 1, 1, 1], workers=2)
    first = next(it)
    assert first[1][1] == os.getpid()
    children = _children()
    assert children
    start = time.monotonic()
    it.close()
    assert time.monotonic() - start < 5
    assert not (_children() & children)


def _children() -> set[int]:
    task = f"/proc/{os.getpid()}/task/{os.getpid()}/children"
    with open(task) as f:
        return {int(p) for p in f.read().split()}


def test_workers_start_at_once_and_close_stops_them_unstarted() -> None:
    it = ForkedMap(slow_in_child, [1, 2, 3, 4], [1, 1, 1, 1], workers=2)
    children = _children()
    assert children  # forked before anything was asked for
    it.close()
    assert not (_children() & children)


def test_a_worker_done_with_its_share_is_reaped_by_the_next_map() -> None:
    it = ForkedMap(square_with_pid, list(range(20)), [1] * 20, workers=2)
    children = _children()
    assert sorted(v for _, (v, _) in it) == sorted(x * x for x in range(20))
    it.close()  # does not wait for the worker to finish exiting
    deadline = time.monotonic() + 5
    while (_children() & children) and time.monotonic() < deadline:
        ForkedMap(square_with_pid, [1], [1], workers=1).close()
        time.sleep(0.01)
    assert not (_children() & children)  # no zombie left behind


def gc_state(x: int) -> tuple[bool, int]:
    return gc.isenabled(), os.getpid()


def test_the_garbage_collector_is_paused_while_a_map_runs_and_restored_after() -> None:
    assert gc.isenabled()
    for workers in (1, 2):
        items = list(range(20))
        indexed = ForkedMap(gc_state, items, [1] * 20, workers)
        try:
            out = [next(indexed)[1]]
            assert not gc.isenabled()
            out += [v for _, v in indexed]
            assert gc.isenabled()  # once the last result is out
        finally:
            indexed.close()
        assert gc.isenabled()
        assert [enabled for enabled, _ in out] == [False] * 20  # in the workers too
        stopped = ForkedMap(gc_state, items, [1] * 20, workers)
        next(stopped)
        assert not gc.isenabled()
        stopped.close()  # stopped early
        assert gc.isenabled()
    # Paused already (by the caller): left paused.
    gc.disable()
    try:
        ForkedMap(gc_state, [1, 2], [1, 1], 2).close()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_with_other_threads_running_the_collector_is_left_alone() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        indexed = ForkedMap(gc_state, [1, 2], [1, 1], 2)
        assert gc.isenabled()
        assert [v for _, v in indexed] == [(True, os.getpid())] * 2  # and nothing was forked
        indexed.close()
    finally:
        stop.set()
        other.join()
