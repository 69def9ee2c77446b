"""Code-aligned chunks: files split on top-level definition boundaries, never mid-function."""

from __future__ import annotations

from dataclasses import dataclass

from ..index.symbols import CALLABLE_KINDS, CONTAINER_KINDS
from .workspace import FileNotReadable, Workspace

_BLOCK_KINDS = CALLABLE_KINDS | CONTAINER_KINDS | {"macro", "typedef", "variable", "constant"}


@dataclass(frozen=True)
class Chunk:
    path: str
    start: int
    end: int
    tokens: int
    symbols: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.path}:{self.start}-{self.end}"


def file_chunks(ws: Workspace, path: str, max_tokens: int = 6000) -> list[Chunk]:
    """``path`` cut into chunks of at most ``max_tokens`` at top-level definition boundaries.

    A definition larger than ``max_tokens`` gets chunks of its own, cut at line boundaries."""
    try:
        lines = ws.lines(path)
        costs = ws.line_tokens(path)
    except FileNotReadable:
        return []
    if not lines:
        return []
    # Top-level definitions: not inside another block definition.
    blocks: list[tuple[int, int, str]] = []
    for sym in ws.index.file_symbols(path):
        if sym.kind not in _BLOCK_KINDS:
            continue
        if blocks and sym.line <= blocks[-1][1]:
            continue
        blocks.append((sym.line, min(sym.end_line, len(lines)), sym.name))
    # Units: each definition, and the stretches between them.
    units: list[tuple[int, int, str | None]] = []
    cursor = 1
    for start, end, name in blocks:
        if start > cursor:
            units.append((cursor, start - 1, None))
        units.append((start, end, name))
        cursor = end + 1
    if cursor <= len(lines):
        units.append((cursor, len(lines), None))

    chunks: list[Chunk] = []
    cur_start, cur_end, cur_tokens = 0, 0, 0
    names: list[str] = []
    for start, end, unit_name in units:
        tokens = sum(costs[start - 1 : end])
        if cur_tokens and cur_tokens + tokens > max_tokens:
            chunks.append(Chunk(path, cur_start, cur_end, cur_tokens, tuple(names)))
            cur_tokens, names = 0, []
        if tokens > max_tokens:
            chunks.extend(_split(path, start, end, costs, max_tokens, unit_name))
            continue
        if not cur_tokens:
            cur_start = start
        cur_end, cur_tokens = end, cur_tokens + tokens
        if unit_name:
            names.append(unit_name)
    if cur_tokens:
        chunks.append(Chunk(path, cur_start, cur_end, cur_tokens, tuple(names)))
    return chunks


def _split(
    path: str, start: int, end: int, costs: list[int], max_tokens: int, name: str | None
) -> list[Chunk]:
    out: list[Chunk] = []
    first, total = start, 0
    for n in range(start, end + 1):
        if total and total + costs[n - 1] > max_tokens:
            out.append(Chunk(path, first, n - 1, total, (name,) if name else ()))
            first, total = n, 0
        total += costs[n - 1]
    out.append(Chunk(path, first, end, total, (name,) if name else ()))
    return out
