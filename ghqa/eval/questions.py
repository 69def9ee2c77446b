"""Question sets for ``ghqa eval``: the YAML file, checked with one line per problem.

A set names its source (a snapshot directory, a repository or an installed package), the
default paths, and questions, each with the facts an answer must state (regular expressions,
or lists of alternatives), the spans it must cite, and claims it must not make."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, SpecError
from ..fetch import normalize_paths

SOURCE_KINDS = ("snapshot", "repository", "package")
_SET_KEYS = ("name", "source", "paths", "questions")
_QUESTION_KEYS = (
    "id", "question", "kind", "paths", "facts", "citations", "forbidden", "subset",
)  # fmt: skip
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SPAN = re.compile(r"^(?P<path>[^\s:]+):(?P<start>\d{1,9})(?:-(?P<end>\d{1,9}))?$")
_PACKAGE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")


class QuestionFileError(ConfigError):
    """A question file that cannot be used; the message has one line per problem."""


@dataclass(frozen=True)
class ExpectedSpan:
    """Lines ``start``..``end`` of ``path`` that an answer should cite."""

    path: str
    start: int
    end: int

    @property
    def label(self) -> str:
        return f"{self.path}:{self.start}-{self.end}"


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    kind: str
    paths: tuple[str, ...]
    facts: tuple[tuple[str, ...], ...]  # each fact: alternatives, any one of which suffices
    citations: tuple[ExpectedSpan, ...]
    forbidden: tuple[str, ...] = ()
    subset: bool = False

    @property
    def spec_hash(self) -> str:
        """A hash of what the answer is asked and graded by: a change means a new result."""
        spec = {
            "question": self.question,
            "paths": list(self.paths),
            "facts": [list(f) for f in self.facts],
            "citations": [c.label for c in self.citations],
            "forbidden": list(self.forbidden),
        }
        text = json.dumps(spec, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Source:
    """Where the code comes from: ``snapshot`` (an absolute directory), ``repository`` (a spec
    ghqa accepts, with an optional ``ref``) or ``package`` (``name==version``)."""

    kind: str
    value: str
    ref: str | None = None

    @property
    def label(self) -> str:
        ref = f"@{self.ref}" if self.ref else ""
        return f"{self.kind} {self.value}{ref}"


@dataclass(frozen=True)
class QuestionSet:
    name: str
    file: Path
    source: Source
    paths: tuple[str, ...]
    questions: tuple[EvalQuestion, ...]

    def subset(self) -> QuestionSet:
        """The questions marked ``subset: true`` (the small CI subset)."""
        chosen = tuple(q for q in self.questions if q.subset)
        if not chosen:
            raise QuestionFileError(
                f"{self.file}: no question has 'subset: true'; mark some, or drop --subset"
            )
        return replace(self, questions=chosen)

    def only(self, ids: list[str]) -> QuestionSet:
        """The questions with these ids, in the file's order."""
        known = {q.id for q in self.questions}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise QuestionFileError(
                f"{self.file}: no question with id {', '.join(unknown)}; see the file's ids"
            )
        return replace(self, questions=tuple(q for q in self.questions if q.id in ids))


def load_questions(path: Path) -> QuestionSet:
    """Read and check a question file; every problem is reported, one line each."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QuestionFileError(f"cannot read the question file {path}: {exc.strerror}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise QuestionFileError(f"{path}: not valid YAML{line}: {problem}") from None
    problems: list[str] = []
    qset = _parse_set(data, path, problems)
    if problems or qset is None:
        raise QuestionFileError("\n".join(f"{path}: {p}" for p in problems))
    return qset


def _parse_set(data: Any, path: Path, problems: list[str]) -> QuestionSet | None:
    if not isinstance(data, dict):
        problems.append("must be a mapping with 'source' and 'questions'")
        return None
    _unknown_keys(data, _SET_KEYS, "", problems)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        problems.append("'name' must be a non-empty string")
        name = path.stem
    source = _parse_source(data.get("source"), path.parent, problems)
    paths = _parse_paths(data.get("paths", []), "'paths'", problems)
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        problems.append("'questions' must be a non-empty list")
        return None
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_questions, 1):
        question = _parse_question(raw, number, paths, problems)
        if question is None:
            continue
        if question.id in seen:
            problems.append(f"question #{number}: id {question.id!r} is used twice")
        seen.add(question.id)
        questions.append(question)
    if source is None or problems:
        return None
    return QuestionSet(name.strip(), path, source, paths, tuple(questions))


def _parse_source(raw: Any, base: Path, problems: list[str]) -> Source | None:
    if not isinstance(raw, dict):
        problems.append("'source' must be a mapping with one of: " + ", ".join(SOURCE_KINDS))
        return None
    _unknown_keys(raw, (*SOURCE_KINDS, "ref"), "source: ", problems)
    given = [k for k in SOURCE_KINDS if k in raw]
    if len(given) != 1:
        problems.append(
            "'source' must have exactly one of snapshot, repository, package "
            f"(it has {', '.join(given) or 'none'})"
        )
        return None
    kind = given[0]
    value = raw[kind]
    if not isinstance(value, str) or not value.strip():
        problems.append(f"source: {kind!r} must be a non-empty string")
        return None
    value = value.strip()
    ref = raw.get("ref")
    if ref is not None and (kind != "repository" or not isinstance(ref, str) or not ref.strip()):
        problems.append("source: 'ref' is a non-empty string, and only goes with 'repository'")
        return None
    if kind == "snapshot":
        directory = (base / value).resolve()
        if not directory.is_dir():
            problems.append(f"source: snapshot directory {directory} does not exist")
            return None
        return Source(kind, str(directory))
    if kind == "package" and not _PACKAGE.match(value):
        problems.append(
            f"source: package {value!r} must name an exact version, e.g. packaging==24.2"
        )
        return None
    return Source(kind, value, ref.strip() if isinstance(ref, str) else None)


def _parse_paths(raw: Any, what: str, problems: list[str]) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        problems.append(f"{what} must be a list of paths, e.g. [kernel/sched]")
        return ()
    try:
        return normalize_paths(raw)
    except SpecError as exc:
        problems.append(f"{what}: {exc}")
        return ()


def _parse_question(
    raw: Any, number: int, default_paths: tuple[str, ...], problems: list[str]
) -> EvalQuestion | None:
    if not isinstance(raw, dict):
        problems.append(f"question #{number} must be a mapping with 'id' and 'question'")
        return None
    qid = raw.get("id")
    where = f"question {qid!r}" if isinstance(qid, str) and qid else f"question #{number}"
    before = len(problems)
    _unknown_keys(raw, _QUESTION_KEYS, f"{where}: ", problems)
    if not isinstance(qid, str) or not _ID.match(qid):
        problems.append(f"{where}: 'id' must be lowercase letters, digits and dashes")
    text = raw.get("question")
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{where}: 'question' must be a non-empty string")
    kind = raw.get("kind", "")
    if not isinstance(kind, str):
        problems.append(f"{where}: 'kind' must be a string, e.g. definition")
    paths = default_paths
    if "paths" in raw:
        paths = _parse_paths(raw["paths"], f"{where}: 'paths'", problems)
    facts = _parse_facts(raw.get("facts", []), where, problems)
    citations = _parse_citations(raw.get("citations", []), where, problems)
    forbidden = _parse_patterns(raw.get("forbidden", []), f"{where}: 'forbidden'", problems)
    subset = raw.get("subset", False)
    if not isinstance(subset, bool):
        problems.append(f"{where}: 'subset' must be true or false")
    if not facts and not citations and len(problems) == before:
        problems.append(f"{where}: give 'facts' or 'citations' to grade the answer by")
    if len(problems) > before:
        return None
    assert isinstance(qid, str) and isinstance(text, str) and isinstance(kind, str)
    return EvalQuestion(
        qid, " ".join(text.split()), kind, paths, facts, citations, forbidden, bool(subset)
    )


def _parse_facts(raw: Any, where: str, problems: list[str]) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list):
        problems.append(f"{where}: 'facts' must be a list of regular expressions")
        return ()
    facts: list[tuple[str, ...]] = []
    for number, item in enumerate(raw, 1):
        what = f"{where}: fact #{number}"
        alternatives = item if isinstance(item, list) else [item]
        if not alternatives:
            problems.append(f"{what} is an empty list of alternatives")
            continue
        facts.append(_parse_patterns(alternatives, what, problems))
    return tuple(facts)


def _parse_patterns(raw: Any, what: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list):
        problems.append(f"{what} must be a list of regular expressions")
        return ()
    patterns: list[str] = []
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            problems.append(f"{what}: {item!r} is not a regular expression (quote it)")
            continue
        pattern = str(item)
        if not pattern.strip():
            problems.append(f"{what}: an empty pattern matches every answer")
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{what}: {pattern!r} is not a valid regular expression: {exc}")
            continue
        patterns.append(pattern)
    return tuple(patterns)


def _parse_citations(raw: Any, where: str, problems: list[str]) -> tuple[ExpectedSpan, ...]:
    if not isinstance(raw, list):
        problems.append(f"{where}: 'citations' must be a list of path:start-end")
        return ()
    spans: list[ExpectedSpan] = []
    for item in raw:
        m = _SPAN.match(item.strip()) if isinstance(item, str) else None
        if m is None:
            problems.append(
                f"{where}: citation {item!r} is not path:start-end, "
                "e.g. kernel/sched/fair.c:259-284"
            )
            continue
        start = int(m["start"])
        end = int(m["end"] or start)
        if start < 1 or end < start:
            problems.append(f"{where}: citation {item!r} must have 1 <= start <= end")
            continue
        try:
            path = normalize_paths([m["path"]])
        except SpecError as exc:
            problems.append(f"{where}: citation {item!r}: {exc}")
            continue
        if not path:
            problems.append(f"{where}: citation {item!r} names no file")
            continue
        spans.append(ExpectedSpan(path[0], start, end))
    return tuple(spans)


def _unknown_keys(
    raw: dict[Any, Any], known: tuple[str, ...], where: str, problems: list[str]
) -> None:
    for key in raw:
        if key not in known:
            problems.append(f"{where}unknown key {key!r} (known: {', '.join(known)})")
