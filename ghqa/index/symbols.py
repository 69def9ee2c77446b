"""Symbols from source text: definitions with full line spans, and references (calls, type uses).

Extraction runs the tree-sitter tags query of the file's language (``queries/<lang>.scm``). A
definition pattern captures ``@definition.<kind>`` (the whole definition: its span becomes the
symbol's lines) with either ``@name`` or ``@declarator`` (the top of a C-style declarator chain,
walked down to the declared name). A reference pattern puts ``@reference.<kind>`` on the name
node. References are kept grouped by kind and name, with the lines they are on; a reference's
caller (the innermost enclosing function or method) follows from the definitions, when it is
asked for. C and C++ sources are rewritten first where kernel-style macros would mislead the
parser (:mod:`.csource`).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import tree_sitter as ts

from .csource import preparer
from .languages import grammar, has_grammar, parser, tags_query

#: At most this many definitions, and references, are kept per file (the first, in line order):
#: a generated file under the parse limit could otherwise add hundreds of thousands of rows.
MAX_SYMBOLS_PER_FILE = 100_000
MAX_REFS_PER_FILE = 100_000
#: Definition kinds whose bodies are "callers" of the calls they contain.
CALLABLE_KINDS = frozenset({"function", "method", "constructor"})
#: Kinds that contain other definitions (the ``scope`` of what they contain).
CONTAINER_KINDS = frozenset(
    {"class", "struct", "union", "enum", "interface", "trait", "impl", "module", "namespace",
     "type"}
)  # fmt: skip
#: A function defined directly inside one of these is a method.
_CLASS_KINDS = frozenset({"class", "struct", "union", "interface", "trait", "impl"})
#: Variable-like kinds are dropped when they sit inside a function body (those are locals).
_SCOPED_KINDS = frozenset({"variable", "constant"})
_LOCAL_SCOPES = frozenset(
    {"compound_statement", "function_definition", "function_item", "method_declaration",
     "constructor_declaration", "function_declaration", "method_definition",
     "function_expression", "generator_function_declaration", "arrow_function", "lambda",
     "lambda_expression", "func_literal"}
)  # fmt: skip
#: Node types that end a declarator chain: the declared name.
_LEAVES = frozenset(
    {"identifier", "field_identifier", "type_identifier", "destructor_name", "operator_name",
     "property_identifier"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Symbol:
    """A definition: ``name`` of ``kind`` at ``path`` lines ``line``..``end_line`` (1-based)."""

    path: str
    line: int
    end_line: int
    name: str
    kind: str
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """A use of ``name`` (``kind`` is ``call`` or ``type``) at ``path:line``, inside ``caller``."""

    path: str
    line: int
    name: str
    kind: str
    caller: str | None


def extract(lang: str, source: bytes, path: str = "") -> tuple[list[Symbol], list[Reference]]:
    """Definitions and references (in line order, each with its caller) in ``source``; empty
    for languages without a grammar."""
    defs, refs = extract_rows(lang, source)
    callers = Callers(d for d in defs if d[1] in CALLABLE_KINDS)
    references = [
        Reference(path, line, name, kind, callers.at(line))
        for name, kind, lines in refs
        for line in ref_lines(lines)
    ]
    references.sort(key=lambda r: r.line)
    return (
        [Symbol(path, line, end, name, kind, scope) for name, kind, line, end, scope in defs],
        references,
    )


SymbolRow = tuple[str, str, int, int, "str | None"]  # name, kind, line, end_line, scope
#: The uses of one name of one kind in a file: name, kind, and the lines they are on (ascending,
#: space-separated, a line once per use: "12 40 40").
RefRow = tuple[str, str, str]


def ref_lines(lines: str) -> list[int]:
    """The lines of a :data:`RefRow`."""
    return [int(n) for n in lines.split()]


class Callers:
    """Which function or method each line of a file is in, from the file's callable
    definitions (``SymbolRow``-like tuples: name, kind, line, end_line, ...)."""

    def __init__(self, callables: Iterable[tuple[Any, ...]]):
        spans = sorted((d[2], d[3], d[0]) for d in callables)
        self._starts = [s[0] for s in spans]
        self._spans = spans

    def at(self, line: int) -> str | None:
        """The innermost callable containing ``line``: the latest-starting one that still
        contains it."""
        i = bisect.bisect_right(self._starts, line) - 1
        while i >= 0:
            if self._spans[i][1] >= line:
                return str(self._spans[i][2])
            i -= 1
        return None


def extract_rows(lang: str, source: bytes) -> tuple[list[SymbolRow], list[RefRow]]:
    """Like :func:`extract`, as plain tuples (what the index stores)."""
    if not has_grammar(lang):
        return [], []
    prepare = preparer(lang)
    if prepare is not None:
        source = prepare(source)
    query = tags_query(lang)
    roles = _roles(lang)
    local_scopes = _local_scope_ids(lang)
    root = parser(lang).parse(source).root_node
    defs: list[SymbolRow] = []
    seen: set[tuple[str, str, int]] = set()
    uses: dict[str, dict[bytes, list[int]]] = {}  # kind -> name -> lines
    # Variable-like matches wait for the end of the walk, when the functions' bodies are known:
    # one that lies in a body is a local, dropped without walking up its parents.
    scoped: list[tuple[dict[str, list[ts.Node]], str, str]] = []
    bodies: list[tuple[int, int]] = []  # byte spans of definitions that are local scopes
    # One walk of the tree for definitions and references: each walk costs as much as all the
    # patterns matched in it.
    for pattern, caps in ts.QueryCursor(query).matches(root):
        role = roles.get(pattern)
        if role is None:
            role = roles[pattern] = _role(caps)
        is_ref, kind, key = role
        if is_ref:
            names = uses.get(kind)
            if names is None:
                names = uses[kind] = {}
            for n in caps.get(key, ()):
                line = n.start_point[0] + 1
                text = source[n.start_byte : n.end_byte]  # quicker than n.text (a memoryview)
                lines = names.get(text)
                if lines is None:
                    names[text] = [line]
                else:
                    lines.append(line)
        elif kind in _SCOPED_KINDS:
            scoped.append((caps, kind, key))
        else:
            if kind in CALLABLE_KINDS:
                node = caps[key][0]
                if node.kind_id in local_scopes:
                    bodies.append((node.start_byte, node.end_byte))
            _add_definition(defs, seen, caps, kind, key)
    if scoped:
        bodies.sort()
        starts = [b[0] for b in bodies]
        for caps, kind, key in scoped:
            node = caps[key][0]
            i = bisect.bisect_left(starts, node.start_byte) - 1  # the last body starting before
            if i < 0 or bodies[i][1] < node.end_byte:
                _add_definition(defs, seen, caps, kind, key)
    defs.sort(key=lambda s: (s[2], -s[3]))
    return _with_scopes(defs)[:MAX_SYMBOLS_PER_FILE], _ref_rows(uses)


def _ref_rows(uses: dict[str, dict[bytes, list[int]]]) -> list[RefRow]:
    """One row per name and kind; past :data:`MAX_REFS_PER_FILE` uses, only the first (in line
    order) are kept."""
    found = [(name, kind, lines) for kind, names in uses.items() for name, lines in names.items()]
    total = sum(len(lines) for _, _, lines in found)
    last, room = 1 << 62, 0  # keep every line < last, and ``room`` uses on line ``last``
    if total > MAX_REFS_PER_FILE:
        every = sorted(line for _, _, lines in found for line in lines)
        last = every[MAX_REFS_PER_FILE - 1]
        room = MAX_REFS_PER_FILE - bisect.bisect_left(every, last)
    rows: list[RefRow] = []
    for name, kind, lines in found:
        lines.sort()
        if lines[-1] >= last:
            keep = lines[: bisect.bisect_left(lines, last)]
            on_last = min(room, bisect.bisect_right(lines, last) - len(keep))
            room -= on_last
            lines = keep + [last] * on_last
            if not lines:
                continue
        rows.append((name.decode("utf-8", "replace"), kind, " ".join(map(str, lines))))
    return rows


#: Per pattern of a language's tags query: (is a reference, kind, capture key).
_Role = tuple[bool, str, str]


@functools.cache
def _roles(lang: str) -> dict[int, _Role]:
    return {}


@functools.cache
def _local_scope_ids(lang: str) -> frozenset[int]:
    """The node kinds (by id) of a language's grammar that are :data:`_LOCAL_SCOPES`."""
    language = grammar(lang)
    return frozenset(
        i for i in range(language.node_kind_count) if language.node_kind_for_id(i) in _LOCAL_SCOPES
    )


def _role(caps: dict[str, list[ts.Node]]) -> _Role:
    for key in caps:
        if key.startswith("reference."):
            return True, key[len("reference.") :], key
        if key.startswith("definition."):
            return False, key[len("definition.") :], key
    return True, "", ""  # a pattern with neither: nothing to record


def _add_definition(
    defs: list[SymbolRow],
    seen: set[tuple[str, str, int]],
    caps: dict[str, list[ts.Node]],
    kind: str,
    key: str,
) -> None:
    name_node, is_function, owner = _name_node(caps)
    if name_node is None:
        return
    name = _text(name_node)
    if not name:
        return
    node = caps[key][0]
    if kind in _SCOPED_KINDS and (is_function or _is_local(node) or _is_extern(node)):
        return
    start = node.start_point[0] + 1
    ident = (name, kind, start)
    if ident in seen:
        return
    seen.add(ident)
    row, column = node.end_point
    end = row + (column != 0)  # a definition ending at a line's start ends on the line before
    if kind == "function" and owner:  # C++ `Foo::bar() {...}`, defined out of line
        kind = "method"
    defs.append((name, kind, start, max(start, end), owner))


def _text(node: ts.Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _name_node(caps: dict[str, list[ts.Node]]) -> tuple[ts.Node | None, bool, str | None]:
    """The node naming the match, whether its declarator declares a function (not a pointer to
    one), and the qualifier of a qualified name (``Foo`` in ``Foo::bar``): ``@name`` directly,
    or the bottom of the ``@declarator`` chain."""
    if "name" in caps:
        return caps["name"][0], False, None
    if "declarator" not in caps:
        return None, False, None
    node: ts.Node | None = caps["declarator"][0]
    function = False
    owner: str | None = None
    while node is not None:
        kind = node.type
        if kind in _LEAVES:
            return node, function, owner
        if kind == "function_declarator":
            function = True
        elif kind == "parenthesized_declarator":
            function = False
            node = node.named_children[0] if node.named_children else None
            continue
        elif kind in ("qualified_identifier", "template_function"):
            scope = node.child_by_field_name("scope")
            if scope is not None:
                owner = _text(scope)
            node = node.child_by_field_name("name")
            continue
        child = node.child_by_field_name("declarator")
        if child is None and kind == "reference_declarator" and node.named_children:
            child = node.named_children[-1]  # C++ `T& name`: the declarator has no field name
        node = child
    return None, False, None


def _is_local(node: ts.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in _LOCAL_SCOPES:
            return True
        parent = parent.parent
    return False


def _is_extern(node: ts.Node) -> bool:
    """Whether a C or C++ declaration says ``extern``. Only the specifiers before the first
    declarator are looked at, with a cursor: ``node.children`` (or ``next_sibling``) of ``int a,
    b, ...;`` costs as much as there are declarators, for each of them (quadratic time, and the
    children lists once took gigabytes)."""
    if node.type != "declaration":
        return False
    cursor = node.walk()
    if not cursor.goto_first_child():
        return False
    while cursor.field_name != "declarator":
        child = cursor.node
        if child is not None and child.type == "storage_class_specifier":
            if child.text == b"extern":
                return True
        if not cursor.goto_next_sibling():
            break
    return False


def _with_scopes(defs: list[SymbolRow]) -> list[SymbolRow]:
    """Fill ``scope`` with the innermost enclosing container (class, struct, ...) or callable."""
    out: list[SymbolRow] = []
    stack: list[SymbolRow] = []
    for d in defs:
        name, kind, line, end, owner = d
        while stack and stack[-1][3] < line:
            stack.pop()
        outer = next((o for o in reversed(stack) if end <= o[3]), None)
        if outer is not None:
            if kind == "function" and outer[1] in _CLASS_KINDS:
                kind = "method"
            d = (name, kind, line, end, owner or outer[0])  # `Foo::bar` stays Foo's
        out.append(d)
        if kind in CONTAINER_KINDS or kind in CALLABLE_KINDS:
            stack.append(d)
    return out
