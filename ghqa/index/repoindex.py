"""Reading the index of one snapshot: files, symbols, definitions, callers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .files import FileEntry
from .store import IndexStore
from .symbols import CALLABLE_KINDS, CONTAINER_KINDS, Callers, Reference, Symbol, ref_lines

if TYPE_CHECKING:
    from ..fetch import Checkout

#: Order in which definitions of the same name are listed: real bodies before members.
_KIND_RANK = {
    **{k: 0 for k in CALLABLE_KINDS},
    **{k: 1 for k in CONTAINER_KINDS},
    "typedef": 1,
    "macro": 2,
    "variable": 3,
    "constant": 3,
    "enumerator": 4,
    "field": 5,
}

# A file's rows are found by their ids (a range in its blob's row); a name's rows by the name's
# index, then their files by blob (CROSS JOIN and INDEXED BY keep that plan: without statistics
# SQLite would rather go through every file of the snapshot, thousands on a large checkout).
_SYMBOL_ROW = "SELECT f.path, s.line, s.end_line, s.name, s.kind, s.scope"
_REF_ROW = "SELECT f.path, f.blob, r.name, r.kind, r.lines"  # what _with_callers takes
_LIVE_FILES = "WHERE f.snapshot = ? AND f.flags = ''"
_SYMBOLS = f"""{_SYMBOL_ROW}
FROM files f JOIN blobs b ON b.id = f.blob
JOIN symbols s ON s.id BETWEEN b.sym_lo AND b.sym_hi
{_LIVE_FILES}"""
_SYMBOLS_BY_NAME = f"""{_SYMBOL_ROW}
FROM symbols s CROSS JOIN files f INDEXED BY files_blob ON f.blob = s.blob
{_LIVE_FILES}"""
_REFS_BY_NAME = f"""{_REF_ROW}
FROM refs r CROSS JOIN files f INDEXED BY files_blob ON f.blob = r.blob
{_LIVE_FILES}"""
_CALLS_IN_BLOB = f"""{_REF_ROW}
FROM blobs b JOIN refs r ON r.id BETWEEN b.ref_lo AND b.ref_hi
CROSS JOIN files f INDEXED BY files_blob ON f.blob = b.id
{_LIVE_FILES} AND b.id = ? AND r.kind = 'call'"""
_CALLABLE_IN = ", ".join(f"'{k}'" for k in sorted(CALLABLE_KINDS))
_CALLABLES = (
    "SELECT s.name, s.kind, s.line, s.end_line FROM blobs b "
    "JOIN symbols s ON s.id BETWEEN b.sym_lo AND b.sym_hi "
    f"WHERE b.id = ? AND s.kind IN ({_CALLABLE_IN})"
)


class RepoIndex:
    """The files and symbols of a checkout's paths at its pinned commit."""

    def __init__(self, store: IndexStore, snapshot: int, checkout: Checkout):
        self.store = store
        self.snapshot = snapshot
        self.checkout = checkout

    @property
    def commit(self) -> str:
        return self.checkout.commit

    def close(self) -> None:
        self.store.close()

    def files(self) -> list[FileEntry]:
        rows = self.store.db.execute(
            "SELECT f.path, b.size, f.lang, b.sha, f.flags, b.flags FROM files f "
            "JOIN blobs b ON b.id = f.blob WHERE f.snapshot = ? ORDER BY f.path",
            (self.snapshot,),
        ).fetchall()
        return [
            FileEntry(path, size, lang or None, sha, _flags(pflags) | _flags(bflags))
            for path, size, lang, sha, pflags, bflags in rows
        ]

    def symbols(
        self,
        name: str | None = None,
        kind: str | None = None,
        path: str | None = None,
        prefix: str | None = None,
    ) -> list[Symbol]:
        """Definitions, filtered by exact ``name``, name ``prefix``, ``kind`` and ``path`` (a
        file, or a directory and everything below it)."""
        sql = _SYMBOLS_BY_NAME if name is not None or prefix else _SYMBOLS
        args: list[object] = [self.snapshot]
        if name is not None:
            sql += " AND s.name = ?"
            args.append(name)
        if prefix:
            sql += " AND s.name >= ? AND s.name < ?"
            args += [prefix, prefix + "\U0010ffff"]
        if kind is not None:
            sql += " AND s.kind = ?"
            args.append(kind)
        if path:
            path = path.strip("/")
            sql += " AND (f.path = ? OR (f.path >= ? AND f.path < ?))"
            args += [path, path + "/", path + "0"]  # "0" sorts right after "/"
        sql += " ORDER BY f.path, s.line"
        return [Symbol(*row) for row in self.store.db.execute(sql, args)]

    def matching(self, fragment: str, kinds: tuple[str, ...] = (), limit: int = 50) -> list[Symbol]:
        """Definitions whose name contains ``fragment`` (case-insensitive), shortest names first."""
        sql = _SYMBOLS + " AND s.name LIKE ? ESCAPE '\\'"
        escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args: list[object] = [self.snapshot, f"%{escaped}%"]
        if kinds:
            sql += f" AND s.kind IN ({','.join('?' * len(kinds))})"
            args += kinds
        sql += " ORDER BY length(s.name), f.path, s.line LIMIT ?"
        args.append(limit)
        return [Symbol(*row) for row in self.store.db.execute(sql, args)]

    def definitions(self, name: str) -> list[Symbol]:
        """Where ``name`` is defined, bodies (functions, types) first."""
        found = self.symbols(name=name)
        return sorted(found, key=lambda s: (_KIND_RANK.get(s.kind, 3), s.path, s.line))

    def references(self, name: str, kind: str | None = None) -> list[Reference]:
        """The uses of ``name`` (of ``kind``: ``call`` or ``type``), each with its caller."""
        sql = _REFS_BY_NAME + " AND r.name = ?"
        args: list[object] = [self.snapshot, name]
        if kind is not None:
            sql += " AND r.kind = ?"
            args.append(kind)
        return self._with_callers(self.store.db.execute(sql, args).fetchall())

    def callers(self, name: str) -> list[Reference]:
        """The call sites of ``name``, each with its enclosing function."""
        return self.references(name, kind="call")

    def callees(self, name: str) -> list[Reference]:
        """The calls made inside the definitions of ``name``."""
        blobs = self.store.db.execute(
            "SELECT DISTINCT f.blob FROM symbols s CROSS JOIN files f INDEXED BY files_blob "
            "ON f.blob = s.blob "
            f"WHERE f.snapshot = ? AND f.flags = '' AND s.name = ? AND s.kind IN ({_CALLABLE_IN})",
            (self.snapshot, name),
        ).fetchall()
        rows = [
            row
            for (blob,) in blobs
            for row in self.store.db.execute(_CALLS_IN_BLOB, (self.snapshot, blob))
        ]
        return [r for r in self._with_callers(rows) if r.caller == name]

    def _with_callers(self, rows: list[tuple[str, int, str, str, str]]) -> list[Reference]:
        """References from ``_REF_ROW`` rows, one per line, with the innermost function or method
        around each, in path and line order."""
        callers: dict[int, Callers] = {}
        found: list[Reference] = []
        for path, blob, name, kind, lines in rows:
            if blob not in callers:
                callers[blob] = Callers(self.store.db.execute(_CALLABLES, (blob,)))
            at = callers[blob].at
            found += [Reference(path, line, name, kind, at(line)) for line in ref_lines(lines)]
        found.sort(key=lambda r: (r.path, r.line))
        return found

    def file_symbols(self, path: str) -> list[Symbol]:
        sql = _SYMBOLS + " AND f.path = ? ORDER BY s.line, s.end_line DESC"
        return [Symbol(*row) for row in self.store.db.execute(sql, (self.snapshot, path))]

    def enclosing(self, path: str, line: int) -> Symbol | None:
        """The innermost function or type definition in ``path`` that contains ``line``."""
        best: Symbol | None = None
        for s in self.file_symbols(path):
            if s.line <= line <= s.end_line and _KIND_RANK.get(s.kind, 3) <= 1:
                if best is None or s.end_line - s.line < best.end_line - best.line:
                    best = s
        return best

    def stats(self) -> dict[str, int]:
        db = self.store.db
        files = db.execute(
            "SELECT count(*) FROM files WHERE snapshot = ?", (self.snapshot,)
        ).fetchone()[0]
        symbols = db.execute(
            "SELECT coalesce(sum(b.sym_hi - b.sym_lo + 1), 0) FROM files f "
            "JOIN blobs b ON b.id = f.blob WHERE f.snapshot = ?",
            (self.snapshot,),
        ).fetchone()[0]
        refs = db.execute(
            "SELECT coalesce(sum(r.count), 0) FROM files f JOIN blobs b ON b.id = f.blob "
            "JOIN refs r ON r.id BETWEEN b.ref_lo AND b.ref_hi WHERE f.snapshot = ?",
            (self.snapshot,),
        ).fetchone()[0]
        return {"files": files, "symbols": symbols, "references": refs}


def _flags(text: str) -> frozenset[str]:
    return frozenset(text.split(",")) if text else frozenset()
