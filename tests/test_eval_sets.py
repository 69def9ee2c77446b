"""The shipped question sets, whole, through the one documented command: every question loads,
its source is prepared, it is answered and graded. The scripted model cites each question's
expected spans, so every expected span must verify against the code and be credited."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from ghqa.eval.command import eval_command
from ghqa.eval.questions import load_questions

from enginekit import all_text
from fakeopenai import FakeOpenAI, Reply
from helpers import ROOT

SETS = ROOT / "benchmarks" / "questions"


@pytest.mark.parametrize("name", ["linux-sched", "itsdangerous"])
def test_a_whole_question_set_runs_with_one_command(name: str, tmp_path: Path) -> None:
    path = SETS / f"{name}.yml"
    qset = load_questions(path)
    if qset.source.kind == "package":
        package = qset.source.value
        if importlib.util.find_spec(package.split("==")[0]) is None:
            pytest.skip(f"{package} is not installed (it is in the dev extra)")
    cites = {q.question: [span.label for span in q.citations] for q in qset.questions}
    # Longest first: no question's text is then mistaken for a shorter one it contains.
    known = sorted(cites, key=len, reverse=True)

    def oracle(body: dict[str, Any]) -> Reply:
        text = all_text(body)
        question = next((q for q in known if f"Question: {q}" in text), None)
        if question is None:
            return Reply("NONE", prompt_tokens=100, completion_tokens=5)
        return Reply(
            "The code is at " + ", ".join(cites[question]) + ".",
            prompt_tokens=100,
            completion_tokens=10,
        )

    group = click.Group("ghqa", commands={"eval": eval_command})
    with FakeOpenAI(oracle) as server:
        env = {"GHQA_BASE_URL": server.base_url, "GHQA_MODEL": "fake-model"}
        result = CliRunner().invoke(
            group,
            ["eval", str(path), "-s", "direct", "--json", "-q", "--cache-dir", str(tmp_path)],
            env=env,
        )
        assert not server.unexpected
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    answers = data["answers"]
    assert len(answers) == len(qset.questions) >= 15
    assert {a["question_id"] for a in answers} == {q.id for q in qset.questions}
    for answer in answers:
        grade = answer["grade"]
        assert answer["error"] is None, (answer["question_id"], answer["error"])
        assert answer["dropped"] == [], (answer["question_id"], answer["dropped"])
        assert grade["citation_recall"] == 1.0, (answer["question_id"], answer["citations"])
        assert grade["verified_rate"] == 1.0, answer["question_id"]
