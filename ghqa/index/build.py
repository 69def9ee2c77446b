"""Building the index of a checkout: list its files, parse what is new, store a snapshot."""

from __future__ import annotations

import time
from collections.abc import Iterator

from ..fetch import Checkout
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .files import MAX_PARSE_BYTES, content_flags, list_tree, path_flags, read_contents
from .languages import has_grammar, language_for
from .parallel import ForkedMap, usable_workers
from .repoindex import RepoIndex
from .store import BlobRow, FileRow, IndexStore, store_path
from .symbols import RefRow, SymbolRow, extract_rows

#: Below this many bytes to parse, forking workers costs more than it saves.
_PARALLEL_BYTES = 256_000
#: Writing a parsed file's rows costs about this fraction of parsing it.
_WRITE_COST = 0.1

_Work = tuple[str, str, bytes]  # lang, path, content
_Parsed = tuple[list[SymbolRow], list[RefRow]]


def build_index(
    checkout: Checkout,
    settings: Settings,
    reporter: Reporter = null_reporter,
    workers: int | None = None,
) -> RepoIndex:
    """The index of ``checkout``'s paths at its commit; parses only blobs not seen before."""
    store = IndexStore(store_path(settings.cache_root))
    snapshot = store.snapshot(checkout.commit, checkout.paths)
    if snapshot is not None:
        reporter("index", "index is up to date", cached=True)
        return RepoIndex(store, snapshot, checkout)
    start = time.monotonic()
    entries = list_tree(checkout.root, checkout.commit, checkout.paths)
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

    # Read what is new (never symlink targets, never oversized files).
    readable = {
        sha: path
        for (sha, g), path in todo.items()
        if sizes[sha] <= MAX_PARSE_BYTES and (sha, g) not in links
    }
    contents = read_contents(checkout.root, readable)
    new_blobs: list[BlobRow] = []
    work: list[_Work] = []
    work_keys: list[tuple[str, str]] = []
    for key, path in todo.items():
        sha, parse_lang = key
        data = contents.get(sha)
        if key in links:
            flags = frozenset()
        else:
            flags = content_flags(data) if data is not None else frozenset({"large"})
        if data is not None and parse_lang and not flags:
            work.append((parse_lang, path, data))
            work_keys.append(key)
        else:
            new_blobs.append((key, sizes[sha], flags, [], []))
    total = sum(len(w[2]) for w in work)
    n = usable_workers(workers) if total >= _PARALLEL_BYTES else 1
    # The workers start parsing now; this process writes every result as it comes.
    parsed = ForkedMap(_parse, work, [len(w[2]) for w in work], n, collect_cost=_WRITE_COST)

    def blob_rows() -> Iterator[BlobRow]:
        yield from new_blobs
        for i, (syms, refs) in parsed:
            key = work_keys[i]
            yield key, sizes[key[0]], frozenset(), syms, refs

    try:
        snapshot = store.write_snapshot(checkout.commit, checkout.paths, files, blob_rows())
    finally:
        parsed.close()
    reporter(
        "index",
        f"indexed {len(files)} files ({len(work)} parsed) in {time.monotonic() - start:.2f}s",
        files=len(files),
        parsed=len(work),
        seconds=time.monotonic() - start,
    )
    return RepoIndex(store, snapshot, checkout)


def _parse(item: _Work) -> _Parsed:
    lang, _path, data = item
    return extract_rows(lang, data)
