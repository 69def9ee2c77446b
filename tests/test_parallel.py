"""Forked workers give the same results as doing the work in-process."""

from __future__ import annotations

import os

from ghqa.index.parallel import map_forked


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
