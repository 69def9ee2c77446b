"""The lines a citation points at, read from the cached clone at the pinned commit.

Nothing is fetched: the file is read from git's objects (not the working tree, which a later
question may have moved to another commit), and only when its content is already in the cache.
A commit or file the cache does not hold is reported as such, with a link to the repository's
web page when there is one."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from urllib.parse import quote

from markupsafe import Markup

from ..cachefs import read_json
from ..errors import SpecError
from ..fetch.clone import STATE_FILE, repo_dir
from ..fetch.gitcmd import Git, GitFailed
from ..fetch.spec import normalize_path, parse_spec
from ..settings import Settings
from .highlight import lexer_for, lines_html

#: Lines shown before and after the cited span.
CONTEXT_LINES = 12
#: Files larger than this are not shown.
MAX_FILE_BYTES = 4_000_000
_COMMIT = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CodeLine:
    number: int
    html: Markup
    cited: bool


@dataclass
class CodeView:
    """A window of a file at a commit, with the cited lines marked."""

    repo: str
    commit: str
    path: str
    start: int
    end: int
    lines: list[CodeLine] = field(default_factory=list)
    total: int = 0
    web_url: str | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}:{self.start}" + (f"-{self.end}" if self.end != self.start else "")

    @property
    def whole(self) -> bool:
        lines = self.lines
        return bool(lines) and lines[0].number == 1 and lines[-1].number == self.total


def permalink(web_url: str | None, commit: str, path: str, start: int, end: int) -> str | None:
    """The repository host's page for lines ``start``..``end`` of ``path`` at ``commit``."""
    if not web_url:
        return None
    anchor = f"#L{start}" if start == end else f"#L{start}-L{end}"
    return f"{web_url.rstrip('/')}/blob/{commit}/{quote(path, safe='/')}{anchor}"


def read_code(
    settings: Settings,
    repo: str,
    commit: str,
    path: str,
    start: int,
    end: int,
    context: int | None = CONTEXT_LINES,
) -> CodeView:
    """Lines ``start``..``end`` of ``path`` at ``commit`` with ``context`` lines around them
    (``None``: the whole file), or a view whose ``error`` says why they cannot be shown."""
    start, end = sorted((max(1, start), max(1, end)))
    view = CodeView(repo=repo, commit=commit, path=path, start=start, end=end)
    try:
        spec = parse_spec(repo, github_host=settings.github_host)
        view.path = path = normalize_path(path)
    except SpecError as exc:
        view.error = str(exc)
        return view
    view.web_url = permalink(spec.web_url, commit, path, start, end)
    if not _COMMIT.match(commit):
        view.error = f"{commit!r} is not a commit sha"
        return view
    if not path:
        view.error = "no file path given"
        return view
    root = repo_dir(spec, settings)
    state = read_json(root / ".git" / STATE_FILE)
    if not isinstance(state, dict) or commit not in state.get("commits", []):
        view.error = f"commit {commit[:12]} of {spec.display} is not in the cache"
        return view
    data = _blob_at(Git(root), commit, path)
    if isinstance(data, str):
        view.error = data
        return view
    if b"\0" in data[:8192]:
        view.error = f"{path} is a binary file"
        return view
    text = data.decode("utf-8", "replace")
    lines = text.splitlines()
    view.total = len(lines)
    if start > len(lines):
        view.error = f"line {start} is past the end of {path} ({len(lines)} lines)"
        return view
    end = view.end = min(end, len(lines))
    first, last = (1, len(lines)) if context is None else (
        max(1, start - context), min(len(lines), end + context)
    )  # fmt: skip
    window = "\n".join(lines[first - 1 : last])
    highlighted = lines_html(window, lexer_for(filename=path))
    highlighted += [Markup("")] * (last - first + 1 - len(highlighted))
    view.lines = [
        CodeLine(n, highlighted[n - first], start <= n <= end) for n in range(first, last + 1)
    ]
    return view


def _blob_at(git: Git, commit: str, path: str) -> bytes | str:
    """The content of ``path`` at ``commit`` when the cache holds it, else why not."""
    # Nothing here may read a blob before it is known to be in the cache: in a partial clone,
    # git would download it (``ls-tree -l`` and ``cat-file -e`` do).
    try:
        listing = git.run("ls-tree", "-z", "--full-tree", commit, "--", path)
    except GitFailed as exc:
        return f"cannot read {path} at {commit[:12]}: {exc.last_line}"
    meta, _, listed = listing.rstrip("\0").partition("\t")
    if listed != path or not meta:
        return f"{path} is not a file at commit {commit[:12]}"
    mode, kind, sha = meta.split(None, 2)
    if kind != "blob":
        return f"{path} is not a file at commit {commit[:12]}"
    if mode == "120000":
        return f"{path} is a symbolic link"
    try:
        git.run("rev-list", "--objects", "--missing=print", sha)
        size = int(git.run("cat-file", "-s", sha).strip())
    except (GitFailed, ValueError):
        return f"the content of {path} at {commit[:12]} is not in the cache"
    if size > MAX_FILE_BYTES:
        return f"{path} is too large to show ({size:,} bytes)"
    proc = subprocess.run(
        ["git", "cat-file", "blob", sha], cwd=git.cwd, env=git.env, capture_output=True
    )
    if proc.returncode != 0:
        return f"cannot read {path} at {commit[:12]} from the cache"
    return proc.stdout
