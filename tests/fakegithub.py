"""A stateful fake of the GitHub REST API on 127.0.0.1 for tests.

Code under test talks to it through the real PyGithub client over real HTTP/1.1::

    with FakeGitHub() as fake:
        fake.add_repo("octo/widgets")
        fake.add_issue("octo/widgets", 7)
        gh = github.Github(base_url=fake.base_url, auth=github.Auth.Token(fake.token))

Tests seed repositories, users, permissions, issues, labels, comments and files, inject faults
with :meth:`FakeGitHub.fail_next`, control the clock with :meth:`FakeGitHub.set_time`, and
inspect the comments, reactions, branches, commits, pull requests and requests that result.

Served: what the ``/ask`` Action needs (repository, collaborator permission, issue, issue
comments and reactions); what publishing a file through one pull request needs (branches, git
refs, commits, the contents API, pull requests); and what mining questions needs (issue listing
with state, labels and ``since``, and the repository's issue comments). Each repository has a
small git model: commits with whole trees of files, branches, real blob, tree and commit SHA-1s.
Everything else is a 404, as on GitHub. JSON is shaped like GitHub's, with the fields PyGithub
2.x reads."""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from loopback import LoopbackServer, QuietServer, TrackedHandler

MAX_COMMENT = 65536  # characters; GitHub rejects longer comment bodies with a 422
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
ROLES = ("admin", "maintain", "write", "triage", "read", "none")
# The `permission` field of the collaborator-permission API only knows the legacy base roles:
# maintain is reported as write and triage as read; `role_name` carries the real role.
_LEGACY = {"maintain": "write", "triage": "read"}
_FLAGS = ("pull", "triage", "push", "maintain", "admin")  # what each role adds, weakest first
_ROLE_FLAGS = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}
MAX_INLINE = 1024 * 1024  # bytes; the contents API sends no content (encoding "none") above
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's id of the empty tree
_DOCS = "https://docs.github.com/rest"
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern + r"\Z"), name)
    for pattern, name in [
        (r"/rate_limit", "rate_limit"),
        (r"/user", "me"),
        (r"/users/(?P<login>[^/]+)", "user"),
        (_REPO, "repo"),
        (_REPO + r"/collaborators/(?P<login>[^/]+)/permission", "permission"),
        (_REPO + r"/issues/comments/(?P<cid>\d+)", "comment"),
        (_REPO + r"/issues/comments/(?P<cid>\d+)/reactions", "reactions"),
        (_REPO + r"/issues/comments/(?P<cid>\d+)/reactions/(?P<rid>\d+)", "reaction"),
        (_REPO + r"/issues/(?P<number>\d+)", "issue"),
        (_REPO + r"/issues/(?P<number>\d+)/comments", "issue_comments"),
        (_REPO + r"/issues", "issues"),
        (_REPO + r"/issues/comments", "repo_comments"),
        (_REPO + r"/branches", "branches"),
        (_REPO + r"/branches/(?P<branch>.+)", "branch"),
        (_REPO + r"/commits/(?P<ref>[^/]+)", "commit"),
        (_REPO + r"/git/commits/(?P<sha>[0-9a-f]{40})", "git_commit"),
        (_REPO + r"/git/ref/(?P<ref>.+)", "git_ref"),
        (_REPO + r"/git/refs", "git_refs"),
        (_REPO + r"/git/refs/(?P<ref>.+)", "git_refs_ref"),
        (_REPO + r"/git/matching-refs/(?P<ref>.*)", "matching_refs"),
        (_REPO + r"/contents", "contents"),
        (_REPO + r"/contents/(?P<path>.+)", "contents"),
        (_REPO + r"/pulls", "pulls"),
        (_REPO + r"/pulls/(?P<number>\d+)", "pull"),
    ]
]


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(_TIME)


def _parse_time(text: str) -> datetime | None:
    """An ISO 8601 timestamp as GitHub accepts it (``Z`` or an offset; naive is UTC)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _blob_sha(data: bytes) -> str:
    """Git's id of a blob holding ``data`` (what the contents API calls the file's sha)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _tree_sha(tree: Mapping[str, bytes]) -> str:
    """Git's id of the tree holding ``tree`` (path -> bytes), subdirectories as subtrees."""
    files: dict[str, bytes] = {}
    dirs: dict[str, dict[str, bytes]] = {}
    for path, data in tree.items():
        head, slash, rest = path.partition("/")
        if slash:
            dirs.setdefault(head, {})[rest] = data
        else:
            files[head] = data
    entries = [(name, b"100644", _blob_sha(data)) for name, data in files.items()]
    entries += [(name + "/", b"40000", _tree_sha(sub)) for name, sub in dirs.items()]
    entries.sort(key=lambda entry: entry[0].encode())  # git sorts a directory as "name/"
    raw = b"".join(
        mode + b" " + name.rstrip("/").encode() + b"\0" + bytes.fromhex(sha)
        for name, mode, sha in entries
    )
    return hashlib.sha1(b"tree %d\0" % len(raw) + raw).hexdigest()


def _clean_path(path: str) -> str:
    return "/".join(part for part in path.split("/") if part)


def _error(status: int, message: str, **extra: Any) -> Reply:
    body = {"message": message, **extra, "documentation_url": _DOCS, "status": str(status)}
    return Reply(status, body)


def _not_found() -> Reply:
    return _error(404, "Not Found")


def _invalid(resource: str, field_name: str, code: str, message: str | None = None) -> Reply:
    error: dict[str, str] = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return _error(422, "Validation Failed", errors=[error])


def _fault_message(status: int, headers: dict[str, str]) -> str:
    if status in (403, 429):
        if headers.get("x-ratelimit-remaining") == "0":
            return "API rate limit exceeded for installation ID 1."
        return (
            "You have exceeded a secondary rate limit. "
            "Please wait a few minutes before you try again."
        )
    known = {401: "Bad credentials", 404: "Not Found", 422: "Validation Failed"}
    if status == 500:
        return "Server Error"
    try:
        return known.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


@dataclass
class Reply:
    """One HTTP answer of the fake: a JSON body (None for no body) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    message: str | None
    commit: bool

    def reply(self) -> Reply:
        message = self.message or _fault_message(self.status, self.headers)
        reply = _error(self.status, message)
        reply.headers = dict(self.headers)
        return reply


@dataclass
class _Reaction:
    id: int
    login: str
    content: str
    created_at: str


@dataclass
class _Comment:
    id: int
    repo: str  # key of the repository
    issue: int
    login: str
    body: str
    created_at: str
    updated_at: str
    reactions: list[_Reaction] = field(default_factory=list)


@dataclass
class _Pull:
    head: str  # branch names, in this repository (forks are not modelled)
    base: str
    head_sha: str  # follow the branches while the pull request is open, then stay put
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None


@dataclass
class _Issue:
    id: int
    number: int
    title: str
    body: str | None
    login: str
    pull_request: bool
    created_at: str
    updated_at: str
    comments: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # names as the repository spells them
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    pull: _Pull | None = None  # set exactly when pull_request is


@dataclass
class _Commit:
    sha: str
    tree: dict[str, bytes]  # path -> content, every file of the commit
    parents: tuple[str, ...]
    message: str
    name: str  # author and committer
    email: str
    date: str
    login: str | None  # the GitHub user the commit is attributed to


@dataclass
class _Repo:
    id: int
    full_name: str
    owner: str
    default_branch: str
    created_at: str
    roles: dict[str, str] = field(default_factory=dict)  # lower-case login -> role
    issues: dict[int, _Issue] = field(default_factory=dict)  # pull requests too
    commits: dict[str, _Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> commit sha
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-case name -> label


class FakeGitHub(LoopbackServer):
    """``with FakeGitHub() as fake: github.Github(base_url=fake.base_url, ...)``

    Every request needs ``Authorization: token <token>`` (or ``Bearer <token>``), else 401.
    Comments, reactions, commits and pull requests made through the API are made as
    ``bot_login`` (type Bot), the user owning the token; what the seeding methods add is the
    repository owner's unless they say otherwise. Names of repositories and users are
    case-insensitive, as on GitHub; branch names are not.
    """

    def __init__(
        self,
        token: str = "ghs_faketoken",
        *,
        bot_login: str = "github-actions[bot]",
        web_url: str = "https://github.com",
    ) -> None:
        super().__init__()
        self.token = token
        self.bot_login = bot_login
        self.web_url = web_url.rstrip("/")
        self.requests: list[tuple[str, str]] = []  # (method, path?query) of every request
        self.unexpected: list[str] = []  # errors of the fake itself; a test should assert none
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._users: dict[str, dict[str, Any]] = {}
        self._repos: dict[str, _Repo] = {}
        self._comments: dict[int, _Comment] = {}
        self._faults: list[_Fault] = []
        self._frozen: datetime | None = None  # see set_time
        self._used = 0
        self._reset = int(time.time()) + 3600
        self.add_user(bot_login, "Bot")

    # -- lifecycle -------------------------------------------------------------------------

    def make_server(self) -> QuietServer:
        return QuietServer(self, _Handler)

    # -- seeding ---------------------------------------------------------------------------

    def add_user(self, login: str, type: str = "User") -> None:
        """Add (or retype) a user; ``type`` is ``User``, ``Bot`` or ``Organization``."""
        with self._lock:
            user = self._users.get(login.lower())
            if user is None:
                self._users[login.lower()] = {"login": login, "id": next(self._ids), "type": type}
            else:
                user["type"] = type

    def set_time(self, when: datetime | str | None) -> None:
        """Stop the fake's clock at ``when`` (an aware datetime, or ISO 8601 text such as
        ``2024-05-01T12:00:00Z``; naive means UTC): every timestamp it records from now on
        (issues, comments, commits, pull requests, ...) is ``when`` until the next call. None
        lets the clock follow real time again. Timestamps have second resolution, as on GitHub."""
        if isinstance(when, str):
            parsed = _parse_time(when)
            if parsed is None:
                raise ValueError(f"not an ISO 8601 time: {when!r}")
            when = parsed
        elif when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        with self._lock:
            self._frozen = when

    def add_repo(self, full_name: str, default_branch: str = "main") -> None:
        """Add a repository whose ``default_branch`` holds one empty commit, "Initial commit"."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not owner/name: {full_name!r}")
        with self._lock:
            if full_name.lower() in self._repos:
                raise ValueError(f"repository {full_name} exists")
            owner = self._ensure_user(owner)
            repo = _Repo(next(self._ids), full_name, owner, default_branch, self._now())
            self._repos[full_name.lower()] = repo
            initial = self._new_commit(repo, {}, (), "Initial commit", owner)
            repo.refs[f"refs/heads/{default_branch}"] = initial.sha

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Give ``login`` a role on the repository (``none`` takes it away). The owner of a
        repository is an admin unless given another role."""
        if permission not in ROLES:
            raise ValueError(f"permission must be one of {ROLES}, not {permission!r}")
        with self._lock:
            self._ensure_user(login)
            self._repo(full_name).roles[login.lower()] = permission

    def add_issue(
        self,
        full_name: str,
        number: int,
        title: str = "q",
        pull_request: bool = False,
        *,
        body: str | None = None,
        login: str | None = None,
        labels: Iterable[str] = (),
        state: str = "open",
    ) -> None:
        """Add an issue (or, with ``pull_request``, a pull request) opened by ``login``
        (default: the repository's owner), with ``labels`` (created in the repository as
        needed) and ``state`` ``open`` or ``closed`` (closed as completed).

        A pull request seeded here has no branches of its own: its head is ``patch-<number>``,
        a branch that does not exist (as after deleting it), at the default branch's head, and its
        base is the default branch. Use the API (``create_pull``) for real ones."""
        if state not in ("open", "closed"):
            raise ValueError(f"state must be open or closed, not {state!r}")
        with self._lock:
            repo = self._repo(full_name)
            if number in repo.issues:
                raise ValueError(f"{full_name}#{number} exists")
            author = self._ensure_user(login or repo.owner)
            now = self._now()
            issue = _Issue(next(self._ids), number, title, body, author, pull_request, now, now)
            issue.labels = [self._label(repo, name)["name"] for name in labels]
            if pull_request:
                head = self._branch_head(repo, repo.default_branch) or ""
                issue.pull = _Pull(f"patch-{number}", repo.default_branch, head, head)
            repo.issues[number] = issue
            if state == "closed":
                self._close(repo, issue, repo.owner, "completed")

    def close_issue(
        self, full_name: str, number: int, reason: str = "completed", *, login: str | None = None
    ) -> None:
        """Close an issue (``reason``: ``completed`` or ``not_planned``) or a pull request
        (without merging it), as ``login`` (default: the repository's owner)."""
        if reason not in ("completed", "not_planned"):
            raise ValueError(f"reason must be completed or not_planned, not {reason!r}")
        with self._lock:
            repo = self._repo(full_name)
            issue = self._issue(repo, number)
            if issue.state == "closed":
                raise ValueError(f"{full_name}#{number} is closed")
            self._close(repo, issue, self._ensure_user(login or repo.owner), reason)

    def set_file(
        self,
        full_name: str,
        path: str,
        content: str | bytes | None,
        branch: str | None = None,
        message: str = "seed",
    ) -> str:
        """Commit ``content`` (str as UTF-8; None deletes the file) at ``path`` on ``branch``
        (default: the default branch; created from the default branch's head if missing) as
        the repository's owner, and return the new commit's sha."""
        data = content.encode() if isinstance(content, str) else content
        with self._lock:
            repo = self._repo(full_name)
            branch = branch or repo.default_branch
            head = self._branch_head(repo, branch)
            if head is None:
                head = self._branch_head(repo, repo.default_branch)
                assert head is not None, "the default branch is gone"
            tree = dict(repo.commits[head].tree)
            path = _clean_path(path)
            if data is None:
                if tree.pop(path, None) is None:
                    raise KeyError(f"no file {path} on {branch}")
            else:
                if self._path_conflict(tree, path):
                    raise ValueError(f"{path} clashes with a file or directory on {branch}")
                tree[path] = data
            commit = self._new_commit(repo, tree, (head,), message, repo.owner)
            self._move_branch(repo, branch, commit.sha)
            return commit.sha

    def set_branch(self, full_name: str, branch: str, sha: str | None) -> None:
        """Point ``branch`` at the commit ``sha`` (creating it if missing), or delete it when
        ``sha`` is None. Open pull requests follow, as on GitHub: deleting the head or base
        branch of one closes it."""
        with self._lock:
            repo = self._repo(full_name)
            if sha is not None and sha not in repo.commits:
                raise ValueError(f"no commit {sha} in {full_name}")
            if sha is None and self._branch_head(repo, branch) is None:
                raise KeyError(f"no branch {branch} in {full_name}")
            if sha is None and branch == repo.default_branch:
                raise ValueError("the default branch cannot be deleted")
            self._move_branch(repo, branch, sha)

    def merge_pull(self, full_name: str, number: int, *, login: str | None = None) -> str:
        """Merge an open pull request as ``login`` (default: the repository's owner) the way
        GitHub's merge button does by default: a merge commit on the base, whose parents are the
        base's and the head's heads and whose tree is the three-way merge of the two. Marks the
        pull request merged and closed and returns the merge commit's sha. ValueError when the
        pull request is closed, a branch is missing or the merge conflicts."""
        with self._lock:
            repo = self._repo(full_name)
            issue = self._issue(repo, number)
            pull = issue.pull
            if pull is None or issue.state != "open":
                raise ValueError(f"{full_name}#{number} is not an open pull request")
            base_head = self._branch_head(repo, pull.base)
            head = self._branch_head(repo, pull.head)
            if base_head is None or head is None:
                raise ValueError(f"a branch of {full_name}#{number} is missing")
            tree = self._merged_tree(repo, base_head, head)
            if tree is None:
                raise ValueError(f"{full_name}#{number} has conflicts")
            who = self._ensure_user(login or repo.owner)
            message = f"Merge pull request #{number} from {repo.owner}/{pull.head}\n\n{issue.title}"
            merge = self._new_commit(repo, tree, (base_head, head), message, who)
            self._move_branch(repo, pull.base, merge.sha)
            pull.merged_at, pull.merged_by, pull.merge_commit_sha = merge.date, who, merge.sha
            pull.base_sha, pull.head_sha = base_head, head
            self._close(repo, issue, who, None)
            return merge.sha

    def comment_event(self, full_name: str, issue: int, login: str, body: str) -> dict[str, Any]:
        """Add a comment by ``login`` and return the ``issue_comment`` (created) event payload
        GitHub would send for it."""
        comment = self.add_comment(full_name, issue, login, body)
        owner, name = full_name.split("/")
        return {
            "action": "created",
            "issue": {"number": issue, "title": "q", "user": {"login": login, "type": "User"}},
            "comment": comment,
            "repository": {"full_name": full_name, "name": name, "owner": {"login": owner}},
            "sender": comment["user"],
        }

    def add_comment(self, full_name: str, issue: int, login: str, body: str) -> dict[str, Any]:
        """Add a comment by ``login`` (added as a User if unknown); returns its JSON. Bodies are
        not validated, so a test may seed what the API would refuse."""
        with self._lock:
            repo = self._repo(full_name)
            return self._comment_json(
                self._new_comment(repo, self._issue(repo, issue), login, body)
            )

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        *,
        message: str | None = None,
        commit: bool = False,
    ) -> None:
        """Answer the next ``times`` requests whose method is ``method`` (``*``: any) and whose
        path (without query) matches ``path_regex`` (``re.search``) with ``status``, a GitHub-like
        error body and ``headers``. 403 and 429 default to GitHub's secondary-rate-limit message,
        or its primary one when ``headers`` hold ``x-ratelimit-remaining: 0``. With ``commit``,
        the request is carried out first and only its answer is lost, as when a proxy times out
        after GitHub did the write. Faults are matched in the order they were added."""
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = _Fault(
            method.upper(),
            re.compile(path_regex),
            status,
            times,
            {k.lower(): v for k, v in (headers or {}).items()},
            message,
            commit,
        )
        with self._lock:
            self._faults.append(fault)

    # -- inspection ------------------------------------------------------------------------

    def branches(self, full_name: str) -> dict[str, str]:
        """Branch name -> the sha of its head commit."""
        with self._lock:
            refs = self._repo(full_name).refs
            return {ref[11:]: sha for ref, sha in refs.items() if ref.startswith("refs/heads/")}

    def files(self, full_name: str, branch: str | None = None) -> dict[str, bytes]:
        """Every file (path -> content) at the head of ``branch`` (default: the default
        branch), or at a commit sha."""
        with self._lock:
            repo = self._repo(full_name)
            sha = self._resolve(repo, branch or repo.default_branch)
            if sha is None:
                raise KeyError(f"no branch or commit {branch} in {full_name}")
            return dict(repo.commits[sha].tree)

    def commits(self, full_name: str, branch: str | None = None) -> list[str]:
        """The shas of ``branch``'s commits (default: the default branch), newest first,
        following first parents down to the initial commit."""
        with self._lock:
            repo = self._repo(full_name)
            sha = self._resolve(repo, branch or repo.default_branch)
            if sha is None:
                raise KeyError(f"no branch or commit {branch} in {full_name}")
            found = [sha]
            while repo.commits[found[-1]].parents:
                found.append(repo.commits[found[-1]].parents[0])
            return found

    def commit(self, full_name: str, sha: str) -> dict[str, Any]:
        """A commit as the git commits API shows it (message, author, tree, parents)."""
        with self._lock:
            repo = self._repo(full_name)
            if sha not in repo.commits:
                raise KeyError(f"no commit {sha} in {full_name}")
            return self._git_commit_json(repo, repo.commits[sha])

    def pulls(self, full_name: str) -> list[dict[str, Any]]:
        """Every pull request, open or closed, by number, as GET /pulls/{number} shows it."""
        with self._lock:
            repo = self._repo(full_name)
            return [
                self._pull_json(repo, issue)
                for _, issue in sorted(repo.issues.items())
                if issue.pull is not None
            ]

    def issue(self, full_name: str, number: int) -> dict[str, Any]:
        """An issue or pull request as GET /issues/{number} shows it."""
        with self._lock:
            repo = self._repo(full_name)
            return self._issue_json(repo, self._issue(repo, number), full=True)

    def comments(self, full_name: str, issue: int) -> list[dict[str, Any]]:
        """The issue's current comments, oldest first, as the API shows them."""
        with self._lock:
            found = self._issue(self._repo(full_name), issue)
            return [self._comment_json(self._comments[cid]) for cid in found.comments]

    def reactions(self, full_name: str, comment_id: int) -> list[dict[str, Any]]:
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or comment.repo != full_name.lower():
                raise KeyError(f"no comment {comment_id} in {full_name}")
            return [self._reaction_json(r) for r in comment.reactions]

    # -- state (callers hold the lock) -----------------------------------------------------

    def _time(self) -> datetime:
        return (self._frozen or datetime.now(timezone.utc)).replace(microsecond=0)

    def _now(self) -> str:
        return _iso(self._time())

    def _label(self, repo: _Repo, name: str) -> dict[str, Any]:
        label = repo.labels.get(name.lower())
        if label is None:
            label = {"id": next(self._ids), "name": name, "color": "d876e3", "description": None}
            repo.labels[name.lower()] = label
        return label

    def _close(self, repo: _Repo, issue: _Issue, login: str, reason: str | None) -> None:
        issue.state, issue.closed_by = "closed", login
        issue.state_reason = None if issue.pull is not None else reason
        issue.closed_at = issue.updated_at = self._now()

    def _branch_head(self, repo: _Repo, branch: str) -> str | None:
        return repo.refs.get(f"refs/heads/{branch}")

    def _resolve(self, repo: _Repo, ref: str) -> str | None:
        """The commit a branch name, ``heads/``/``refs/heads/`` ref or (abbreviated) sha names."""
        for name in (f"refs/heads/{ref}", f"refs/{ref}", ref):
            if name in repo.refs:
                return repo.refs[name]
        if ref in repo.commits:
            return ref
        if re.fullmatch(r"[0-9a-f]{7,39}", ref):
            found = [sha for sha in repo.commits if sha.startswith(ref)]
            return found[0] if len(found) == 1 else None
        return None

    def _new_commit(
        self,
        repo: _Repo,
        tree: dict[str, bytes],
        parents: tuple[str, ...],
        message: str,
        login: str | None,
        name: str | None = None,
        email: str | None = None,
    ) -> _Commit:
        if login is not None:
            user = self._users[login.lower()]
            name = name or user["login"]
            email = email or f"{user['id']}+{user['login']}@users.noreply.github.com"
        name, email, when = name or "unknown", email or "unknown@example.com", self._time()
        stamp = f"{name} <{email}> {int(when.timestamp())} +0000"
        text = f"tree {_tree_sha(tree)}\n" + "".join(f"parent {p}\n" for p in parents)
        newline = "" if message.endswith("\n") else "\n"  # as `git commit -m` stores it
        text += f"author {stamp}\ncommitter {stamp}\n\n{message}{newline}"
        raw = text.encode()
        sha = hashlib.sha1(b"commit %d\0" % len(raw) + raw).hexdigest()
        commit = _Commit(sha, tree, parents, message, name, email, _iso(when), login)
        repo.commits.setdefault(sha, commit)
        return repo.commits[sha]

    def _move_branch(self, repo: _Repo, branch: str, sha: str | None) -> None:
        """Point (or, with None, delete) a branch; open pull requests follow it."""
        ref = f"refs/heads/{branch}"
        if sha is None:
            repo.refs.pop(ref, None)
        else:
            repo.refs[ref] = sha
        for issue in repo.issues.values():
            pull = issue.pull
            if pull is None or issue.state != "open" or branch not in (pull.head, pull.base):
                continue
            if sha is None:  # GitHub closes a pull request whose head or base branch goes
                self._close(repo, issue, self.bot_login, None)
                continue
            pull.head_sha = self._branch_head(repo, pull.head) or pull.head_sha
            pull.base_sha = self._branch_head(repo, pull.base) or pull.base_sha
            issue.updated_at = self._now()

    def _ancestors(self, repo: _Repo, sha: str) -> list[str]:
        """``sha`` and every commit it descends from, nearest first."""
        seen = {sha}
        order = [sha]
        for current in order:
            for parent in repo.commits[current].parents:
                if parent not in seen:
                    seen.add(parent)
                    order.append(parent)
        return order

    def _merge_base(self, repo: _Repo, one: str, other: str) -> str | None:
        mine = set(self._ancestors(repo, one))
        return next((sha for sha in self._ancestors(repo, other) if sha in mine), None)

    def _merged_tree(self, repo: _Repo, base: str, head: str) -> dict[str, bytes] | None:
        """The three-way merge of head into base, or None on a conflict."""
        ancestor = self._merge_base(repo, base, head)
        old = repo.commits[ancestor].tree if ancestor else {}
        ours, theirs = repo.commits[base].tree, repo.commits[head].tree
        merged = dict(ours)
        for path in set(old) | set(theirs):
            if theirs.get(path) == old.get(path):
                continue  # the head did not touch it
            if ours.get(path) not in (old.get(path), theirs.get(path)):
                return None  # both changed it, differently
            if path in theirs:
                merged[path] = theirs[path]
            else:
                merged.pop(path, None)
        return merged

    @staticmethod
    def _path_conflict(tree: Mapping[str, bytes], path: str) -> bool:
        """True when ``path`` is a directory of ``tree`` or lies under one of its files."""
        parts = path.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        return any(p in tree for p in prefixes) or any(p.startswith(path + "/") for p in tree)

    def _ensure_user(self, login: str) -> str:
        if login.lower() not in self._users:
            self.add_user(login)
        return str(self._users[login.lower()]["login"])

    def _repo(self, full_name: str) -> _Repo:
        repo = self._repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"no repository {full_name}")
        return repo

    def _issue(self, repo: _Repo, number: int) -> _Issue:
        issue = repo.issues.get(number)
        if issue is None:
            raise KeyError(f"no issue {repo.full_name}#{number}")
        return issue

    def _new_comment(self, repo: _Repo, issue: _Issue, login: str, body: str) -> _Comment:
        now = self._now()
        login = self._ensure_user(login)
        comment = _Comment(
            next(self._ids), repo.full_name.lower(), issue.number, login, body, now, now
        )
        self._comments[comment.id] = comment
        issue.comments.append(comment.id)
        issue.updated_at = now
        return comment

    def _role(self, repo: _Repo, login: str) -> str:
        role = repo.roles.get(login.lower())
        if role is None and login.lower() == repo.owner.lower():
            return "admin"
        return role or "none"

    def _association(self, repo: _Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        return "NONE" if self._role(repo, login) == "none" else "COLLABORATOR"

    # -- JSON ------------------------------------------------------------------------------

    def _user_json(self, login: str) -> dict[str, Any]:
        user = self._users[login.lower()]
        name, uid = user["login"], user["id"]
        api = f"{self.base_url}/users/{quote(name, safe='')}"
        bot = user["type"] == "Bot" and name.endswith("[bot]")
        return {
            "login": name,
            "id": uid,
            "node_id": f"U_{uid}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.web_url}/apps/{name[:-5]}" if bot else f"{self.web_url}/{name}",
            "followers_url": f"{api}/followers",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "type": user["type"],
            "user_view_type": "public",
            "site_admin": False,
        }

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}"
        open_issues = sum(issue.state == "open" for issue in repo.issues.values())
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.full_name.partition("/")[2],
            "full_name": repo.full_name,
            "private": False,
            "owner": self._user_json(repo.owner),
            "html_url": f"{self.web_url}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "issues_url": f"{api}/issues{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "clone_url": f"{self.web_url}/{repo.full_name}.git",
            "created_at": repo.created_at,
            "updated_at": repo.created_at,
            "pushed_at": repo.created_at,
            "size": 0,
            "language": None,
            "has_issues": True,
            "archived": False,
            "disabled": False,
            "visibility": "public",
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "open_issues_count": open_issues,
            "open_issues": open_issues,
            "default_branch": repo.default_branch,
            "permissions": {flag: flag != "admin" and flag != "maintain" for flag in _FLAGS},
        }

    def _reactions_summary(self, url: str, reactions: list[_Reaction]) -> dict[str, Any]:
        summary: dict[str, Any] = {"url": url, "total_count": len(reactions)}
        for content in REACTIONS:
            summary[content] = sum(r.content == content for r in reactions)
        return summary

    def _label_json(self, repo: _Repo, name: str) -> dict[str, Any]:
        label = repo.labels[name.lower()]
        api = f"{self.base_url}/repos/{repo.full_name}"
        return {
            "id": label["id"],
            "node_id": f"LA_{label['id']}",
            "url": f"{api}/labels/{quote(label['name'], safe='')}",
            "name": label["name"],
            "color": label["color"],
            "default": label["name"].lower() in ("bug", "documentation", "question"),
            "description": label["description"],
        }

    def _issue_json(self, repo: _Repo, issue: _Issue, full: bool = False) -> dict[str, Any]:
        """An issue as listings show it; ``full`` adds what only GET /issues/{number} has."""
        api = f"{self.base_url}/repos/{repo.full_name}"
        url = f"{api}/issues/{issue.number}"
        kind = "pull" if issue.pull_request else "issues"
        data: dict[str, Any] = {
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "timeline_url": f"{url}/timeline",
            "html_url": f"{self.web_url}/{repo.full_name}/{kind}/{issue.number}",
            "id": issue.id,
            "node_id": f"{'PR' if issue.pull_request else 'I'}_{issue.id}",
            "number": issue.number,
            "title": issue.title,
            "user": self._user_json(issue.login),
            "labels": [self._label_json(repo, name) for name in issue.labels],
            "state": issue.state,
            "state_reason": issue.state_reason,
            "locked": False,
            "active_lock_reason": None,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(issue.comments),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": self._association(repo, issue.login),
            "body": issue.body,
            "reactions": self._reactions_summary(f"{url}/reactions", []),
            "performed_via_github_app": None,
        }
        if full:
            closer = issue.closed_by
            data["closed_by"] = self._user_json(closer) if closer else None
        if issue.pull is not None:
            pr = f"{self.web_url}/{repo.full_name}/pull/{issue.number}"
            data["draft"] = issue.pull.draft
            data["pull_request"] = {
                "url": f"{api}/pulls/{issue.number}",
                "html_url": pr,
                "diff_url": f"{pr}.diff",
                "patch_url": f"{pr}.patch",
                "merged_at": issue.pull.merged_at,
            }
        return data

    def _person(self, commit: _Commit) -> dict[str, str]:
        return {"name": commit.name, "email": commit.email, "date": commit.date}

    def _git_commit_json(self, repo: _Repo, commit: _Commit) -> dict[str, Any]:
        """A commit as the git database API (and the contents API) shows it."""
        api = f"{self.base_url}/repos/{repo.full_name}/git"
        web = f"{self.web_url}/{repo.full_name}/commit"
        return {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:20]}",
            "url": f"{api}/commits/{commit.sha}",
            "html_url": f"{web}/{commit.sha}",
            "author": self._person(commit),
            "committer": self._person(commit),
            "tree": {"sha": _tree_sha(commit.tree), "url": f"{api}/trees/{_tree_sha(commit.tree)}"},
            "message": commit.message,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/{p}"}
                for p in commit.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def _commit_json(self, repo: _Repo, commit: _Commit) -> dict[str, Any]:
        """A commit as the commits API (and a branch) shows it."""
        api = f"{self.base_url}/repos/{repo.full_name}"
        web = f"{self.web_url}/{repo.full_name}/commit"
        git = self._git_commit_json(repo, commit)
        user = self._user_json(commit.login) if commit.login else None
        return {
            "sha": commit.sha,
            "node_id": git["node_id"],
            "commit": {
                "author": git["author"],
                "committer": git["committer"],
                "message": commit.message,
                "tree": git["tree"],
                "url": git["url"],
                "comment_count": 0,
                "verification": git["verification"],
            },
            "url": f"{api}/commits/{commit.sha}",
            "html_url": git["html_url"],
            "comments_url": f"{api}/commits/{commit.sha}/comments",
            "author": user,
            "committer": user,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/{p}"}
                for p in commit.parents
            ],
        }

    def _branch_json(self, repo: _Repo, branch: str) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}/branches/{quote(branch)}"
        sha = repo.refs[f"refs/heads/{branch}"]
        return {
            "name": branch,
            "commit": self._commit_json(repo, repo.commits[sha]),
            "_links": {"self": api, "html": f"{self.web_url}/{repo.full_name}/tree/{branch}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {
                    "enforcement_level": "off",
                    "contexts": [],
                    "checks": [],
                },
            },
            "protection_url": f"{api}/protection",
        }

    def _ref_json(self, repo: _Repo, ref: str) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}/git"
        sha = repo.refs[ref]
        return {
            "ref": ref,
            "node_id": f"REF_{hashlib.sha1(ref.encode()).hexdigest()[:16]}",
            "url": f"{api}/{quote(ref)}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/commits/{sha}"},
        }

    def _content_json(
        self, repo: _Repo, path: str, tree: Mapping[str, bytes], ref: str, inline: bool
    ) -> dict[str, Any]:
        """A file or directory of ``tree`` as the contents API shows it, the file's content
        included when ``inline`` (GET of the file itself)."""
        api = f"{self.base_url}/repos/{repo.full_name}"
        data = tree.get(path)
        if data is None:
            prefix = path + "/"
            sub = {p[len(prefix) :]: d for p, d in tree.items() if p.startswith(prefix)}
            kind, sha, git = "dir", _tree_sha(sub), f"{api}/git/trees/{_tree_sha(sub)}"
        else:
            kind, sha, git = "file", _blob_sha(data), f"{api}/git/blobs/{_blob_sha(data)}"
        url = f"{api}/contents/{quote(path)}?{urlencode({'ref': ref})}"
        html = f"{self.web_url}/{repo.full_name}/{'tree' if data is None else 'blob'}/{ref}/{path}"
        found: dict[str, Any] = {
            "name": path.rpartition("/")[2],
            "path": path,
            "sha": sha,
            "size": 0 if data is None else len(data),
            "url": url,
            "html_url": html,
            "git_url": git,
            "download_url": None
            if data is None
            else f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
            "type": kind,
        }
        if inline and data is not None:
            if len(data) > MAX_INLINE:
                found.update(content="", encoding="none")
            else:
                encoded = base64.b64encode(data).decode()
                lines = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
                found.update(content="".join(line + "\n" for line in lines), encoding="base64")
        found["_links"] = {"self": url, "git": git, "html": html}
        return found

    def _pull_stats(self, repo: _Repo, pull: _Pull) -> dict[str, int]:
        """What GitHub counts for a pull request: commits on the head the base lacks, and the
        changes between their merge base and the head."""
        if pull.head_sha not in repo.commits or pull.base_sha not in repo.commits:
            return {"commits": 0, "additions": 0, "deletions": 0, "changed_files": 0}
        in_base = set(self._ancestors(repo, pull.base_sha))
        commits = [c for c in self._ancestors(repo, pull.head_sha) if c not in in_base]
        ancestor = self._merge_base(repo, pull.base_sha, pull.head_sha)
        old = repo.commits[ancestor].tree if ancestor else {}
        new = repo.commits[pull.head_sha].tree
        changed = [p for p in set(old) | set(new) if old.get(p) != new.get(p)]
        additions = deletions = 0
        for path in changed:
            before = old.get(path, b"").decode(errors="replace").splitlines()
            after = new.get(path, b"").decode(errors="replace").splitlines()
            for line in difflib.ndiff(before, after):
                additions += line.startswith("+ ")
                deletions += line.startswith("- ")
        return {
            "commits": len(commits),
            "additions": additions,
            "deletions": deletions,
            "changed_files": len(changed),
        }

    def _pull_json(self, repo: _Repo, issue: _Issue, full: bool = True) -> dict[str, Any]:
        """A pull request as GET /pulls/{number} shows it; without ``full``, as listings do
        (without merged, mergeable, the counts...: PyGithub fetches the rest when asked)."""
        pull = issue.pull
        assert pull is not None
        api = f"{self.base_url}/repos/{repo.full_name}"
        url = f"{api}/pulls/{issue.number}"
        html = f"{self.web_url}/{repo.full_name}/pull/{issue.number}"
        issue_url = f"{api}/issues/{issue.number}"
        statuses = f"{api}/statuses/{pull.head_sha}"

        def part(branch: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{repo.owner}:{branch}",
                "ref": branch,
                "sha": sha,
                "user": self._user_json(repo.owner),
                "repo": self._repo_json(repo),
            }

        data: dict[str, Any] = {
            "url": url,
            "id": issue.id,
            "node_id": f"PR_{issue.id}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": statuses,
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": self._user_json(issue.login),
            "body": issue.body,
            "labels": [self._label_json(repo, name) for name in issue.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": part(pull.head, pull.head_sha),
            "base": part(pull.base, pull.base_sha),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": statuses},
            },
            "author_association": self._association(repo, issue.login),
            "auto_merge": None,
            "draft": pull.draft,
        }
        if full:
            mergeable: bool | None = None
            if issue.state == "open" and pull.head_sha in repo.commits:
                base = self._branch_head(repo, pull.base) or pull.base_sha
                mergeable = self._merged_tree(repo, base, pull.head_sha) is not None
            data.update(
                merged=pull.merged_at is not None,
                mergeable=mergeable,
                rebaseable=mergeable,
                mergeable_state={True: "clean", False: "dirty", None: "unknown"}[mergeable],
                merged_by=self._user_json(pull.merged_by) if pull.merged_by else None,
                comments=len(issue.comments),
                review_comments=0,
                maintainer_can_modify=pull.maintainer_can_modify,
                **self._pull_stats(repo, pull),
            )
        return data

    def _comment_json(self, comment: _Comment) -> dict[str, Any]:
        repo = self._repos[comment.repo]
        issue = repo.issues[comment.issue]
        api = f"{self.base_url}/repos/{repo.full_name}"
        url = f"{api}/issues/comments/{comment.id}"
        kind = "pull" if issue.pull_request else "issues"
        html = f"{self.web_url}/{repo.full_name}/{kind}/{issue.number}"
        return {
            "url": url,
            "html_url": f"{html}#issuecomment-{comment.id}",
            "issue_url": f"{api}/issues/{issue.number}",
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "user": self._user_json(comment.login),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": self._association(repo, comment.login),
            "body": comment.body,
            "reactions": self._reactions_summary(f"{url}/reactions", comment.reactions),
            "performed_via_github_app": None,
        }

    def _reaction_json(self, reaction: _Reaction) -> dict[str, Any]:
        return {
            "id": reaction.id,
            "node_id": f"REA_{reaction.id}",
            "user": self._user_json(reaction.login),
            "content": reaction.content,
            "created_at": reaction.created_at,
        }

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(max(0, 5000 - self._used)),
            "x-ratelimit-reset": str(self._reset),
            "x-ratelimit-used": str(self._used),
            "x-ratelimit-resource": "core",
        }

    # -- serving ---------------------------------------------------------------------------

    def _handle(self, method: str, target: str, auth: str, raw: bytes) -> Reply:
        """Answer one request (called by the handler threads)."""
        path, _, query = target.partition("?")
        path = path.rstrip("/") or "/"
        with self._lock:
            self.requests.append((method, target))
            fault = next(
                (f for f in self._faults if f.method in ("*", method) and f.pattern.search(path)),
                None,
            )
            if fault is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
        if fault is not None and not fault.commit:
            return fault.reply()
        try:
            reply = self._serve(method, path, query, auth, raw)
        except Exception as exc:  # a bug in the fake must fail the test, not hang it
            self.unexpected.append(f"{method} {target}: {exc!r}")
            reply = _error(500, f"fake failed: {exc!r}")
        return fault.reply() if fault is not None else reply

    def _serve(self, method: str, path: str, query: str, auth: str, raw: bytes) -> Reply:
        scheme, _, token = auth.strip().partition(" ")
        if not auth:
            return _error(401, "Requires authentication")
        if scheme.lower() not in ("token", "bearer") or token.strip() != self.token:
            return _error(401, "Bad credentials")
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, "Problems parsing JSON")
        params = dict(parse_qsl(query))
        with self._lock:
            reply = self._route(method, path, params, body)
            reply.headers = {**self._rate_headers(), **reply.headers}
            return reply

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> Reply:
        for pattern, name in _ROUTES:
            match = pattern.match(path)
            if match is not None:
                if name != "rate_limit":
                    self._used += 1
                route: Callable[[str, dict[str, str], dict[str, str], Any], Reply | None]
                route = getattr(self, f"_r_{name}")
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                return route(method, args, params, body) or _not_found()
        self._used += 1
        return _not_found()

    def _page(self, items: list[Any], path: str, params: dict[str, str]) -> Reply:
        """One page of ``items``, with GitHub's ``per_page``/``page`` and ``Link`` header."""

        def number(key: str, default: int) -> int:
            value = params.get(key, "")
            return int(value) if value.isdigit() and int(value) > 0 else default

        per_page = min(100, number("per_page", 30))
        page = number("page", 1)
        last = max(1, -(-len(items) // per_page))
        links = []
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
                query = urlencode({**params, "page": str(target)})
                links.append(f'<{self.base_url}{path}?{query}>; rel="{rel}"')
        headers = {"link": ", ".join(links)} if links else {}
        return Reply(200, items[(page - 1) * per_page : page * per_page], headers)

    def _repo_of(self, args: dict[str, str]) -> _Repo | None:
        return self._repos.get(f"{args['owner']}/{args['repo']}".lower())

    def _comment_of(self, args: dict[str, str]) -> _Comment | None:
        repo = self._repo_of(args)
        comment = self._comments.get(int(args["cid"]))
        if repo is None or comment is None or comment.repo != repo.full_name.lower():
            return None
        return comment

    def _r_rate_limit(self, method: str, args: Any, params: Any, body: Any) -> Reply | None:
        if method != "GET":
            return None
        reset = self._reset

        def rate(limit: int, used: int = 0) -> dict[str, int]:
            return {"limit": limit, "used": used, "remaining": limit - used, "reset": reset}

        core = rate(5000, min(self._used, 5000))
        resources = {
            "core": core,
            "search": rate(30),
            "graphql": rate(5000),
            "integration_manifest": rate(5000),
            "code_search": rate(10),
        }
        return Reply(200, {"resources": resources, "rate": core})

    def _r_me(self, method: str, args: Any, params: Any, body: Any) -> Reply | None:
        # An Actions token (an installation token) may not read /user.
        return _error(403, "Resource not accessible by integration") if method == "GET" else None

    def _r_user(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        if method != "GET" or args["login"].lower() not in self._users:
            return None
        return Reply(200, self._user_json(args["login"]))

    def _r_repo(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        repo = self._repo_of(args)
        return Reply(200, self._repo_json(repo)) if method == "GET" and repo else None

    def _r_permission(
        self, method: str, args: dict[str, str], params: Any, body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if method != "GET" or repo is None or args["login"].lower() not in self._users:
            return None
        role = self._role(repo, args["login"])
        user = self._user_json(args["login"])
        rank = _ROLE_FLAGS[role]
        user["permissions"] = {flag: i < rank for i, flag in enumerate(_FLAGS)}
        user["role_name"] = role
        permission = _LEGACY.get(role, role)
        return Reply(200, {"permission": permission, "role_name": role, "user": user})

    def _r_issue(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        repo = self._repo_of(args)
        issue = repo.issues.get(int(args["number"])) if repo else None
        if method != "GET" or repo is None or issue is None:
            return None
        return Reply(200, self._issue_json(repo, issue, full=True))

    def _r_issues(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if method != "GET" or repo is None:
            return None
        state = params.get("state", "open")
        since = _since(params)
        if isinstance(since, Reply):
            return since
        if state not in ("open", "closed", "all"):
            return _invalid("Issue", "state", "invalid")
        wanted = [n.strip().lower() for n in params.get("labels", "").split(",") if n.strip()]
        creator = params.get("creator", "").lower()
        found = [
            issue
            for issue in repo.issues.values()
            if state in ("all", issue.state)
            and set(wanted) <= {name.lower() for name in issue.labels}
            and (since is None or _stamp(issue.updated_at) >= since)
            and creator in ("", issue.login.lower())
        ]
        keys: dict[str, Callable[[_Issue], Any]] = {
            "created": lambda issue: (issue.created_at, issue.number),
            "updated": lambda issue: (issue.updated_at, issue.number),
            "comments": lambda issue: (len(issue.comments), issue.number),
        }
        key = keys.get(params.get("sort", "created"))
        if key is None:
            return _invalid("Issue", "sort", "invalid")
        found.sort(key=key, reverse=params.get("direction", "desc") != "asc")
        path = f"/repos/{args['owner']}/{args['repo']}/issues"
        return self._page([self._issue_json(repo, issue) for issue in found], path, params)

    def _r_repo_comments(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if method != "GET" or repo is None:
            return None
        since = _since(params)
        if isinstance(since, Reply):
            return since
        comments = [
            comment
            for comment in self._comments.values()
            if comment.repo == repo.full_name.lower()
            and (since is None or _stamp(comment.updated_at) >= since)
        ]
        sort = params.get("sort")
        if sort not in (None, "created", "updated"):
            return _invalid("IssueComment", "sort", "invalid")
        field_name = "updated_at" if sort == "updated" else "created_at"
        comments.sort(key=lambda c: (getattr(c, field_name), c.id))
        if sort is not None and params.get("direction") == "desc":
            comments.reverse()  # GitHub ignores direction without sort
        path = f"/repos/{args['owner']}/{args['repo']}/issues/comments"
        return self._page([self._comment_json(c) for c in comments], path, params)

    def _r_branches(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if method != "GET" or repo is None:
            return None
        api = f"{self.base_url}/repos/{repo.full_name}/commits"
        items = [
            {"name": ref[11:], "commit": {"sha": sha, "url": f"{api}/{sha}"}, "protected": False}
            for ref, sha in sorted(repo.refs.items())
            if ref.startswith("refs/heads/")
        ]
        return self._page(items, f"/repos/{args['owner']}/{args['repo']}/branches", params)

    def _r_branch(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        repo = self._repo_of(args)
        if method != "GET" or repo is None:
            return None
        if self._branch_head(repo, args["branch"]) is None:
            return _error(404, "Branch not found")
        return Reply(200, self._branch_json(repo, args["branch"]))

    def _r_commit(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        repo = self._repo_of(args)
        if method != "GET" or repo is None:
            return None
        sha = self._resolve(repo, args["ref"])
        if sha is None:
            return _error(422, f"No commit found for SHA: {args['ref']}")
        return Reply(200, self._commit_json(repo, repo.commits[sha]))

    def _r_git_commit(
        self, method: str, args: dict[str, str], params: Any, body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        commit = repo.commits.get(args["sha"]) if repo else None
        if method != "GET" or repo is None or commit is None:
            return None
        return Reply(200, self._git_commit_json(repo, commit))

    def _r_git_ref(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        # Only GET: PATCH and DELETE go to /git/refs/{ref}, the url the answer gives.
        repo = self._repo_of(args)
        ref = f"refs/{args['ref']}"
        if method != "GET" or repo is None or ref not in repo.refs:
            return None
        return Reply(200, self._ref_json(repo, ref))

    def _r_git_refs(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if repo is None:
            return None
        if method == "GET":
            refs = [self._ref_json(repo, ref) for ref in sorted(repo.refs)]
            return self._page(refs, f"/repos/{args['owner']}/{args['repo']}/git/refs", params)
        if method != "POST":
            return None
        missing = _missing(body, "ref", "sha")
        if missing is not None:
            return missing
        ref, sha = body["ref"], body["sha"]
        if ref.count("/") < 2:
            return _error(
                422, "Reference name must contain at least three slash-separated components."
            )
        if not ref.startswith("refs/"):
            return _error(422, "Reference update failed")
        if not _valid_ref(ref):
            return _error(422, f"{ref} is not a valid ref name.")
        if sha not in repo.commits:
            return _error(422, "Object does not exist")
        if ref in repo.refs:
            return _error(422, "Reference already exists")
        self._set_ref(repo, ref, sha)
        return Reply(201, self._ref_json(repo, ref))

    def _r_git_refs_ref(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if repo is None:
            return None
        ref = f"refs/{args['ref']}"
        if method == "GET":  # the legacy endpoint: one ref, or else those it prefixes
            if ref in repo.refs:
                return Reply(200, self._ref_json(repo, ref))
            found = [self._ref_json(repo, r) for r in sorted(repo.refs) if r.startswith(ref)]
            return Reply(200, found) if found else None
        if method not in ("PATCH", "DELETE"):
            return None
        if ref not in repo.refs:
            return _error(422, "Reference does not exist")
        if method == "DELETE":
            if ref == f"refs/heads/{repo.default_branch}":
                return _error(422, "Reference update failed")
            self._set_ref(repo, ref, None)
            return Reply(204)
        missing = _missing(body, "sha")
        if missing is not None:
            return missing
        sha = body["sha"]
        if sha not in repo.commits:
            return _error(422, "Object does not exist")
        if body.get("force") is not True and repo.refs[ref] not in self._ancestors(repo, sha):
            return _error(422, "Update is not a fast forward")
        self._set_ref(repo, ref, sha)
        return Reply(200, self._ref_json(repo, ref))

    def _r_matching_refs(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if method != "GET" or repo is None:
            return None
        prefix = f"refs/{args['ref']}"
        found = [self._ref_json(repo, r) for r in sorted(repo.refs) if r.startswith(prefix)]
        path = f"/repos/{args['owner']}/{args['repo']}/git/matching-refs/{args['ref']}"
        return self._page(found, path, params)

    def _set_ref(self, repo: _Repo, ref: str, sha: str | None) -> None:
        if ref.startswith("refs/heads/"):
            self._move_branch(repo, ref[11:], sha)
        elif sha is None:
            del repo.refs[ref]
        else:
            repo.refs[ref] = sha

    def _r_contents(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if repo is None:
            return None
        path = _clean_path(args.get("path", ""))
        if method == "GET":
            ref = params.get("ref") or repo.default_branch
            sha = self._resolve(repo, ref)
            if sha is None:
                return _error(404, f"No commit found for the ref {ref}")
            tree = repo.commits[sha].tree
            if path in tree:
                return Reply(200, self._content_json(repo, path, tree, ref, inline=True))
            prefix = f"{path}/" if path else ""
            names = sorted({p[len(prefix) :].split("/")[0] for p in tree if p.startswith(prefix)})
            if path and not names:
                return None
            return Reply(
                200, [self._content_json(repo, prefix + n, tree, ref, False) for n in names]
            )
        if method in ("PUT", "DELETE") and path:
            return self._write_contents(repo, path, body, delete=method == "DELETE")
        return None

    def _write_contents(self, repo: _Repo, path: str, body: Any, delete: bool) -> Reply:
        """PUT (create or update) or DELETE one file: one commit on the branch."""
        missing = _missing(body, "message", "sha" if delete else "content")
        if missing is not None:
            return missing
        data = b""
        if not delete:
            try:
                data = base64.b64decode(re.sub(r"\s", "", body["content"]), validate=True)
            except (binascii.Error, ValueError):
                return _error(422, "content is not valid Base64")
        branch = body.get("branch") or repo.default_branch
        head = self._branch_head(repo, branch)
        if head is None:
            return _error(404, f"Branch {branch} not found")
        tree = dict(repo.commits[head].tree)
        current = tree.get(path)
        sha = body.get("sha")
        if current is None and delete:
            return _not_found()
        if current is not None and not isinstance(sha, str):
            return _error(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if current is not None and sha != _blob_sha(current):
            return _error(409, f"{path} does not match {sha}")
        if current is None and self._path_conflict(tree, path):
            return _invalid("Content", "path", "invalid")
        if delete:
            del tree[path]
        else:
            tree[path] = data
        who = body.get("author") or body.get("committer")
        if isinstance(who, dict) and who.get("name") and who.get("email"):
            login, name, email = None, str(who["name"]), str(who["email"])
        else:
            login, name, email = self._ensure_user(self.bot_login), None, None
        commit = self._new_commit(repo, tree, (head,), body["message"], login, name, email)
        self._move_branch(repo, branch, commit.sha)
        content = None if delete else self._content_json(repo, path, tree, branch, False)
        status = 201 if current is None and not delete else 200
        return Reply(status, {"content": content, "commit": self._git_commit_json(repo, commit)})

    def _r_pulls(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        if repo is None:
            return None
        if method == "POST":
            return self._create_pull(repo, body)
        if method != "GET":
            return None
        state = params.get("state", "open")
        if state not in ("open", "closed", "all"):
            return _invalid("PullRequest", "state", "invalid")
        found = [i for i in repo.issues.values() if i.pull and state in ("all", i.state)]
        user, colon, head = params.get("head", "").partition(":")
        if colon:  # without "user:", GitHub ignores the head filter
            mine = user.lower() == repo.owner.lower()
            found = [i for i in found if mine and i.pull and i.pull.head == head]
        if params.get("base"):
            found = [i for i in found if i.pull and i.pull.base == params["base"]]
        sort = params.get("sort", "created")
        keys: dict[str, Callable[[_Issue], Any]] = {
            "created": lambda issue: (issue.created_at, issue.number),
            "long-running": lambda issue: (issue.created_at, issue.number),
            "updated": lambda issue: (issue.updated_at, issue.number),
            "popularity": lambda issue: (len(issue.comments), issue.number),
        }
        if sort not in keys:
            return _invalid("PullRequest", "sort", "invalid")
        default = "desc" if sort == "created" else "asc"
        found.sort(key=keys[sort], reverse=params.get("direction", default) == "desc")
        items = [self._pull_json(repo, issue, full=False) for issue in found]
        return self._page(items, f"/repos/{args['owner']}/{args['repo']}/pulls", params)

    def _create_pull(self, repo: _Repo, body: Any) -> Reply:
        missing = _missing(body, "head", "base")
        if missing is not None:
            return missing
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            return _invalid("Issue", "title", "missing_field")
        owner, colon, head = body["head"].rpartition(":")
        base = body["base"]
        errors = []
        if self._branch_head(repo, base) is None:
            errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if self._branch_head(repo, head) is None or (colon and owner.lower() != repo.owner.lower()):
            errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if errors:
            return _error(422, "Validation Failed", errors=errors)
        if self._open_pull(repo, head, base) is not None:
            message = f"A pull request already exists for {repo.owner}:{head}."
            return _invalid_custom("PullRequest", message)
        head_sha, base_sha = self._branch_head(repo, head), self._branch_head(repo, base)
        assert head_sha is not None and base_sha is not None
        if head_sha in self._ancestors(repo, base_sha):
            return _invalid_custom("PullRequest", f"No commits between {base} and {body['head']}")
        number = max(repo.issues, default=0) + 1
        now = self._now()
        login = self._ensure_user(self.bot_login)
        issue = _Issue(next(self._ids), number, title, body.get("body"), login, True, now, now)
        issue.pull = _Pull(
            head,
            base,
            head_sha,
            base_sha,
            draft=body.get("draft") is True,
            maintainer_can_modify=body.get("maintainer_can_modify") is True,
        )
        repo.issues[number] = issue
        return Reply(201, self._pull_json(repo, issue))

    def _open_pull(self, repo: _Repo, head: str, base: str) -> _Issue | None:
        for issue in repo.issues.values():
            pull = issue.pull
            if pull and issue.state == "open" and (pull.head, pull.base) == (head, base):
                return issue
        return None

    def _r_pull(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        repo = self._repo_of(args)
        issue = repo.issues.get(int(args["number"])) if repo else None
        if repo is None or issue is None or issue.pull is None:
            return None
        pull = issue.pull
        if method == "GET":
            return Reply(200, self._pull_json(repo, issue))
        if method != "PATCH":
            return None
        body = body if isinstance(body, dict) else {}
        if "title" in body and (not isinstance(body["title"], str) or not body["title"].strip()):
            return _invalid("Issue", "title", "missing_field")
        state = body.get("state", issue.state)
        if state not in ("open", "closed"):
            return _invalid("PullRequest", "state", "invalid")
        base = body.get("base", pull.base)
        if self._branch_head(repo, base) is None:
            return _invalid("PullRequest", "base", "invalid")
        if state == "open" and issue.state == "closed":
            if pull.merged_at is not None:
                message = "state cannot be changed. The pull request has been merged."
                return _invalid_custom("PullRequest", message, field_name="state")
            if self._branch_head(repo, pull.head) is None:
                message = f"state cannot be changed. The {pull.head} branch has been deleted."
                return _invalid_custom("PullRequest", message, field_name="state")
            if self._open_pull(repo, pull.head, base) is not None:
                message = f"A pull request already exists for {repo.owner}:{pull.head}."
                return _invalid_custom("PullRequest", message)
        if isinstance(body.get("title"), str):
            issue.title = body["title"]
        if "body" in body:
            issue.body = body["body"]
        if isinstance(body.get("maintainer_can_modify"), bool):
            pull.maintainer_can_modify = body["maintainer_can_modify"]
        pull.base = base
        issue.updated_at = self._now()
        if state == "closed" and issue.state == "open":
            self._close(repo, issue, self._ensure_user(self.bot_login), None)
        elif state == "open" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by = "open", None, None
        if issue.state == "open":
            pull.head_sha = self._branch_head(repo, pull.head) or pull.head_sha
            pull.base_sha = self._branch_head(repo, pull.base) or pull.base_sha
        return Reply(200, self._pull_json(repo, issue))

    def _r_issue_comments(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        repo = self._repo_of(args)
        issue = repo.issues.get(int(args["number"])) if repo else None
        if repo is None or issue is None:
            return None
        if method == "GET":
            comments = [self._comments[cid] for cid in issue.comments]
            since = _since(params)
            if isinstance(since, Reply):
                return since
            if since is not None:
                comments = [c for c in comments if _stamp(c.updated_at) >= since]
            path = f"/repos/{args['owner']}/{args['repo']}/issues/{issue.number}/comments"
            return self._page([self._comment_json(c) for c in comments], path, params)
        if method == "POST":
            invalid = _check_body(body)
            if invalid is not None:
                return invalid
            comment = self._new_comment(repo, issue, self.bot_login, body["body"])
            return Reply(201, self._comment_json(comment))
        return None

    def _r_comment(self, method: str, args: dict[str, str], params: Any, body: Any) -> Reply | None:
        comment = self._comment_of(args)
        if comment is None:
            return None
        if method == "GET":
            return Reply(200, self._comment_json(comment))
        if method == "PATCH":
            invalid = _check_body(body)
            if invalid is not None:
                return invalid
            comment.body = body["body"]
            comment.updated_at = self._now()
            return Reply(200, self._comment_json(comment))
        if method == "DELETE":
            self._repos[comment.repo].issues[comment.issue].comments.remove(comment.id)
            del self._comments[comment.id]
            return Reply(204)
        return None

    def _r_reactions(
        self, method: str, args: dict[str, str], params: dict[str, str], body: Any
    ) -> Reply | None:
        comment = self._comment_of(args)
        if comment is None:
            return None
        if method == "GET":
            wanted = params.get("content")
            found = [r for r in comment.reactions if wanted in (None, r.content)]
            path = f"/repos/{args['owner']}/{args['repo']}/issues/comments/{comment.id}/reactions"
            return self._page([self._reaction_json(r) for r in found], path, params)
        if method == "POST":
            content = body.get("content") if isinstance(body, dict) else None
            if content not in REACTIONS:
                message = "content is not included in the list"
                return _invalid("Reaction", "content", "custom", message)
            login = self._ensure_user(self.bot_login)
            for reaction in comment.reactions:
                if reaction.login == login and reaction.content == content:
                    return Reply(200, self._reaction_json(reaction))
            reaction = _Reaction(next(self._ids), login, content, self._now())
            comment.reactions.append(reaction)
            return Reply(201, self._reaction_json(reaction))
        return None

    def _r_reaction(
        self, method: str, args: dict[str, str], params: Any, body: Any
    ) -> Reply | None:
        comment = self._comment_of(args)
        found = [r for r in comment.reactions if r.id == int(args["rid"])] if comment else []
        if method != "DELETE" or comment is None or not found:
            return None
        comment.reactions.remove(found[0])
        return Reply(204)


def _stamp(text: str) -> datetime:
    """A timestamp the fake wrote."""
    return datetime.strptime(text, _TIME).replace(tzinfo=timezone.utc)


def _since(params: dict[str, str]) -> datetime | Reply | None:
    """The ``since`` parameter (results updated at or after it), or GitHub's 422 for a bad one."""
    text = params.get("since")
    if not text:
        return None
    when = _parse_time(text)
    return _invalid("Issue", "since", "invalid") if when is None else when


def _missing(body: Any, *keys: str) -> Reply | None:
    """GitHub's 422 for a JSON body without a required string field, or None."""
    for key in keys:
        if not isinstance(body, dict) or not isinstance(body.get(key), str):
            return _error(422, f'Invalid request.\n\n"{key}" wasn\'t supplied.')
    return None


def _invalid_custom(resource: str, message: str, field_name: str | None = None) -> Reply:
    error: dict[str, str] = {"resource": resource, "code": "custom", "message": message}
    if field_name:
        error["field"] = field_name
    return _error(422, "Validation Failed", errors=[error])


def _valid_ref(ref: str) -> bool:
    """What ``git check-ref-format`` accepts."""
    if ref.endswith(("/", ".", ".lock")) or ref == "@":
        return False
    if any(s in ref for s in ("..", "//", "@{", "/.")) or re.search(
        r"[\x00-\x20\x7f~^:?*\[\\]", ref
    ):
        return False
    return not any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/"))


def _check_body(body: Any) -> Reply | None:
    """The 422 GitHub gives for a comment body it refuses, or None."""
    text = body.get("body") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return _error(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
    if not text.strip():
        return _invalid("IssueComment", "body", "missing_field")
    if len(text) > MAX_COMMENT:
        message = f"body is too long (maximum is {MAX_COMMENT} characters)"
        return _invalid("IssueComment", "body", "custom", message)
    return None


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization") or ""
        reply = self.server.fake._handle(self.command, self.path, auth, raw)
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        if reply.status != 204:
            self.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
