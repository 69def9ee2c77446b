"""`ghqa eval` on the embedded local model (0.5B): the CI subset of the linux-sched questions,
the grep baseline against the direct strategy (the one the router picks for a small model when
the code fits). Runs when the local extra is installed, as `.ci/run` does."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ghqa.eval.command import eval_command
from ghqa.eval.questions import load_questions
from ghqa.local import local_available, local_model

from helpers import ROOT

pytestmark = pytest.mark.model

QUESTIONS = ROOT / "benchmarks" / "questions" / "linux-sched.yml"
RATES = ("fact_recall", "citation_precision", "citation_recall", "verified_rate")


def test_the_ci_subset_on_the_local_model(tmp_path: Path) -> None:
    missing = local_available(local_model("0.5b"))
    if missing is not None:
        pytest.skip(f"the local extra is not installed: {missing}")
    if not QUESTIONS.is_file():
        pytest.skip(f"the question set {QUESTIONS} is not in this tree")
    subset = [q.id for q in load_questions(QUESTIONS).subset().questions]
    group = click.Group("ghqa", commands={"eval": eval_command})
    args = ["eval", str(QUESTIONS), "--subset", "-s", "grep,direct", "--cache-dir", str(tmp_path)]
    # A question that runs out of time is a graded failure (a partial answer): bounded either way.
    env = {"GHQA_LOCAL_MODEL": "0.5b", "GHQA_TIMEOUT": "300"}

    first = CliRunner().invoke(group, [*args, "--json"], env=env)
    assert first.exit_code == 0, first.stderr
    assert "local model qwen2.5-coder-0.5b is ready" in first.stderr
    data = json.loads(first.stdout)
    assert data["model"] == "qwen2.5-coder-0.5b" and data["run"]["from_cache"] == 0
    answers = data["answers"]
    assert len(answers) == 2 * len(subset) and {a["question_id"] for a in answers} == set(subset)
    for answer in answers:
        assert answer["text"].strip(), answer["error"]
        assert answer["calls"] >= 1 and answer["tokens"] > 0 and answer["seconds"] > 0
        grade = answer["grade"]
        assert all(grade[m] is None or 0 <= grade[m] <= 1 for m in RATES)
    for row in data["totals"]:
        assert row["answers"] == len(subset) and 0 <= row["fact_recall"]["mean"] <= 1
        assert row["tokens"]["mean"] > 0 and row["calls"]["mean"] >= len(subset)

    again = CliRunner().invoke(group, args, env=env)
    assert again.exit_code == 0, again.stderr
    assert f"{len(answers)} answers ({len(answers)} from the cache) · 0 model calls" in again.stdout
    rows = [line.split()[:2] for line in again.stdout.splitlines()]
    assert [["grep", q] for q in subset] + [["direct", q] for q in subset] == [
        r for r in rows if r and r[0] in ("grep", "direct") and len(r) > 1 and r[1] in subset
    ]
