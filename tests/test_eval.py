"""`ghqa eval`: question files, grading, the baselines, the results cache, tables and reports,
with a scripted model on 127.0.0.1 and the linux-sched snapshot."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from localkit import FakeServer, crash

from ghqa import local as local_pkg
from ghqa.engine import Citation
from ghqa.eval.command import eval_command
from ghqa.eval.grade import grade_answer
from ghqa.eval.questions import EvalQuestion, ExpectedSpan, QuestionFileError, load_questions
from ghqa.eval.report import write_plot
from ghqa.eval.sources import package_items, snapshot_repository, source_spec
from ghqa.eval.summary import Stat, Summary
from ghqa.index import build_index
from ghqa.index.store import store_path
from ghqa.local import local_model
from ghqa.pipeline import checkout
from ghqa.settings import Settings

from enginekit import FAIR, all_text
from fakeopenai import FakeOpenAI, Reply
from helpers import SCHED_DATA, git

CORE = "kernel/sched/core.c"

QUESTIONS_YAML = """\
name: sched-mini
source:
  snapshot: {snapshot}
paths: [kernel/sched]
questions:
  - id: calc-delta-fair-division
    question: How does calc_delta_fair avoid a division?
    kind: mechanism
    facts:
      - __calc_delta
      - [inv_weight, inverse weight, reciprocal]
      - WMULT_SHIFT
    citations:
      - kernel/sched/fair.c:259-284
    forbidden: [divides by the weight]
    subset: true
  - id: update-curr-vruntime
    question: How does update_curr advance vruntime?
    kind: mechanism
    facts:
      - delta_exec
      - calc_delta_fair
    citations:
      - kernel/sched/fair.c:1216-1257
      - kernel/sched/fair.c:289-295
  - id: prio-to-weight
    question: Where is sched_prio_to_weight defined?
    kind: definition
    paths: [kernel/sched/core.c]
    facts:
      - core\\.c
      - ['\\b1024\\b', nice 0]
    citations:
      - kernel/sched/core.c:10012-10021
"""

#: Answers of the scripted model: (good answer, answer when sent the whole code).
ANSWERS = {
    "How does calc_delta_fair avoid a division?": (
        f"`calc_delta_fair` calls `__calc_delta` ({FAIR}:259-284), which multiplies by the "
        f"inverse weight and shifts right by `WMULT_SHIFT` ({FAIR}:289-295). See also "
        "kernel/sched/nosuch.c:1-5.",
        f"It divides by the weight ({FAIR}:100-110).",
    ),
    "How does update_curr advance vruntime?": (
        f"`update_curr` adds `calc_delta_fair(delta_exec, curr)` to vruntime ({FAIR}:1216-1257).",
        f"It adds the elapsed time ({FAIR}:1216-1220).",
    ),
    "Where is sched_prio_to_weight defined?": (
        f"In core.c: the table maps nice 0 to 1024 ({CORE}:10012-10021).",
        f"In core.c ({CORE}:10012-10021).",
    ),
}
#: The whole baseline sends files from their first line.
WHOLE_MARK = re.compile(r"^### kernel/sched/\S+ \(lines 1-", re.MULTILINE)


def responder(body: dict[str, Any]) -> Reply:
    text = all_text(body)
    for question, (good, poor) in ANSWERS.items():
        if f"Question: {question}" in text:
            answer = poor if WHOLE_MARK.search(text) else good
            return Reply(answer, prompt_tokens=1000, completion_tokens=50)
    return Reply("NONE", prompt_tokens=1000, completion_tokens=50)


def write_questions(folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / "sched-mini.yml"
    path.write_text(QUESTIONS_YAML.format(snapshot=os.path.relpath(SCHED_DATA, folder)))
    return path


@pytest.fixture
def questions_file(tmp_path: Path) -> Path:
    return write_questions(tmp_path / "questions")


@pytest.fixture(scope="session")
def index_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index of the snapshot's commit, built once: the snapshot's commit is the same in
    every cache, so a copy of this index spares each test the indexing."""
    cache = tmp_path_factory.mktemp("eval-index")
    qset = load_questions(write_questions(cache / "questions"))
    spec, ref = source_spec(qset.source, qset.name, cache)
    settings = Settings.resolve({}, cache_dir=cache)
    for paths in {q.paths for q in qset.questions}:
        build_index(checkout(spec, paths, ref, settings), settings).close()
    return store_path(cache)


@pytest.fixture
def cache(tmp_path: Path, index_template: Path) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir()
    shutil.copy(index_template, folder / index_template.name)
    return folder


@pytest.fixture
def server() -> Any:
    with FakeOpenAI(responder) as s:
        yield s


def run_eval_cli(server: FakeOpenAI | None, cache: Path, *args: str) -> Result:
    group = click.Group("ghqa", commands={"eval": eval_command})
    env = {}
    if server is not None:
        env = {"GHQA_BASE_URL": server.base_url, "GHQA_MODEL": "fake-model"}
    return CliRunner().invoke(group, ["eval", *args, "--cache-dir", str(cache)], env=env)


# -- grading ------------------------------------------------------------------------------


def question(**fields: Any) -> EvalQuestion:
    values: dict[str, Any] = {
        "id": "q",
        "question": "how?",
        "kind": "mechanism",
        "paths": (),
        "facts": (),
        "citations": (),
    }
    values.update(fields)
    return EvalQuestion(**values)


def test_facts_match_any_alternative_case_insensitively() -> None:
    q = question(facts=(("__calc_delta",), ("inv_weight", "inverse weight", "reciprocal")))
    assert grade_answer(q, "Calls __CALC_DELTA with the Inverse Weight", [], 0).facts == (
        True,
        True,
    )
    grade = grade_answer(q, "calls __calc_delta and divides", [], 0)
    assert grade.facts == (True, False) and grade.fact_recall == 0.5
    assert grade_answer(q, "a reciprocal", [], 0).fact_recall == 0.5
    regex = question(facts=((r"shift(s|ed)? (right|by)",),))
    assert grade_answer(regex, "it shifts right", [], 0).fact_recall == 1.0
    assert grade_answer(regex, "it shift left", [], 0).fact_recall == 0.0


def test_citation_overlap_recall_and_precision() -> None:
    q = question(
        citations=(ExpectedSpan(FAIR, 259, 284), ExpectedSpan(FAIR, 289, 295)),
        facts=(("x",),),
    )
    touching = Citation(FAIR, 284, 288)  # shares line 284 with the first span
    beside = Citation(FAIR, 285, 288)  # between the spans: overlaps neither
    other_file = Citation(CORE, 259, 284)  # same lines, another file
    grade = grade_answer(q, "x", [touching, beside, other_file], dropped=1)
    assert grade.spans == (True, False)
    assert grade.citation_recall == 0.5
    assert grade.on_target == 1 and grade.citation_precision == pytest.approx(1 / 3)
    assert grade.verified_rate == 0.75
    both = grade_answer(q, "x", [Citation(FAIR, 250, 300)], 0)
    assert both.citation_recall == 1.0 and both.citation_precision == 1.0


def test_no_citation_scores_zero_precision_and_no_rate() -> None:
    q = question(citations=(ExpectedSpan(FAIR, 259, 284),))
    grade = grade_answer(q, "words", [], 0)
    assert grade.citation_precision == 0.0 and grade.citation_recall == 0.0
    assert grade.verified_rate is None and grade.fact_recall is None
    only_dropped = grade_answer(q, "words", [], 2)
    assert only_dropped.verified_rate == 0.0
    nothing_expected = grade_answer(question(facts=(("a",),)), "a", [Citation(FAIR, 1, 2)], 0)
    assert nothing_expected.citation_precision is None
    assert nothing_expected.citation_recall is None


def test_forbidden_claims_are_listed() -> None:
    q = question(facts=(("a",),), forbidden=(r"divides? by", "floating point"))
    assert grade_answer(q, "It DIVIDES BY the weight", [], 0).forbidden == (r"divides? by",)
    assert grade_answer(q, "it shifts", [], 0).forbidden == ()


def test_stat_keeps_the_spread() -> None:
    stat = Stat.of([0.5, None, 1.0])
    assert (stat.mean, stat.low, stat.high, stat.n) == (0.75, 0.5, 1.0, 2)
    assert stat.stdev == pytest.approx(0.3536, abs=1e-4)
    assert Stat.of([None]).mean is None


# -- question files -----------------------------------------------------------------------


def test_loads_the_question_file(questions_file: Path) -> None:
    qset = load_questions(questions_file)
    assert qset.name == "sched-mini" and qset.source.kind == "snapshot"
    assert Path(qset.source.value) == SCHED_DATA.resolve()
    first, second, third = qset.questions
    assert first.facts == (
        ("__calc_delta",),
        ("inv_weight", "inverse weight", "reciprocal"),
        ("WMULT_SHIFT",),
    )
    assert first.citations == (ExpectedSpan(FAIR, 259, 284),) and first.subset
    assert second.paths == ("kernel/sched",) and third.paths == (CORE,)
    assert [q.id for q in qset.subset().questions] == ["calc-delta-fair-division"]
    ids = [third.id, first.id]
    assert [q.id for q in qset.only(ids).questions] == [first.id, third.id]  # the file's order
    with pytest.raises(QuestionFileError, match="no question with id nope"):
        qset.only(["nope"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("- __calc_delta\n", "- '(unclosed'\n"),
            "question 'calc-delta-fair-division': fact #1: '(unclosed' is not a valid "
            "regular expression",
        ),
        (
            ("- kernel/sched/fair.c:259-284", "- kernel/sched/fair.c:284-259"),
            "question 'calc-delta-fair-division': citation 'kernel/sched/fair.c:284-259' "
            "must have 1 <= start <= end",
        ),
        (
            ("id: prio-to-weight", "id: calc-delta-fair-division"),
            "question #3: id 'calc-delta-fair-division' is used twice",
        ),
        (("  - id: update-curr-vruntime", "  - id: Update_Curr"), "question 'Update_Curr': 'id'"),
        (("    kind: definition\n", "    fact: [x]\n"), "question 'prio-to-weight': unknown key"),
        (("  snapshot:", "  package: foo\n  snapshot:"), "exactly one of snapshot, repository"),
        (("paths: [kernel/sched]", "paths: [../etc]"), "'paths': Invalid path '../etc'"),
    ],
)
def test_a_bad_question_file_is_one_clear_line(
    questions_file: Path, cache: Path, change: tuple[str, str], message: str
) -> None:
    text = questions_file.read_text()
    assert change[0] in text
    questions_file.write_text(text.replace(change[0], change[1], 1))
    result = run_eval_cli(None, cache, str(questions_file))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {questions_file}: ") and message in lines[0]


def test_every_problem_gets_its_line(questions_file: Path) -> None:
    text = questions_file.read_text().replace("- __calc_delta\n", "- '['\n")
    questions_file.write_text(text.replace("- delta_exec", "- yes: no").replace("name:", "nam:"))
    with pytest.raises(QuestionFileError) as caught:
        load_questions(questions_file)
    lines = str(caught.value).splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{questions_file}: ") for line in lines)
    assert "unknown key 'nam'" in lines[0]


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("questions: [\n")
    with pytest.raises(QuestionFileError, match=r"bad.yml: not valid YAML \(line 2\)"):
        load_questions(bad)
    with pytest.raises(QuestionFileError, match="cannot read the question file"):
        load_questions(tmp_path / "missing.yml")


def test_expected_citations_are_checked_against_the_code(
    questions_file: Path, cache: Path, server: FakeOpenAI
) -> None:
    text = questions_file.read_text()
    text = text.replace("kernel/sched/fair.c:1216-1257", "kernel/sched/fair.c:1216-99999")
    questions_file.write_text(text.replace("core.c:10012-10021", "fair.c:1-2"))
    result = run_eval_cli(server, cache, str(questions_file), "-s", "grep", "-q")
    assert result.exit_code == 1 and server.requests == []
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert (
        "question 'update-curr-vruntime': citation kernel/sched/fair.c:1216-99999: the file"
        in (lines[0])
    )
    assert (
        "question 'prio-to-weight': citation kernel/sched/fair.c:1-2: no such file in "
        in (lines[1])
    )


# -- sources ------------------------------------------------------------------------------


def test_a_snapshot_is_committed_once_with_a_stable_commit(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "a.py").write_text("A = 1\n")
    (source / "pkg" / "__pycache__").mkdir()
    (source / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"\0")
    items = [(source / "pkg" / "a.py", "pkg/a.py")]
    first = snapshot_repository("my set", items, tmp_path / "c1")
    again = snapshot_repository("my set", items, tmp_path / "c1")
    elsewhere = snapshot_repository("my set", items, tmp_path / "c2")
    assert first == again and first.name == "my-set"
    head = git(first, "rev-parse", "HEAD").strip()
    assert head == git(elsewhere, "rev-parse", "HEAD").strip()
    assert git(first, "ls-files").split() == ["pkg/a.py"]
    assert "ghqa eval <eval@ghqa.invalid> 946684800" in git(first, "cat-file", "-p", "HEAD")


def test_a_package_source_needs_the_installed_version() -> None:
    version = metadata.version("click")
    items = package_items(f"click=={version}")
    assert any(rel == "click/core.py" for _, rel in items)
    assert not any("__pycache__" in rel or rel.endswith(".pyc") for _, rel in items)
    with pytest.raises(Exception, match=rf"click {re.escape(version)} is installed, .*0\.0\.1"):
        package_items("click==0.0.1")
    with pytest.raises(Exception, match="is not installed: pip install 'no-such-dist-xyz==1'"):
        package_items("no-such-dist-xyz==1")


# -- runs ---------------------------------------------------------------------------------


def test_a_run_grades_every_strategy_and_a_rerun_is_free_with_a_report(
    questions_file: Path, tmp_path: Path, cache: Path, server: FakeOpenAI
) -> None:
    args = [str(questions_file), "--strategy", "whole,grep,direct", "--json", "-q"]
    result = run_eval_cli(server, cache, *args)
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert len(server.requests) == 9 and server.unexpected == []
    assert data["run"] == {**data["run"], "answers": 9, "from_cache": 0, "model_calls": 9}
    assert data["model"] == "fake-model" and len(data["commit"]) == 40
    totals = {row["strategy"]: row for row in data["totals"]}
    assert list(totals) == ["whole", "grep", "direct"]
    for strategy in ("grep", "direct"):
        row = totals[strategy]
        assert row["fact_recall"]["mean"] == pytest.approx((1 + 1 + 1) / 3)
        # calc-delta: 2 verified, 1 on target; update-curr: 1 of 1; prio: 1 of 1
        assert row["citation_precision"]["mean"] == pytest.approx((0.5 + 1 + 1) / 3)
        # update-curr expects two spans and gets one
        assert row["citation_recall"]["mean"] == pytest.approx((1 + 0.5 + 1) / 3)
        # calc-delta's third citation names no file of the checkout
        assert row["verified_rate"]["mean"] == pytest.approx((2 / 3 + 1 + 1) / 3)
        assert row["forbidden"]["mean"] == 0 and row["errors"]["mean"] == 0
        assert row["calls"]["mean"] == 3 and row["tokens"]["mean"] == 3 * 1050
    whole = totals["whole"]
    assert whole["fact_recall"]["mean"] == pytest.approx((0 + 0 + 0.5) / 3)
    assert whole["citation_precision"]["mean"] == pytest.approx((0 + 1 + 1) / 3)
    assert whole["citation_recall"]["mean"] == pytest.approx((0 + 0.5 + 1) / 3)
    assert whole["forbidden"]["mean"] == 1 and whole["used"] == "whole"
    calc = next(
        a
        for a in data["answers"]
        if a["strategy"] == "direct" and a["question_id"] == "calc-delta-fair-division"
    )
    assert calc["citations"] == [f"{FAIR}:259-284", f"{FAIR}:289-295"]
    assert calc["dropped"][0].startswith("kernel/sched/nosuch.c:1-5: ")
    assert calc["grade"]["facts"] == [True, True, True] and calc["tokens"] == 1050

    report = tmp_path / "out" / "eval.md"
    table = run_eval_cli(
        server, cache, str(questions_file), "-s", "whole,grep,direct", "--report", str(report)
    )
    assert table.exit_code == 0 and len(server.requests) == 9  # all from the cache
    lines = table.stdout.splitlines()
    assert lines[0].split()[:7] == [
        "strategy", "question", "used", "context", "facts", "cite", "P"
    ]  # fmt: skip
    row = next(line for line in lines if line.startswith("whole") and "calc-delta" in line)
    assert row.split()[4:9] == ["0.00", "0.00", "0.00", "1.00", "1"]
    assert "9 answers (9 from the cache) · 0 model calls in this run" in table.stdout
    assert "ghqa [" in table.stderr and "9 from the cache, 0 to compute" in table.stderr

    text = report.read_text()
    assert text.startswith("# ghqa eval: sched-mini\n")
    assert f"- command: `ghqa eval {questions_file} --strategy whole,grep,direct --report " in text
    assert "- model: fake-model" in text and "## Per question" in text
    whole_row = r"^\| whole \| whole \| 3 \| [0-9.]+ \| 0\.17 \| 0\.67 \| 0\.50 \|"
    assert re.search(whole_row, text, re.M)
    grep_row = r"^\| grep \| calc-delta-fair-division \| grep \| 0\.00 \| 1\.00 \|"
    assert re.search(grep_row, text, re.M)
    assert "an answer with no verified citation scores 0" in text
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib (the dev extra)")
    assert report.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert "![tokens against fact recall per strategy](eval.png)" in text


def test_a_changed_question_is_answered_again_alone(
    questions_file: Path, cache: Path, server: FakeOpenAI
) -> None:
    args = [str(questions_file), "-s", "grep", "--json", "-q"]
    assert run_eval_cli(server, cache, *args).exit_code == 0 and len(server.requests) == 3
    questions_file.write_text(questions_file.read_text().replace("      - calc_delta_fair\n", ""))
    changed = run_eval_cli(server, cache, *args)
    assert changed.exit_code == 0, changed.stderr
    data = json.loads(changed.stdout)
    assert len(server.requests) == 4 and data["run"]["from_cache"] == 2
    forced = json.loads(run_eval_cli(server, cache, *args, "--no-cache").stdout)
    assert len(server.requests) == 7 and forced["run"]["from_cache"] == 0


def test_repeats_report_their_variation(
    questions_file: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, int] = {}

    def alternating(body: dict[str, Any]) -> Reply:
        text = all_text(body)
        for q, (good, poor) in ANSWERS.items():
            if f"Question: {q}" in text:
                seen[q] = seen.get(q, 0) + 1
                return Reply(good if seen[q] % 2 else poor, prompt_tokens=100, completion_tokens=10)
        return Reply("NONE")

    with FakeOpenAI(alternating) as server:
        args = [str(questions_file), "-s", "grep", "--repeat", "2", "--subset", "--jobs", "1"]
        data = json.loads(run_eval_cli(server, cache, *args, "--json", "-q").stdout)
        assert len(server.requests) == 2
        text = run_eval_cli(server, cache, *args).stdout
    (total,) = data["totals"]
    assert total["answers"] == 2
    assert total["fact_recall"] == {
        "mean": 0.5,
        "min": 0.0,
        "max": 1.0,
        "stdev": pytest.approx(0.7071, abs=1e-4),
        "n": 2,
    }
    assert [a["repeat"] for a in data["answers"]] == [0, 1]
    row = next(line for line in text.splitlines() if line.startswith("grep") and "calc" in line)
    assert "0.50 (0.00-1.00)" in row


def test_errors_are_graded_failures_and_not_cached(questions_file: Path, cache: Path) -> None:
    def failing(body: dict[str, Any]) -> Reply:
        if "Question: How does update_curr" in all_text(body):
            return Reply(status=400, error="this model refuses")
        return responder(body)

    with FakeOpenAI(failing) as server:
        args = [str(questions_file), "-s", "direct", "--json", "-q"]
        result = run_eval_cli(server, cache, *args)
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        failed = next(a for a in data["answers"] if a["question_id"] == "update-curr-vruntime")
        assert "answered 400 for fake-model: " in failed["error"] and failed["text"] == ""
        assert failed["grade"]["fact_recall"] == 0.0 and failed["grade"]["citation_recall"] == 0.0
        assert data["totals"][0]["errors"]["mean"] == 1
        calls = len(server.requests)
        again = json.loads(run_eval_cli(server, cache, *args).stdout)
        assert again["run"]["from_cache"] == 2 and len(server.requests) == calls + 1


def test_a_crashed_local_server_is_named_in_each_failed_answer(
    questions_file: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeServer(local_model("0.5b"), cache / "models" / "m.gguf", threads=1)
    server.start(timeout=30)
    log = server.log_path
    crash(server, signal.SIGSEGV)  # before the first question: every answer fails
    monkeypatch.setattr(local_pkg, "local_available", lambda model=None: None)
    monkeypatch.setattr(local_pkg, "start_local", lambda settings, reporter: server)
    group = click.Group("ghqa", commands={"eval": eval_command})
    args = [str(questions_file), "-s", "direct", "--json", "-q", "--cache-dir", str(cache)]
    result = CliRunner().invoke(group, ["eval", *args], env={"GHQA_RETRIES": "0"})
    assert result.exit_code == 0, result.output
    errors = [a["error"] for a in json.loads(result.stdout)["answers"]]
    stopped = f"the local model server has stopped (killed by SIGSEGV); its log: {log}"
    assert len(errors) == 3 and set(errors) == {stopped}


def test_a_budget_stop_is_a_graded_failure(questions_file: Path, cache: Path) -> None:
    with FakeOpenAI(responder) as server:
        group = click.Group("ghqa", commands={"eval": eval_command})
        env = {"GHQA_BASE_URL": server.base_url, "GHQA_MODEL": "m", "GHQA_MAX_TOKENS": "10"}
        args = ["eval", str(questions_file), "-s", "whole", "--subset", "--json", "-q"]
        result = CliRunner().invoke(group, [*args, "--cache-dir", str(cache)], env=env)
        assert server.requests == []
    assert result.exit_code == 0, result.stderr
    (answer,) = json.loads(result.stdout)["answers"]
    assert answer["partial"] and "the limit of 10 tokens was reached" in answer["error"]
    assert answer["grade"]["fact_recall"] == 0.0


def test_an_unknown_strategy_is_one_line(questions_file: Path, cache: Path) -> None:
    result = run_eval_cli(None, cache, str(questions_file), "-s", "grep,magic")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: unknown strategy magic: use a comma-separated list of whole, grep, direct, "
        "chunked, rlm, auto"
    ]


def test_without_matplotlib_the_report_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    note = write_plot(Summary([], []), tmp_path / "eval.png")
    assert note == "no plot: matplotlib is not installed (pip install matplotlib)"
    assert not (tmp_path / "eval.png").exists()
