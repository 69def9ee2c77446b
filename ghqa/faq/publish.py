"""Publishing the FAQ through one pull request, with the REST API only (no push rights on the
runner's clone needed; a workflow's ``GITHUB_TOKEN`` with contents and pull-requests write does).

The file is committed to a fixed branch (``ghqa/faq``) and one pull request is kept open from it.
While that pull request is open, runs add commits to its branch and refresh its description;
once it is merged or closed, the next run that has a change starts the branch afresh from the
base. A run whose file equals what the branch (or, with no pull request, the base) holds
commits nothing and opens nothing. Shards of one job matrix may publish at once: a commit that
lost the race is merged with the winner's file and retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from github import GithubException, UnknownObjectException
from github.PullRequest import PullRequest
from github.Repository import Repository

from ..errors import GitHubError
from ..github.client import GitHubClient, explain
from .config import PublishConfig

NEEDS = "contents: write, pull-requests: write"
#: Attempts at committing when other shards keep moving the branch.
ATTEMPTS = 6


@dataclass(frozen=True)
class Published:
    committed: bool
    pull_number: int | None = None
    pull_url: str | None = None
    opened: bool = False  # this run opened the pull request


class Publisher:
    """Reads the FAQ where the next commit will go and publishes a new version of it."""

    def __init__(
        self,
        client: GitHubClient,
        repository: str,
        config: PublishConfig,
        path: str,
        run_id: str | None = None,
    ):
        """``run_id`` (the workflow run's) lets the shards of one run share the branch."""
        self.client = client
        self.run_id = run_id
        self.repository = repository
        self.config = config
        self.path = path.lstrip("/")
        # Not lazy: a missing ref must be a 404 here, and edits must go to the ref's own URL.
        self._gh = client.gh.withLazy(False)
        try:
            self.repo: Repository = self._gh.get_repo(repository)
            self.base = config.base or self.repo.default_branch
            self.pull = self._open_pull()
        except GithubException as exc:
            raise self._error(exc, f"reading {repository}") from None
        if config.branch == self.base:
            raise GitHubError(
                f"publish.branch and the base are both {self.base}: pick another branch"
            )

    def close(self) -> None:
        self._gh.close()

    @property
    def source(self) -> str:
        """The branch the current FAQ is read from: the pull request's while one is open."""
        return self.config.branch if self.pull is not None else self.base

    def current(self) -> str | None:
        """The FAQ file as it is on :attr:`source` (None if it is not there)."""
        try:
            found = self._read(self.source)
        except GithubException as exc:
            raise self._error(exc, f"reading {self.path} on {self.source}") from None
        return found[0] if found else None

    def publish(self, text: str, body: str, merge: Callable[[str], str]) -> Published:
        """Commit ``text`` unless the branch (or, with no pull request, the base) already holds
        it, then open the pull request or refresh its description. ``merge(latest)`` puts this
        run's entries on top of a file as another shard left it (and leaves ``latest`` as it is
        when the entries are the same)."""
        try:
            return self._publish(text, body, merge)
        except GithubException as exc:
            raise self._error(exc, f"publishing {self.path} to {self.repository}") from None

    # -- steps -------------------------------------------------------------------------------

    def _publish(self, text: str, body: str, merge: Callable[[str], str]) -> Published:
        branch = self.config.branch
        if self.pull is None:
            self.pull = self._open_pull()  # another shard may have opened it meanwhile
        if self.pull is None:
            on_base = self._read(self.base)
            if on_base is not None and merge(on_base[0]) == on_base[0]:
                return Published(False)
            self._reset_branch()
        for _ in range(ATTEMPTS):
            current = self._read(branch)
            # Always on top of what the branch holds: other shards' entries are theirs.
            new = merge(current[0]) if current is not None else text
            if current is not None and new == current[0]:
                if self.pull is not None:  # nothing to commit; the description stays as it was
                    return Published(False, self.pull.number, self.pull.html_url)
                return self._refresh(body, committed=False)  # a shard committed, none opened
            message = ("Update the FAQ" if current else "Add the FAQ") + self._run_tag
            try:
                if current is None:
                    self.repo.create_file(self.path, message, new, branch=branch)
                else:
                    self.repo.update_file(self.path, message, new, current[1], branch=branch)
                return self._refresh(body, committed=True)
            except GithubException as exc:
                # 409: the file moved under us (another shard); 422: it appeared meanwhile.
                if exc.status not in (409, 422):
                    raise
        raise GitHubError(
            f"publishing {self.path}: the branch {branch} kept changing; run the job again"
        )

    @property
    def _run_tag(self) -> str:
        return f"\n\nghqa-run: {self.run_id}" if self.run_id else ""

    def _refresh(self, body: str, committed: bool) -> Published:
        opened = False
        if self.pull is None:
            try:
                self.pull = self.repo.create_pull(
                    title=self.config.title, body=body, head=self.config.branch, base=self.base
                )
                opened = True
            except GithubException as exc:
                self.pull = self._open_pull()  # another shard opened it first
                if exc.status != 422 or self.pull is None:
                    raise
        if not opened and self.pull.body != body:
            self.pull.edit(body=body)
        return Published(committed, self.pull.number, self.pull.html_url, opened)

    def _open_pull(self) -> PullRequest | None:
        owner = self.repository.split("/")[0]
        pulls = self.repo.get_pulls(
            state="open", head=f"{owner}:{self.config.branch}", base=self.base
        )
        return next(iter(pulls), None)

    def _reset_branch(self) -> None:
        """Point the branch at the base's head (creating it), dropping what a merged or closed
        pull request left there."""
        head = self.repo.get_branch(self.base).commit.sha
        try:
            ref = self.repo.get_git_ref(f"heads/{self.config.branch}")
        except UnknownObjectException:
            try:
                self.repo.create_git_ref(f"refs/heads/{self.config.branch}", head)
            except GithubException as exc:
                if exc.status != 422:  # 422: another shard created it meanwhile, from the base
                    raise
            return
        if ref.object.sha == head:
            return
        if self.run_id and self._run_tag in self.repo.get_git_commit(ref.object.sha).message:
            return  # another shard of this run started the branch afresh already
        ref.edit(head, force=True)

    def _read(self, ref: str) -> tuple[str, str] | None:
        """(text, blob sha) of the file at ``ref``, or None."""
        try:
            found = self.repo.get_contents(self.path, ref=ref)
        except UnknownObjectException:
            return None
        if isinstance(found, list):
            raise GitHubError(f"{self.path} is a directory on {ref}: set another output path")
        return found.decoded_content.decode("utf-8", errors="replace"), found.sha

    def _error(self, exc: GithubException, doing: str) -> GitHubError:
        return explain(exc, doing, NEEDS)
