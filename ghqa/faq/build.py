"""Building and re-verifying the FAQ file.

Each entry records the commit it was answered at and, for every span it cites, a hash of the
span's text. A rerun re-answers an entry only when it is new, forced, or when a cited span's
text changed (or its file moved or vanished); everything else is kept byte for byte, so a run
over unchanged code makes no model call and leaves the file as it was. An entry that needs a
new answer but cannot get one is marked stale, never left silently wrong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any

from ..cachefs import atomic_write
from ..engine import Answer, Usage
from ..engine.workspace import FileNotReadable, Workspace
from ..errors import ConfigError, GhqaError
from ..github.sanitize import sanitize_answer
from ..render import answer_markdown
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .config import FaqConfig
from .mine import MinedQuestion, deduplicate

FORMAT_VERSION = 1
_ENTRY = re.compile(
    r"<!-- ghqa-faq:entry (?P<slug>[a-z0-9-]+) -->\n(?P<text>.*?)\n<!-- ghqa-faq:end -->",
    re.DOTALL,
)
_FOOTER = re.compile(r"<!-- ghqa-faq (?P<json>\{.*\}) -->\s*\Z", re.DOTALL)


@dataclass
class Entry:
    question: str
    slug: str
    text: str  # the rendered section (heading, answer, sources)
    commit: str
    spans: list[dict[str, Any]]
    status: str = "ok"  # or "stale"
    source: str | None = None  # where a mined question was asked (URL)


@dataclass
class FaqReport:
    kept: list[str] = field(default_factory=list)
    reanswered: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    changed: bool = False
    path: str = ""
    commit: str = ""
    text: str = ""  # the new document
    #: Every question of the FAQ in order, and those this run (or shard) answers for.
    questions: list[str] = field(default_factory=list)
    owned: list[str] = field(default_factory=list)


def inline(question: str) -> str:
    """A question as literal Markdown text (a heading or a link's text)."""
    parts = re.split(r"([a-z][a-z0-9+.-]*://\S+)", " ".join(question.split()), flags=re.I)
    # URLs go in code spans, which are never links; everything else is escaped.
    return "".join(
        f"`{p.replace('`', '')}`" if i % 2 else re.sub(r"([\\`*\[\]<>])", r"\\\1", p)
        for i, p in enumerate(parts)
    )


def slugify(question: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")[:60].strip("-") or "q"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


@dataclass
class Document:
    title: str | None
    entries: dict[str, Entry]  # by question, in the file's order
    mined_since: str | None = None  # ISO time of the newest mined question answered


def read_document(text: str) -> Document:
    """The entries of an existing FAQ file (none for a file ghqa did not write)."""
    footer = _FOOTER.search(text)
    meta: Any = None
    if footer is not None:
        try:
            meta = json.loads(footer.group("json"))
        except ValueError:
            meta = None
    if not isinstance(meta, dict):
        return Document(None, {})
    title = re.match(r"# (.*)\n", text)
    sections = {m.group("slug"): m.group("text") for m in _ENTRY.finditer(text)}
    entries: dict[str, Entry] = {}
    for raw in meta.get("entries", []):
        try:
            slug = str(raw["slug"])
            entries[str(raw["question"])] = Entry(
                question=str(raw["question"]),
                slug=slug,
                text=sections[slug],
                commit=str(raw["commit"]),
                spans=list(raw["spans"]),
                status=str(raw.get("status", "ok")),
                source=raw.get("source"),
            )
        except (KeyError, TypeError):
            continue
    since = meta.get("mined_since")
    return Document(title[1] if title else None, entries, since if isinstance(since, str) else None)


def parse_document(text: str) -> dict[str, Entry]:
    """The entries of an existing FAQ file, by question (empty for a file ghqa did not write)."""
    return read_document(text).entries


def render_document(title: str, entries: list[Entry], mined_since: str | None = None) -> str:
    toc = "\n".join(
        f"- [{inline(e.question)}](#{e.slug})" + (" *(stale)*" if e.status == "stale" else "")
        for e in entries
    )
    parts = [
        f"# {title}",
        "_Answered by ghqa from the code, with citations checked against the commit each answer "
        "names. Entries are re-checked on every run; an entry whose cited code changed is "
        "re-answered or marked stale._",
        "## Contents",
        toc,
    ]
    for e in entries:
        parts.append(f"<!-- ghqa-faq:entry {e.slug} -->\n{e.text}\n<!-- ghqa-faq:end -->")
    meta = {
        "version": FORMAT_VERSION,
        "entries": [
            {
                "question": e.question,
                "slug": e.slug,
                "commit": e.commit,
                "status": e.status,
                "spans": e.spans,
                **({"source": e.source} if e.source else {}),
            }
            for e in entries
        ],
        **({"mined_since": mined_since} if mined_since else {}),
    }
    data = json.dumps(meta, sort_keys=True, ensure_ascii=False)
    # "<" and ">" only occur inside JSON strings: escaped, no question can close the comment.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e")
    parts.append(f"<!-- ghqa-faq {data} -->")
    return "\n\n".join(parts) + "\n"


def span_hash(ws: Workspace, path: str, start: int, end: int) -> str | None:
    try:
        lines = ws.lines(path)
    except FileNotReadable:
        return None
    if start < 1 or end > len(lines):
        return None
    return hashlib.sha256("\n".join(lines[start - 1 : end]).encode()).hexdigest()


def still_true(entry: Entry, ws: Workspace) -> bool:
    """Whether every span the entry cites has the same text at the checkout."""
    if entry.status != "ok" or not entry.spans:
        return False
    return all(
        span_hash(ws, s["path"], int(s["start"]), int(s["end"])) == s["sha256"] for s in entry.spans
    )


def build_faq(
    config: FaqConfig,
    settings: Settings,
    root: Path,
    reporter: Reporter = null_reporter,
    force: bool = False,
    dry_run: bool = False,
    *,
    old_text: str | None = None,
    mined: Sequence[MinedQuestion] = (),
    shard: tuple[int, int] = (1, 1),
) -> FaqReport:
    """Bring ``root / config.output`` up to date; returns what changed and what it cost.

    ``old_text``: the current FAQ when it lives elsewhere than the output file (the publishing
    branch); ``mined``: questions mined from issues, oldest first; ``shard`` ``(k, n)``: answer
    only every n-th question from the k-th on, keeping the others as they are.
    """
    from .. import pipeline

    settings = dataclasses.replace(settings, **config.settings).check()
    if config.repository is None:
        raise ConfigError("the FAQ config names no 'repository' to answer about")
    out = root / config.output
    if old_text is None:
        old_text = out.read_text(encoding="utf-8") if out.is_file() else ""
    document = read_document(old_text)
    existing = document.entries
    report = FaqReport(path=str(out))
    questions, sources, mined_since = _questions(config, document, mined)
    report.questions = questions
    k, n = shard
    report.owned = [q for i, q in enumerate(questions) if i % n == k - 1]
    index = pipeline.open_index(config.repository, config.paths, config.ref, settings, reporter)
    models = contextlib.ExitStack()
    answer_fn: pipeline.AnswerFn | None = None

    def ask(question: str) -> Answer:
        # The model (the local one is a server) starts only when an entry needs an answer.
        nonlocal answer_fn
        if answer_fn is None:
            answer_fn = models.enter_context(pipeline.answerer(settings, reporter))
        return answer_fn(index, question, None, None)

    try:
        ws = Workspace(index)
        report.commit = index.commit
        # Slugs over all questions (not only this shard's), so shards never pick the same one.
        taken = {e.slug for q, e in existing.items() if q in questions}
        slugs = {q: existing[q].slug if q in existing else slugify(q, taken) for q in questions}
        entries: list[Entry] = []
        owned = set(report.owned)
        for question in questions:
            old = existing.get(question)
            if question not in owned:
                if old is not None:  # another shard's: carried over as it is
                    entries.append(old)
                continue
            if old is not None and not force and still_true(old, ws):
                entries.append(old)
                report.kept.append(question)
                continue
            reporter("faq", f"{'would answer' if dry_run else 'answering'}: {question}")
            safe = functools.partial(_safe, settings=settings)
            entry = _answer(ask, ws, question, slugs[question], old, report, dry_run, safe)
            entries.append(dataclasses.replace(entry, source=sources.get(question)))
        report.removed = [q for q in existing if q not in questions]
    finally:
        models.close()
        index.close()
    title = config.title or f"FAQ: {config.repository}" + (
        f" ({', '.join(config.paths)})" if config.paths else ""
    )
    report.text = render_document(title, entries, mined_since)
    report.changed = report.text != old_text
    if report.changed and not dry_run:
        atomic_write(out, report.text.encode("utf-8"), shared=True)
    return report


def _questions(
    config: FaqConfig, document: Document, mined: Sequence[MinedQuestion]
) -> tuple[list[str], dict[str, str], str | None]:
    """The FAQ's questions in order (the fixed list, then mined ones, oldest first), where each
    mined one was asked, and the time of the newest mined question taken."""
    questions = list(config.questions)
    sources: dict[str, str] = {}
    for question, entry in document.entries.items():
        if entry.source and question not in questions:
            questions.append(question)
            sources[question] = entry.source
    since = document.mined_since
    limit = config.mine.limit if config.mine is not None else 0
    for found in deduplicate(mined, questions)[:limit]:
        questions.append(found.question)
        sources[found.question] = found.source
        asked = found.asked_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        since = max(since or asked, asked)
    return questions, sources, since


def merge_documents(latest: str, ours: FaqReport) -> str:
    """``ours`` (a shard's result) applied to ``latest`` (the file as another shard left it):
    the entries this shard owns come from ours, the others from latest."""
    theirs = read_document(latest)
    mine = read_document(ours.text)
    owned = set(ours.owned)
    entries = []
    for question in ours.questions:
        entry = mine.entries.get(question)
        if question not in owned:
            entry = theirs.entries.get(question, entry)
        if entry is not None:
            entries.append(entry)
    since = max(filter(None, (theirs.mined_since, mine.mined_since)), default=None)
    return render_document(mine.title or theirs.title or "FAQ", entries, since)


def _answer(
    ask: Callable[[str], Answer],
    ws: Workspace,
    question: str,
    slug: str,
    old: Entry | None,
    report: FaqReport,
    dry_run: bool,
    safe: Callable[[str], str],
) -> Entry:
    label = report.added if old is None else report.reanswered
    heading = f'<a id="{slug}"></a>\n\n### {inline(question)}'
    if dry_run:
        label.append(question)
        return old or Entry(question, slug, f"{heading}\n\n*Not answered yet.*", "", [], "stale")
    answer: Answer | None = None
    failure: str | None = None
    try:
        answer = ask(question)
    except GhqaError as exc:
        failure = str(exc)
    else:
        report.usage.merge(answer.usage)
        if not answer.citations:
            failure = answer.reason or "no citation could be verified"
    if answer is None or failure is not None:
        report.stale.append(question)
        note = safe(f"*Stale: this answer could not be re-checked ({failure}).*")
        if old is not None:
            return dataclasses.replace(old, status="stale", text=_mark_stale(old.text, note))
        return Entry(question, slug, f"{heading}\n\n{note}", ws.commit, [], "stale")
    label.append(question)
    spans = [
        {
            "path": c.path,
            "start": c.start,
            "end": c.end,
            "sha256": span_hash(ws, c.path, c.start, c.end),
        }
        for c in answer.citations
    ]
    body = answer_markdown(answer)
    if answer.partial:
        body += f"\n\n*Partial answer: {answer.reason}.*"
    status = "ok"
    if answer.dropped:  # the text cites lines that are not there: not published as true
        status = "stale"
        report.stale.append(question)
        labels = ", ".join(f"`{d.citation.label}`" for d in answer.dropped[:5])
        body += f"\n\n*Stale: {len(answer.dropped)} citation(s) could not be verified ({labels}).*"
    return Entry(question, slug, f"{heading}\n\n{safe(body)}", ws.commit, spans, status)


def _safe(markdown: str, settings: Settings) -> str:
    """An entry as safe to publish as an Action comment: no secrets, images, raw HTML, or links
    off the repository's host."""
    hosts = ("github.com", settings.github_host)
    return sanitize_answer(
        markdown, secrets=settings.secret_values, allowed_hosts=hosts, limit=20_000
    )


def _mark_stale(text: str, note: str) -> str:
    text = re.sub(r"\n\n\*Stale: [^\n]*\*$", "", text)
    return f"{text}\n\n{note}"
