"""One FAQ run from start to end: read the current file (from the pull request's branch when
publishing), mine new questions, re-check and answer, write, publish."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import ConfigError
from ..github.client import GitHubClient
from ..github.sanitize import sanitize_answer
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .build import FaqReport, build_faq, inline, merge_documents, read_document
from .config import FaqConfig
from .mine import MinedQuestion, mine_questions
from .publish import Published, Publisher


@dataclass
class FaqRun:
    report: FaqReport
    published: Published | None = None
    mined: int = 0  # questions found in issues (before deduplication)
    notes: list[str] = field(default_factory=list)


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)``."""
    k, sep, n = text.partition("/")
    if sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise ConfigError(f"shard {text!r} is not K/N with 1 <= K <= N, e.g. 1/4")


def run_faq(
    config: FaqConfig,
    settings: Settings,
    root: Path,
    reporter: Reporter = null_reporter,
    *,
    force: bool = False,
    dry_run: bool = False,
    publish: bool = False,
    repository: str | None = None,
    shard: tuple[int, int] = (1, 1),
    run_id: str | None = None,
) -> FaqRun:
    """Run the FAQ job. ``repository`` (``owner/name``) is where questions are mined and the
    pull request goes, unless the config's ``publish.repository`` names one."""
    target = config.publish.repository or repository
    if config.repository is None:
        if not target:
            raise ConfigError(
                "the FAQ config names no 'repository': set it, pass --repo OWNER/NAME, "
                "or run inside a workflow (GITHUB_REPOSITORY)"
            )
        config = dataclasses.replace(config, repository=target)
    notes: list[str] = []
    client: GitHubClient | None = None
    if target and (publish or config.mine is not None):
        client = GitHubClient(settings.github_token or "", settings.github_api)
    elif publish:
        raise ConfigError(
            "--publish needs a repository to publish to: set publish.repository in the config, "
            "pass --repo OWNER/NAME, or run inside a workflow (GITHUB_REPOSITORY)"
        )
    with contextlib.ExitStack() as closing:
        if client is not None:
            closing.callback(client.close)
        publisher: Publisher | None = None
        old_text: str | None = None
        if publish and client is not None and target:
            if not settings.github_token:
                raise ConfigError("--publish needs a GitHub token: set GITHUB_TOKEN")
            publisher = Publisher(client, target, config.publish, config.output, run_id)
            closing.callback(publisher.close)
            old_text = publisher.current() or ""
            reporter("faq", f"current FAQ from {target}@{publisher.source}")
        mined: list[MinedQuestion] = []
        if config.mine is not None:
            if client is None or not target:
                notes.append(
                    "questions not mined: no repository (set publish.repository or --repo)"
                )
            else:
                if old_text is None:  # read once here, and handed to the build below
                    out = root / config.output
                    old_text = out.read_text(encoding="utf-8") if out.is_file() else ""
                since = read_document(old_text).mined_since
                reporter("faq", f"mining questions from {target}")
                mined = mine_questions(
                    client, target, config.mine, _time(since), about=config.repository
                )
        report = build_faq(
            config,
            settings,
            root,
            reporter,
            force,
            dry_run,
            old_text=old_text,
            mined=mined,
            shard=shard,
        )
        run = FaqRun(report, mined=len(mined), notes=notes)
        if publisher is not None and not dry_run:
            reporter("faq", f"publishing to {target}:{config.publish.branch}")
            run.published = publisher.publish(
                report.text,
                pull_body(report, settings, shard),
                lambda latest: merge_documents(latest, report),
            )
        return run


def pull_body(report: FaqReport, settings: Settings, shard: tuple[int, int] = (1, 1)) -> str:
    """The pull request's description: what the last run changed and what it cost."""
    lines = [
        f"ghqa re-checked the FAQ against `{report.commit[:12]}`.",
        "",
        f"- kept: {len(report.kept)}",
    ]
    for label, items in (
        ("re-answered", report.reanswered),
        ("added", report.added),
        ("stale (could not be re-answered; see the entries)", report.stale),
        ("removed", report.removed),
    ):
        lines.append(f"- {label}: {len(items)}")
        lines += [f"  - {inline(q)}" for q in items]
    u = report.usage
    cost = f", ${u.cost:.4f}" if u.cost is not None else ""
    lines += ["", f"Model calls: {u.calls}, tokens: {u.tokens:,}{cost}."]
    if shard != (1, 1):
        lines.append(f"Last updated by shard {shard[0]}/{shard[1]}.")
    return sanitize_answer(
        "\n".join(lines), secrets=settings.secret_values, allowed_hosts=(settings.github_host,)
    )


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
