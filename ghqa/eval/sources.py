"""The code a question set is about, as something ghqa can fetch.

A ``repository`` source is used as is. A ``snapshot`` directory and the top-level packages of
an installed ``package`` are committed into a git repository in the cache, once per content,
with a fixed author and date: the same files always give the same commit."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from ..cachefs import file_lock
from ..errors import ConfigError
from ..fetch.gitcmd import Git
from .questions import Source

#: Author, committer and date of every snapshot commit.
SNAPSHOT_GIT_ENV = {
    "GIT_AUTHOR_NAME": "ghqa eval",
    "GIT_AUTHOR_EMAIL": "eval@ghqa.invalid",
    "GIT_COMMITTER_NAME": "ghqa eval",
    "GIT_COMMITTER_EMAIL": "eval@ghqa.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
_SKIP_DIRS = frozenset({".git", "__pycache__"})
_SKIP_SUFFIXES = (".pyc", ".pyo")
_PACKAGE = re.compile(r"^(?P<name>[^=]+)==(?P<version>.+)$")

#: (file to copy, where it goes in the repository)
Item = tuple[Path, str]


def source_spec(source: Source, name: str, cache_root: Path) -> tuple[str, str | None]:
    """The repository spec and ref that hold ``source``'s code."""
    if source.kind == "repository":
        return source.value, source.ref
    if source.kind == "snapshot":
        items = list(_tree(Path(source.value), ""))
    else:
        items = package_items(source.value)
    return f"file://{snapshot_repository(name, items, cache_root)}", None


def package_items(requirement: str) -> list[Item]:
    """The files of an installed distribution's top-level packages (and modules), which must be
    exactly the version ``requirement`` (``name==version``) asks for."""
    m = _PACKAGE.match(requirement)
    if m is None:
        raise ConfigError(f"package {requirement!r} must be name==version, e.g. packaging==24.2")
    name, wanted = m["name"].strip(), m["version"].strip()
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"package {name} is not installed: pip install '{name}=={wanted}'"
        ) from None
    if dist.version != wanted:
        raise ConfigError(
            f"package {name} {dist.version} is installed, the question set needs {wanted}: "
            f"pip install '{name}=={wanted}'"
        )
    items: list[Item] = []
    for top in _top_level(dist):
        where = Path(str(dist.locate_file(top)))
        if where.is_dir():
            items.extend(_tree(where, top + "/"))
        elif where.with_suffix(".py").is_file():
            items.append((where.with_suffix(".py"), top + ".py"))
    if not items:
        raise ConfigError(f"package {name} {wanted} has no top-level package or module to read")
    return items


def _top_level(dist: metadata.Distribution) -> list[str]:
    listed = dist.read_text("top_level.txt")
    if listed:
        return sorted({line.strip() for line in listed.splitlines() if line.strip()})
    tops: set[str] = set()
    for file in dist.files or []:
        parts = file.parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info")):
            continue
        if len(parts) > 1 and parts[0] not in _SKIP_DIRS:
            tops.add(parts[0])
        elif parts[0].endswith(".py"):
            tops.add(parts[0][:-3])
    return sorted(tops)


def _tree(root: Path, prefix: str) -> Iterator[Item]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        rel = Path(folder).relative_to(root).as_posix()
        base = prefix if rel == "." else f"{prefix}{rel}/"
        for name in sorted(names):
            if not name.endswith(_SKIP_SUFFIXES):
                yield Path(folder) / name, base + name


def content_digest(items: list[Item]) -> str:
    """A hash of the files' places and bytes (and executable bits)."""
    digest = hashlib.sha256()
    for source, rel in sorted(items, key=lambda item: item[1]):
        mode = "x" if os.access(source, os.X_OK) and not source.is_symlink() else "-"
        digest.update(f"{rel}\0{mode}\0".encode())
        digest.update(source.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def snapshot_repository(name: str, items: list[Item], cache_root: Path) -> Path:
    """A git repository (in the cache, made once) whose one commit holds ``items``."""
    digest = content_digest(items)[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "snapshot"
    home = cache_root / "eval" / "snapshots"
    target = home / digest / safe
    with file_lock(home / f"{digest}.lock"):
        if (target / ".git" / "ghqa-snapshot").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{safe}."))
        try:
            for source, rel in items:
                dest = work / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest, follow_symlinks=True)
            git = Git(work, env=SNAPSHOT_GIT_ENV)
            git.run("init", "-q", "-b", "main")
            git.run("-c", "core.autocrlf=false", "add", "-A")
            git.run("-c", "commit.gpgsign=false", "commit", "-q", "-m", f"snapshot of {name}")
            (work / ".git" / "ghqa-snapshot").write_text(digest + "\n")
            if target.exists():
                shutil.rmtree(target)
            work.rename(target)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return target
