"""The Action: answer an ``/ask`` issue comment, safely, exactly once.

Reads the event and its inputs from the environment GitHub Actions sets (inputs arrive as
``GHQA_*`` variables, never interpolated into scripts), checks who asked, acknowledges at once,
answers through the pipeline, and edits its placeholder comment into the answer. Everything it
posts is sanitized; a hidden marker names the comment it answers, so a re-run posts nothing new.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..engine import Answer
from ..errors import GhqaError
from ..render import answer_markdown, footer
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .client import GitHubApiError, GitHubClient, PostedComment, permission_rank
from .event import CommentEvent, load_event
from .sanitize import clean_question, parse_trigger, sanitize_answer, split_target

#: GitHub refuses comments over 65,536 characters; stay well below.
COMMENT_LIMIT = 60_000
_SECRET_NAMES = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)


def marker(comment_id: int) -> str:
    return f"<!-- ghqa:answer-to:{comment_id} -->"


#: Finds the comment ids in the markers of a comment body.
ANSWER_MARKER = re.compile(r"<!-- ghqa:answer-to:(\d+) -->")


PENDING = "<!-- ghqa:pending -->"


@dataclass(frozen=True)
class Inputs:
    """The action's inputs and the workflow's context, from the environment."""

    trigger: str
    repository: str | None
    paths: tuple[str, ...]
    allow_other: bool
    min_permission: str
    refusal: str
    token: str
    api_url: str
    server_url: str
    workflow_repository: str
    run_url: str
    workspace: str | None
    summary_path: str | None
    output_path: str | None
    secrets: tuple[str, ...] = field(repr=False, default=())

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo = env.get("GITHUB_REPOSITORY", "")
        token = env.get("GHQA_GITHUB_TOKEN") or env.get("GITHUB_TOKEN") or ""
        if not token:
            raise GhqaError("no GitHub token: set the github-token input (or GITHUB_TOKEN)")
        if not repo:
            raise GhqaError("GITHUB_REPOSITORY is not set: run ghqa action inside a workflow")
        secrets = tuple(v for k, v in env.items() if _SECRET_NAMES.search(k) and v and len(v) >= 8)
        return cls(
            trigger=env.get("GHQA_TRIGGER") or "/ask",
            repository=env.get("GHQA_REPOSITORY") or None,
            paths=tuple(env.get("GHQA_PATHS", "").split()),
            allow_other=env.get("GHQA_ALLOW_OTHER_REPOSITORIES", "").lower() == "true",
            min_permission=(env.get("GHQA_MIN_PERMISSION") or "write").lower(),
            refusal=env.get("GHQA_REFUSAL", ""),
            token=token,
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
            server_url=server,
            workflow_repository=repo,
            run_url=f"{server}/{repo}/actions/runs/{env.get('GITHUB_RUN_ID', '')}",
            workspace=env.get("GITHUB_WORKSPACE") or None,
            summary_path=env.get("GITHUB_STEP_SUMMARY") or None,
            output_path=env.get("GITHUB_OUTPUT") or None,
            secrets=secrets,
        )


@dataclass
class Outcome:
    """What the action did: ``code`` is the exit status."""

    code: int
    reason: str
    url: str | None = None
    answer: Answer | None = None


def run_action(
    env: Mapping[str, str], settings: Settings | None = None, reporter: Reporter = null_reporter
) -> Outcome:
    """Handle the event in ``env`` (``GITHUB_EVENT_PATH``, ``GITHUB_EVENT_NAME``, inputs)."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        raise GhqaError("GITHUB_EVENT_PATH is not set: run ghqa action inside a workflow")
    event = load_event(path, env.get("GITHUB_EVENT_NAME", "issue_comment"))
    inputs = Inputs.from_env(env)
    skip = _why_skip(event, inputs)
    if skip is not None or event is None:
        reporter("action", f"nothing to do: {skip}")
        return Outcome(0, skip or "not a comment event")
    question = parse_trigger(event.body, inputs.trigger) or ""
    client = GitHubClient(inputs.token, inputs.api_url)
    try:
        return _answer(env, event, question, inputs, client, settings, reporter)
    finally:
        client.close()


def _why_skip(event: CommentEvent | None, inputs: Inputs) -> str | None:
    if event is None:
        return "not a comment event"
    if event.action != "created":
        return f"the comment was {event.action}, not created"
    if event.author_type == "Bot" or event.author.endswith("[bot]"):
        return f"{event.author} is a bot"
    if "<!-- ghqa:" in event.body:
        return "the comment is ghqa's own"
    if parse_trigger(event.body, inputs.trigger) is None:
        return f"the comment does not start with {inputs.trigger}"
    return None


def _answer(
    env: Mapping[str, str],
    event: CommentEvent,
    question: str,
    inputs: Inputs,
    client: GitHubClient,
    settings: Settings | None,
    reporter: Reporter,
) -> Outcome:
    repo = event.repository
    permission = client.permission(repo, event.author)
    if permission_rank(permission) < permission_rank(inputs.min_permission):
        reporter(
            "action", f"{event.author} has {permission} permission; needs {inputs.min_permission}"
        )
        if inputs.refusal:
            body = sanitize_answer(
                f"@{event.author} {inputs.refusal}", secrets=inputs.secrets, limit=COMMENT_LIMIT
            )
            client.post(repo, event.issue_number, body + "\n" + marker(event.comment_id))
        return Outcome(0, f"{event.author} may not ask ({permission})")
    tag = marker(event.comment_id)
    existing = client.find(repo, event.issue_number, tag)
    if existing is not None and PENDING not in existing.body:
        reporter("action", f"already answered: {existing.url}")
        _write_outputs(inputs, existing.url, None)
        return Outcome(0, "already answered", existing.url)
    if existing is None:
        try:
            client.react(repo, event.issue_number, event.comment_id, "eyes")
        except GitHubApiError as exc:
            if exc.status != 404:
                raise
            reporter("action", f"comment {event.comment_id} is gone; nothing to answer")
            return Outcome(0, "the comment was deleted before it could be answered")

    settings = _settings(settings or Settings.resolve(env), inputs)
    target, paths, text = _target(question, inputs)
    if not text:
        text = question
    placeholder = existing
    started = time.monotonic()
    try:
        from .. import pipeline

        index = pipeline.open_index(target, paths, None, settings, reporter)
        try:
            co = index.checkout
            label = co.spec.display if co.spec.kind != "file" else inputs.workflow_repository
            body = (
                f"answering about {label}@{co.short}… ([run]({inputs.run_url}))\n\n"
                f"{marker(event.comment_id)}\n{PENDING}"
            )
            placeholder = _post_or_edit(client, repo, event.issue_number, placeholder, body)
            if existing is None:
                _drop_duplicates(client, repo, event.issue_number, tag, placeholder)
            web_url = None
            if co.spec.kind == "file":
                web_url = f"{inputs.server_url}/{inputs.workflow_repository}"
            with pipeline.answerer(settings, reporter) as answer_fn:
                answer = answer_fn(index, text, None, web_url)
        finally:
            index.close()
        answer.wall_time = round(time.monotonic() - started, 3)
    except GitHubApiError:
        raise
    except GhqaError as exc:
        message = f"**ghqa could not answer**: {exc}\n\n[Run log]({inputs.run_url})"
        _write_summary(inputs, question, message)
        posted, _ = _publish(client, repo, event.issue_number, placeholder, message, inputs, tag)
        return Outcome(1, str(exc), posted.url)

    text_md = _answer_body(answer, inputs, label)
    # The run's summary first: whatever GitHub does with the comment, the answer is kept.
    _write_summary(inputs, question, text_md)
    posted, refused = _publish(client, repo, event.issue_number, placeholder, text_md, inputs, tag)
    _write_outputs(inputs, posted.url, answer)
    if refused:
        return Outcome(1, refused, posted.url, answer)
    reporter("action", f"answered: {posted.url}")
    if answer.partial:
        return Outcome(1, f"partial answer: {answer.reason}", posted.url, answer)
    return Outcome(0, "answered", posted.url, answer)


def _settings(settings: Settings, inputs: Inputs) -> Settings:
    host = urlsplit(inputs.server_url)
    github_host = host.netloc if host.scheme == "https" else inputs.server_url
    return dataclasses.replace(settings, github_host=github_host, github_token=inputs.token)


def _target(question: str, inputs: Inputs) -> tuple[str, tuple[str, ...], str]:
    """What to answer about: a repository named in the comment (when allowed), the input,
    the workflow's own checkout, or the workflow's repository."""
    if inputs.allow_other:
        named, paths, rest = split_target(question)
        if named:
            return named, tuple(paths), rest
    if inputs.repository:
        return inputs.repository, inputs.paths, question
    if inputs.workspace and _is_checkout_of_head(inputs.workspace):
        return inputs.workspace, inputs.paths, question
    return inputs.workflow_repository, inputs.paths, question


def _is_checkout_of_head(path: str) -> bool:
    try:
        subprocess.run(
            ["git", "-C", path, "rev-parse", "--verify", "HEAD"],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _answer_body(answer: Answer, inputs: Inputs, label: str) -> str:
    u = answer.usage
    details = [
        f"Answered about {label}@{answer.commit[:12]} with `{answer.strategy}`.",
        f"{u.calls} model calls ({u.cached_calls} cached), {u.tokens:,} tokens"
        + (f", ${u.cost:.4f}" if u.cost is not None else "")
        + f", {answer.wall_time:.1f} s. [Run]({inputs.run_url})",
    ]
    if answer.dropped:
        details.append(f"{len(answer.dropped)} citation(s) could not be verified and were dropped.")
    head = ""
    if answer.partial:
        head = f"**Partial answer** ({answer.reason}).\n\n"
    return (
        f"{head}{answer_markdown(answer)}\n\n<details><summary>{footer(answer)}</summary>\n\n"
        + "\n".join(details)
        + "\n</details>"
    )


def _final(markdown: str, inputs: Inputs, tag: str) -> str:
    hosts = {urlsplit(inputs.server_url).hostname or "github.com"}
    return sanitize_answer(
        markdown, secrets=inputs.secrets, allowed_hosts=hosts, limit=COMMENT_LIMIT
    ) + (f"\n{tag}")


def _post_or_edit(
    client: GitHubClient, repo: str, issue: int, existing: PostedComment | None, body: str
) -> PostedComment:
    """Edit ``existing`` into ``body``, or post ``body`` when there is none or it was deleted."""
    if existing is not None:
        try:
            return client.edit(repo, issue, existing.id, body)
        except GitHubApiError as exc:
            if exc.status != 404:
                raise
    return client.post(repo, issue, body)


def _publish(
    client: GitHubClient,
    repo: str,
    issue: int,
    placeholder: PostedComment | None,
    markdown: str,
    inputs: Inputs,
    tag: str,
) -> tuple[PostedComment, str | None]:
    """Post the final comment; when GitHub refuses its content (422), post a short note that
    points to the run instead, and say why (the second value) so the job fails."""
    try:
        return _post_or_edit(client, repo, issue, placeholder, _final(markdown, inputs, tag)), None
    except GitHubApiError as exc:
        if exc.status != 422:
            raise
        note = (
            "**ghqa answered, but GitHub refused the comment** (422). The answer is in the "
            f"[run's summary]({inputs.run_url})."
        )
        posted = _post_or_edit(client, repo, issue, placeholder, _final(note, inputs, tag))
        return posted, f"GitHub refused the answer's comment: {exc}"


def _drop_duplicates(
    client: GitHubClient, repo: str, issue: int, tag: str, keep: PostedComment
) -> None:
    """Delete other placeholders for the same comment: a POST whose answer was lost (a 502
    after GitHub had written it) and was retried leaves two."""
    for other in client.find_all(repo, issue, tag):
        if other.id != keep.id and PENDING in other.body:
            try:
                client.delete(repo, issue, other.id)
            except GitHubApiError as exc:
                if exc.status != 404:
                    raise


def _write_summary(inputs: Inputs, question: str, markdown: str) -> None:
    if not inputs.summary_path:
        return
    safe = sanitize_answer(markdown, secrets=inputs.secrets, limit=COMMENT_LIMIT)
    with open(inputs.summary_path, "a", encoding="utf-8") as f:
        f.write(f"## ghqa\n\n> {clean_question(question)}\n\n{safe}\n")


def _write_outputs(inputs: Inputs, url: str | None, answer: Answer | None) -> None:
    if not inputs.output_path:
        return
    usage = {}
    if answer is not None:
        u = answer.usage
        usage = {"calls": u.calls, "tokens": u.tokens, "cost": u.cost, "strategy": answer.strategy}
    with open(inputs.output_path, "a", encoding="utf-8") as f:
        f.write(f"answer-url={url or ''}\nusage={json.dumps(usage)}\n")
