"""Partial, sparse, shallow clones kept in a cache, pinned to a commit.

A repository lives once in the cache (``<cache>/repos/<host>/<owner>/<name>``). The first fetch
creates a blob-less partial clone (``--filter=blob:none``) of just the requested ref at depth 1
and checks out only the requested paths; later fetches reuse it, fetch only new commits, widen
the sparse set when new paths are asked for, and download only the blobs of those paths.

Sparse patterns are exact (non-cone): cone mode would also check out every file in each parent
directory (for ``kernel/sched``: all of ``kernel/*.c`` and the top-level files), which is more
than the question is about. The handful of patterns keeps non-cone matching cheap.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cachefs import file_lock, read_json, write_json
from ..errors import FetchError
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .gitcmd import Git, GitFailed, auth_env, require_git
from .spec import RepoSpec, is_commit_sha, normalize_paths, split_host

STATE_FILE = "ghqa-state.json"
_UPLOAD_PACK = (
    "git -c uploadpack.allowFilter=true -c uploadpack.allowAnySHA1InWant=true upload-pack"
)


@dataclass(frozen=True)
class Checkout:
    """A working tree at a pinned commit, holding (at least) ``paths``."""

    spec: RepoSpec
    root: Path
    commit: str
    paths: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.commit[:12]


def repo_dir(spec: RepoSpec, settings: Settings) -> Path:
    return settings.cache_root / "repos" / spec.cache_key


def fetch(spec: RepoSpec, settings: Settings, reporter: Reporter = null_reporter) -> Checkout:
    """Make ``spec`` (its ref, its paths) available in the cache and return the pinned checkout."""
    require_git()
    root = repo_dir(spec, settings)
    if spec.kind == "file" and not (root / ".git" / STATE_FILE).is_file():
        _check_local_source(spec)
    with file_lock(root.parent / f"{root.name}.lock"):
        fetcher = _Fetcher(spec, settings, root, reporter)
        try:
            try:
                return fetcher.run()
            except GitFailed as e:
                if fetcher.created or e.kind() not in _DAMAGE_KINDS:
                    raise
                # An existing clone that git cannot read (a truncated pack, a lost object): the
                # remote still has everything, so start again from a fresh clone, once.
                reporter(
                    "fetch", f"the cached clone at {root} is damaged ({e.last_line}); recloning"
                )
                fetcher = _Fetcher(spec, settings, root, reporter)
                return fetcher.run(fresh=True)
        except GitFailed as e:
            if fetcher.created:  # nothing worth keeping: do not leave an empty clone behind
                shutil.rmtree(root, ignore_errors=True)
            raise _explain(e, spec, root) from None
        except OSError as e:
            raise FetchError(
                f"Cannot write the cache at {root}: {e.strerror or e}; free space or set "
                "GHQA_CACHE_DIR to a writable directory"
            ) from None


#: Failures of an existing clone that a fresh clone cures.
_DAMAGE_KINDS = ("corrupt",)


def _check_local_source(spec: RepoSpec) -> None:
    path = Path(spec.display)
    if not path.is_dir():
        raise FetchError(f"No such directory: {path}: check the path")
    if not (path / ".git").exists() and not (path / "HEAD").is_file():
        raise FetchError(
            f"Not a git repository: {path}: run `git init` and commit, or name a repository"
        )


class _Fetcher:
    def __init__(self, spec: RepoSpec, settings: Settings, root: Path, reporter: Reporter):
        self.spec = spec
        self.root = root
        self.report = reporter
        gh_scheme, gh_host = split_host(settings.github_host)
        on_github_host = spec.kind == "github" and (spec.scheme, spec.host) == (gh_scheme, gh_host)
        token = settings.github_token if on_github_host else None
        self.env = auth_env(f"{spec.scheme}://{spec.host}/", token)
        self.secrets = (token,) if token else ()
        self.state_path = root / ".git" / STATE_FILE
        self.created = False

    def git(self) -> Git:
        return Git(self.root, self.env, self.secrets)

    def run(self, fresh: bool = False) -> Checkout:
        state = self._create() if fresh else self._open()
        ref = self.spec.ref or "HEAD"
        sha = self._resolve(state, ref)
        self._check_paths(sha)
        wanted = _union(state.get("sparse"), self.spec.paths)
        changed = wanted != _as_paths(state.get("sparse")) or state.get("head") != sha
        if changed or state.get("repair") or state.get("dirty"):
            # The working tree is about to change: a run killed from here on is repaired later.
            state["dirty"] = True
            write_json(self.state_path, state)
            self._checkout(sha, wanted, state)
        state.update(
            {
                "dirty": False,
                "repair": False,
                "head": sha,
                "sparse": None if wanted is None else list(wanted),
                "fetched_at": time.time(),
            }
        )
        state.setdefault("refs", {})[ref] = sha
        commits = state.setdefault("commits", [])
        if sha not in commits:
            commits.append(sha)
        write_json(self.state_path, state)
        return Checkout(spec=self.spec, root=self.root, commit=sha, paths=self.spec.paths)

    # -- stages ------------------------------------------------------------------------------

    def _open(self) -> dict[str, Any]:
        """The clone's state, after creating the clone or repairing one left half-done."""
        state = read_json(self.state_path)
        healthy = (
            isinstance(state, dict)
            and state.get("url") == self.spec.url
            and (self.root / ".git" / "HEAD").is_file()
        )
        if healthy:
            assert isinstance(state, dict)
            head = state.get("head")
            try:
                self.git().run("rev-parse", "--git-dir")
                if isinstance(head, str) and is_commit_sha(head):
                    # Reads the commit object: a truncated or lost pack shows up here.
                    self.git().run("rev-parse", "--verify", "--quiet", f"{head}^{{tree}}")
            except GitFailed:
                healthy = False
        if not healthy:
            if self.root.exists():
                self.report("fetch", f"the cached clone at {self.root} is damaged; recloning")
            return self._create()
        assert isinstance(state, dict)
        if state.get("dirty"):
            self.report("fetch", "repairing a cache entry left by an interrupted fetch")
            for lock in (self.root / ".git").glob("*.lock"):
                lock.unlink(missing_ok=True)
            state["repair"] = True
        return state

    def _create(self) -> dict[str, Any]:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.created = True
        self.report("fetch", f"creating a partial clone of {self.spec.display}")
        git = self.git()
        git.run("init", "--quiet")
        git.run("remote", "add", "origin", self.spec.url)
        if self.spec.kind == "file":
            git.run("config", "remote.origin.uploadpack", _UPLOAD_PACK)
        git.run("config", "core.sparseCheckout", "true")
        # Fail instead of silently downloading whole files outside the sparse set.
        git.run("config", "gc.auto", "0")
        state: dict[str, Any] = {"url": self.spec.url, "dirty": True, "sparse": [], "refs": {}}
        write_json(self.state_path, state)
        return state

    def _resolve(self, state: dict[str, Any], ref: str) -> str:
        """The commit sha for ``ref``, fetching it (at depth 1, without blobs) when needed."""
        if is_commit_sha(ref) and ref in state.get("commits", []) and not state.get("repair"):
            return ref
        self.report("fetch", f"fetching {ref} from {self.spec.display}")
        start = time.monotonic()
        git = self.git()
        try:
            git.run(
                "fetch", "--quiet", "--no-tags", "--depth", "1", "--filter=blob:none",
                "origin", ref, network=True,
            )  # fmt: skip
        except GitFailed as e:
            cached = state.get("refs", {}).get(ref)
            if e.kind() == "network" and cached and not state.get("repair"):
                self.report("fetch", f"cannot reach {self.spec.host}; using cached {cached[:12]}")
                return str(cached)
            raise
        sha = git.run("rev-parse", "--verify", "FETCH_HEAD^{commit}").strip()
        self.report("fetch", f"{ref} is {sha[:12]}", seconds=time.monotonic() - start)
        return sha

    def _check_paths(self, sha: str) -> None:
        if not self.spec.paths:
            return
        out = self.git().run("ls-tree", "-z", "--name-only", sha, "--", *self.spec.paths)
        found = set(out.split("\0"))
        missing = [p for p in self.spec.paths if p not in found]
        if missing:
            top = self.git().run("ls-tree", "-z", "--name-only", sha).split("\0")
            hint = ", ".join(t for t in top if t)[:200]
            raise FetchError(
                f"Path {missing[0]!r} does not exist in {self.spec.display} at {sha[:12]}: "
                f"check the spelling (top-level entries: {hint})"
            )

    def _checkout(self, sha: str, wanted: tuple[str, ...] | None, state: dict[str, Any]) -> None:
        git = self.git()
        if wanted is None:
            git.run("sparse-checkout", "disable")
        else:
            git.run("sparse-checkout", "set", "--no-cone", *[_pattern(p) for p in wanted])
        self.report("fetch", f"checking out {len(wanted or []) or 'all'} path(s) at {sha[:12]}")
        git.run("-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach",
                sha, network=True)  # fmt: skip
        if state.get("repair"):
            git.run("reset", "--quiet", "--hard", sha, network=True)


def _as_paths(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _union(old: Any, new: tuple[str, ...]) -> tuple[str, ...] | None:
    """The sparse set after adding ``new``; ``None`` is the whole repository."""
    if old is None or not new:
        return None
    return normalize_paths([*old, *new])


def _pattern(path: str) -> str:
    """An exact non-cone sparse pattern for a directory or file (glob characters escaped)."""
    escaped = "".join("\\" + c if c in "*?[]\\!#" else c for c in path)
    return f"/{escaped}"


def _explain(e: GitFailed, spec: RepoSpec, root: Path) -> FetchError:
    kind = e.kind()
    name = spec.display
    if kind == "network":
        return FetchError(
            f"Cannot reach {spec.host}: check your network connection (or use a local path)"
        )
    if kind == "not_found" and spec.kind == "file":
        return FetchError(
            f"Repository not found: {name} is gone or no longer a git repository: check the path"
        )
    if kind == "not_found":
        return FetchError(
            f"Repository not found: {name}: check owner/name, or set GITHUB_TOKEN for a "
            "private repository"
        )
    if kind == "bad_ref":
        return FetchError(
            f"Unknown ref {spec.ref or 'HEAD'!r} in {name}: check the branch, tag or commit sha"
        )
    if kind == "disk_full":
        return FetchError(
            f"Disk full while writing {root}: free space or set GHQA_CACHE_DIR to another disk"
        )
    return FetchError(f"git failed for {name}: {e.last_line}")
