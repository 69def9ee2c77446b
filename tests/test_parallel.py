"""Forked workers give the same results as doing the work in-process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from ghqa.index.parallel import imap_forked


def map_forked(
    func: Callable[[Any], Any], items: list[Any], weights: list[int], workers: int
) -> list[Any]:
    """The results in the items' order."""
    return [v for _, v in sorted(imap_forked(func, items, weights, workers), key=lambda r: r[0])]


def square_with_pid(x: int) -> tuple[int, int]:
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


def test_this_process_share_comes_first_and_is_smaller_with_local_cost() -> None:
    items = list(range(40))
    out = list(imap_forked(square_with_pid, items, [1] * 40, workers=2, local_cost=1.5))
    assert sorted(i for i, _ in out) == items
    assert all(v == i * i for i, (v, _) in out)
    mine = [i for i, (_, pid) in out if pid == os.getpid()]
    assert out[: len(mine)] == [(i, (i * i, os.getpid())) for i in mine]  # before any worker's
    assert 10 <= len(mine) < 20  # 16 by weight: 16 * 1.5 = 24 = the worker's 24


def slow_in_child(x: int) -> tuple[int, int]:
    if os.getpid() != PARENT:
        time.sleep(30)
    return x, os.getpid()


def test_closing_early_stops_the_workers() -> None:
    it = imap_forked(slow_in_child, [1, 2, 3, 4], [1, 1, 1, 1], workers=2)
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
