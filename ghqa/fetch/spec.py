"""Repository specs: what the user names (``owner/name``, a URL, a local path) and which paths."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import SpecError

_OWNER_NAME = re.compile(
    r"^(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<name>(?!\.\.?$)[A-Za-z0-9._-]{1,100})$"
)
_REF = re.compile(r"^[A-Za-z0-9._/+-]{1,200}$")
_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Dot-separated labels of letters, digits and inner hyphens, and an optional port: never "." or
# "..", which would make the cache directory (named after the host) leave the cache.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?(?::[0-9]{{1,5}})?$")


@dataclass(frozen=True)
class RepoSpec:
    """A repository and the part of it a question is about.

    ``url`` never carries credentials. ``paths`` are normalized repository-relative directories or
    files; empty means the whole repository.
    """

    kind: str  # "github" (owner/name on the configured GitHub host), "url" or "file"
    url: str
    host: str
    owner: str | None
    name: str
    ref: str | None = None
    paths: tuple[str, ...] = ()
    scheme: str = "https"

    @property
    def display(self) -> str:
        if self.kind == "file":
            return unquote(urlsplit(self.url).path)
        return f"{self.owner}/{self.name}" if self.owner else self.url

    @property
    def cache_key(self) -> str:
        """A relative directory name under the cache, unique per repository."""
        if self.kind == "file":
            digest = hashlib.sha1(self.url.encode()).hexdigest()[:12]
            return f"local/{_safe(self.name)}-{digest}"
        host = _safe(self.host.lower().replace(":", "_"))
        return f"{host}/{_safe((self.owner or '_').lower())}/{_safe(self.name.lower())}"

    @property
    def web_url(self) -> str | None:
        """The repository's web page when it is hosted on GitHub (or a GitHub Enterprise host)."""
        if self.kind == "github" and self.owner:
            return f"{self.scheme}://{self.host}/{self.owner}/{self.name}"
        return None

    def with_paths(self, paths: tuple[str, ...] | list[str]) -> RepoSpec:
        return replace(self, paths=normalize_paths(paths))

    def with_ref(self, ref: str | None) -> RepoSpec:
        return replace(self, ref=validate_ref(ref) if ref else None)


def _shown(text: str) -> str:
    """``text`` quoted for an error message, at most 120 characters."""
    quoted = repr(text)
    return quoted if len(quoted) <= 120 else quoted[:117] + "..."


def _safe(text: str) -> str:
    """``text`` as one directory name: never empty, ``.`` or ``..``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return "_" if safe in ("", ".", "..") else safe


def validate_ref(ref: str) -> str:
    ref = ref.strip()
    bad = (
        not _REF.match(ref)
        or ref.startswith(("-", "/", "."))
        or ref.endswith(("/", ".", ".lock"))
        or ".." in ref
        or "//" in ref
    )
    if bad:
        raise SpecError(
            f"Invalid ref {_shown(ref)}: give a branch, tag or commit sha "
            "(letters, digits, '._/+-')"
        )
    return ref


def normalize_path(path: str) -> str:
    """A repository-relative path without ``.``, ``..`` or empty parts; ``""`` is the whole
    repository."""
    if _CONTROL.search(path):
        raise SpecError(f"Invalid path {_shown(path)}: it contains control characters")
    text = path.strip().replace("\\", "/")
    if text.startswith("/"):
        raise SpecError(
            f"Invalid path {_shown(path)}: paths are relative to the repository root, "
            "e.g. kernel/sched"
        )
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise SpecError(f"Invalid path {_shown(path)}: '..' is not allowed")
    if any(p == ".git" for p in parts):
        raise SpecError(
            f"Invalid path {_shown(path)}: .git is not part of the repository's content"
        )
    if parts and parts[0].startswith("-"):
        raise SpecError(f"Invalid path {_shown(path)}: a path may not start with '-'")
    return "/".join(parts)


def normalize_paths(paths: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Normalized, sorted, deduplicated paths, those inside another dropped; () is everything."""
    normal = sorted({normalize_path(p) for p in paths})
    if "" in normal:
        return ()
    kept: list[str] = []
    for p in normal:
        if not any(p.startswith(k + "/") for k in kept):
            kept.append(p)
    return tuple(kept)


def parse_spec(
    text: str,
    paths: tuple[str, ...] | list[str] = (),
    ref: str | None = None,
    github_host: str = "github.com",
) -> RepoSpec:
    """Parse what the user typed: ``owner/name[@ref]``, ``https://host/owner/name``, a GitHub
    tree URL, ``file://`` URL or a local path."""
    raw = text
    text = text.strip()
    if not text:
        raise SpecError("No repository given: name one as owner/name, a URL or a local path")
    if _CONTROL.search(text) or text.startswith("-"):
        raise SpecError(f"Invalid repository {_shown(raw)}: use owner/name, a URL or a local path")
    gh_scheme, github_host = split_host(github_host)
    extra_paths: list[str] = []
    spec_ref: str | None = None

    if text.startswith("file://"):
        try:
            local = unquote(urlsplit(text).path)
        except ValueError as e:  # a malformed host part
            raise SpecError(f"Invalid file URL {_shown(raw)}: {str(e)[:100]}") from None
        spec = _local(local, raw)
    elif text.startswith(("https://", "http://")):
        try:
            spec, spec_ref, extra_paths = _from_url(text, github_host, gh_scheme)
        except ValueError as e:  # urlsplit: a malformed IPv6 host or port
            raise SpecError(f"Invalid repository URL {_shown(raw)}: {str(e)[:100]}") from None
    elif text.startswith(("git@", "ssh://")):
        raise SpecError(
            f"SSH URLs are not supported: {_shown(raw)}; use https://HOST/OWNER/NAME or OWNER/NAME"
        )
    elif text.startswith(("/", "./", "../", "~")) or text in (".", "..") or _is_dir(text):
        spec = _local(text, raw)
    else:
        name_part, _, spec_ref_text = text.partition("@")
        m = _OWNER_NAME.match(name_part.removesuffix(".git"))
        if not m:
            raise SpecError(
                f"Invalid repository {_shown(raw)}: use owner/name (e.g. torvalds/linux), "
                "https://host/owner/name, file:///path or a local directory"
            )
        spec = RepoSpec(
            kind="github",
            url=f"{gh_scheme}://{github_host}/{m['owner']}/{m['name']}.git",
            host=github_host,
            scheme=gh_scheme,
            owner=m["owner"],
            name=m["name"],
        )
        spec_ref = spec_ref_text or None
    final_ref = ref or spec_ref
    return replace(
        spec,
        ref=validate_ref(final_ref) if final_ref else None,
        paths=normalize_paths([*extra_paths, *paths]),
    )


def _is_dir(text: str) -> bool:
    try:
        return Path(text).is_dir()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _local(text: str, raw: str) -> RepoSpec:
    """A local directory (``~`` expanded); SpecError when the path cannot be resolved."""
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as e:  # unknown ~user, NUL, too long, a loop
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SpecError(f"Invalid local repository path {_shown(raw)}: {reason}") from None
    return RepoSpec(
        kind="file",
        url=resolved.as_uri(),
        host="local",
        owner=None,
        name=resolved.name or "root",
    )


def split_host(github_host: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of the GitHub host setting: ``github.com``, ``ghe.example.com``
    or ``http://127.0.0.1:8080``."""
    text = github_host.strip().lower().rstrip("/")
    scheme = "https"
    if "://" in text:
        scheme, _, text = text.partition("://")
    if scheme not in ("https", "http") or not _HOST.match(text):
        raise SpecError(
            f"Invalid GitHub host {_shown(github_host)}: use a host name such as github.com or "
            "https://github.example.com (GHQA_GITHUB_HOST)"
        )
    return scheme, text


def _from_url(
    text: str, github_host: str, gh_scheme: str = "https"
) -> tuple[RepoSpec, str | None, list[str]]:
    parts = urlsplit(text)
    if parts.username or parts.password:
        raise SpecError(
            "Do not put credentials in the URL: set GITHUB_TOKEN instead "
            "(it is sent only to the GitHub host, never stored)"
        )
    host = parts.netloc.lower()
    if not _HOST.match(host):
        raise SpecError(
            f"Invalid repository URL {_shown(text)}: the host {_shown(host)} is malformed"
        )
    segs = [s for s in parts.path.split("/") if s]
    if len(segs) < 2:
        raise SpecError(
            f"Invalid repository URL {_shown(text)}: expected https://{host}/OWNER/NAME"
        )
    owner, name = segs[0], segs[1].removesuffix(".git")
    if not _OWNER_NAME.match(f"{owner}/{name}"):
        raise SpecError(
            f"Invalid repository URL {_shown(text)}: expected https://{host}/OWNER/NAME"
        )
    ref: str | None = None
    paths: list[str] = []
    rest = segs[2:]
    if rest:
        # A browser URL: .../tree/REF/PATH or .../blob/REF/PATH
        if rest[0] not in ("tree", "blob") or len(rest) < 2:
            raise SpecError(
                f"Invalid repository URL {_shown(text)}: expected https://{host}/OWNER/NAME "
                "or a .../tree/REF/PATH link"
            )
        ref = unquote(rest[1])
        if len(rest) > 2:
            paths.append(unquote("/".join(rest[2:])))
    is_github = (host == github_host and parts.scheme == gh_scheme) or (
        host == "github.com" and parts.scheme == "https"
    )
    spec = RepoSpec(
        kind="github" if is_github else "url",
        url=f"{parts.scheme}://{host}/{owner}/{name}.git",
        host=host,
        owner=owner,
        name=name,
        scheme=parts.scheme,
    )
    return spec, ref, paths


def is_commit_sha(ref: str) -> bool:
    return bool(_SHA.match(ref))
