"""Building the index of a checkout: list its files, parse what is new, store a snapshot."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

from ..fetch import Checkout
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .files import (
    MAX_PARSE_BYTES,
    TreeListing,
    content_flags,
    path_flags,
    read_blobs,
    read_checked_out,
)
from .languages import has_grammar, language_for
from .parallel import ForkedMap, usable_workers
from .repoindex import RepoIndex
from .store import BlobRow, FileRow, IndexStore, store_path
from .symbols import RefRow, SymbolRow, extract_rows

#: Below this many bytes to parse, forking workers costs more than it saves.
_PARALLEL_BYTES = 256_000

_Work = tuple[str, str, str, str]  # checkout root, path, blob sha, grammar ("" for none)
_Indexed = tuple[frozenset[str], list[SymbolRow], list[RefRow]]  # content flags, symbols, refs


def build_index(
    checkout: Checkout,
    settings: Settings,
    reporter: Reporter = null_reporter,
    workers: int | None = None,
) -> RepoIndex:
    """The index of ``checkout``'s paths at its commit; parses only blobs not seen before."""
    start = time.monotonic()
    db_path = store_path(settings.cache_root)
    list_tree = functools.partial(TreeListing, checkout.root, checkout.commit, checkout.paths)
    # A new index file has no snapshot to look up: git lists the tree while the file is made.
    listing = None if db_path.exists() else list_tree()
    try:
        store = IndexStore(db_path)
        snapshot = store.snapshot(checkout.commit, checkout.paths)
        if snapshot is not None:
            reporter("index", "index is up to date", cached=True)
            return RepoIndex(store, snapshot, checkout)
        entries = (listing or list_tree()).entries()
    finally:
        if listing is not None:
            listing.close()
    # A blob is keyed by its sha and the grammar applied to it ("" for none: no grammar, or a
    # vendored path or symlink, whose content is never parsed).
    files: list[FileRow] = []
    todo: dict[tuple[str, str], str] = {}  # new blob -> a path it is at
    sizes = {e.sha: e.size for e in entries}
    for e in entries:
        lang = language_for(e.path) or ""
        flags = path_flags(e.path) | ({"symlink"} if e.symlink else frozenset())
        key = (e.sha, lang if has_grammar(lang) and not flags else "")
        files.append((e.path, key, lang, flags))
    known = store.known_blobs(f[1] for f in files)
    links: set[tuple[str, str]] = set()  # a link's blob is its target's name: never read
    for path, key, _lang, flags in files:
        if key not in known and key not in todo:
            todo[key] = path
            if "symlink" in flags:
                links.add(key)
    reporter("index", f"indexing {len(todo)} new of {len(files)} files", files=len(files))

    # What is new is read (never symlink targets, never oversized files) and parsed by the
    # workers, which start now; this process writes every result as it comes.
    new_blobs: list[BlobRow] = []
    work: list[_Work] = []
    work_keys: list[tuple[str, str]] = []
    for key, path in todo.items():
        sha, parse_lang = key
        if key in links:
            new_blobs.append((key, sizes[sha], frozenset(), [], []))
        elif sizes[sha] > MAX_PARSE_BYTES:
            new_blobs.append((key, sizes[sha], frozenset({"large"}), [], []))
        else:
            work.append((str(checkout.root), path, sha, parse_lang))
            work_keys.append(key)
    weights = [sizes[sha] if lang else sizes[sha] // 50 + 1 for _, _, sha, lang in work]
    total = sum(sizes[w[2]] for w in work if w[3])
    n = usable_workers(workers) if total >= _PARALLEL_BYTES else 1
    indexed = ForkedMap(_index_blob, work, weights, n)

    def results() -> Iterator[tuple[int, _Indexed]]:
        from_git: list[int] = []
        for i, result in indexed:
            if result is None:
                from_git.append(i)
            else:
                yield i, result
        # Files that no longer match their blob on disk: from git, in one batch.
        contents = dict(read_blobs(checkout.root, sorted({work[i][2] for i in from_git})))
        for i in from_git:
            yield i, _index_content(contents[work[i][2]], work[i][3])

    parsed = 0

    def blob_rows() -> Iterator[BlobRow]:
        nonlocal parsed
        yield from new_blobs
        for i, (flags, syms, refs) in results():
            key = work_keys[i]
            parsed += bool(key[1] and not flags)
            yield key, sizes[key[0]], flags, syms, refs

    try:
        snapshot = store.write_snapshot(checkout.commit, checkout.paths, files, blob_rows())
    finally:
        indexed.close()
    reporter(
        "index",
        f"indexed {len(files)} files ({parsed} parsed) in {time.monotonic() - start:.2f}s",
        files=len(files),
        parsed=parsed,
        seconds=time.monotonic() - start,
    )
    return RepoIndex(store, snapshot, checkout)


def _index_blob(item: _Work) -> _Indexed | None:
    """Flags, symbols and references of a blob read from its checked-out file; None when that
    file does not hold the blob any more."""
    root, path, sha, lang = item
    data = read_checked_out(Path(root), path, sha)
    return None if data is None else _index_content(data, lang)


def _index_content(data: bytes, lang: str) -> _Indexed:
    flags = content_flags(data)
    if flags or not lang:
        return flags, [], []
    syms, refs = extract_rows(lang, data)
    return flags, syms, refs
