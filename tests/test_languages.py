"""Tags queries per language: definitions with exact spans, and calls with their callers.

Each language has a hand-written fixture in ``fixtures/languages/<lang>/``; the line numbers below
are read off those files (1-based, end line inclusive).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ghqa.index.languages import GRAMMARS, language_for, tags_query
from ghqa.index.symbols import extract

FIXTURES = Path(__file__).parent / "fixtures" / "languages"

Def = tuple[str, str, int, int]  # (name, kind, line, end_line)
Call = tuple[str, str | None]  # (callee name, caller name)


def check_symbols(
    lang: str,
    filename: str,
    expected_defs: list[Def],
    expected_calls: list[Call],
    absent: tuple[str, ...] = (),
) -> None:
    """Assert each expected definition and call is extracted from the fixture, and that no
    definition is named in ``absent`` (locals, prototypes, extern declarations)."""
    source = (FIXTURES / lang / filename).read_bytes()
    defs, refs = extract(lang, source, filename)
    got_defs = {(d.name, d.kind, d.line, d.end_line) for d in defs}
    missing_defs = [d for d in expected_defs if d not in got_defs]
    assert not missing_defs, f"{lang}: missing {missing_defs}; got {sorted(got_defs)}"
    got_calls = {(r.name, r.caller) for r in refs if r.kind == "call"}
    missing_calls = [c for c in expected_calls if c not in got_calls]
    assert not missing_calls, (
        f"{lang}: missing calls {missing_calls}; got {sorted(got_calls, key=str)}"
    )
    unexpected = sorted({d.name for d in defs} & set(absent))
    assert not unexpected, f"{lang}: should not be definitions: {unexpected}"


C_DEFS: list[Def] = [
    ("RING_SIZE", "macro", 5, 5),
    ("RING_NEXT", "macro", 6, 6),
    ("ring", "struct", 8, 12),
    ("head", "field", 9, 9),
    ("data", "field", 11, 11),
    ("value", "union", 14, 17),
    ("state", "enum", 19, 22),
    ("STATE_BUSY", "enumerator", 21, 21),
    ("ring_t", "typedef", 24, 24),
    ("ring_ops", "struct", 26, 29),
    ("push", "field", 27, 27),
    ("ring_count", "variable", 31, 31),
    ("ring_reset", "function", 35, 39),
    ("ring_push", "function", 41, 50),
    ("default_ops", "variable", 52, 55),
    ("ring_setup", "function", 57, 61),
    ("sys_ring_poke", "function", 63, 69),
]
C_CALLS: list[Call] = [
    ("RING_NEXT", "ring_push"),
    ("reset", "ring_setup"),
    ("push", "ring_setup"),
    ("ring_setup", "sys_ring_poke"),
    ("printf", "sys_ring_poke"),
]

CPP_DEFS: list[Def] = [
    ("SHAPE_MAX", "macro", 6, 6),
    ("SQUARE", "macro", 7, 7),
    ("geo", "namespace", 9, 58),
    ("Kind", "enum", 11, 11),
    ("Square", "enumerator", 11, 11),
    ("Point", "struct", 13, 17),
    ("x", "field", 14, 14),
    ("norm", "method", 16, 16),
    ("Storage", "union", 19, 22),
    ("Vec2", "typedef", 24, 24),
    ("Scalar", "type", 25, 25),
    ("Shape", "class", 27, 39),
    ("Shape", "method", 29, 29),
    ("~Shape", "method", 30, 30),
    ("area", "method", 31, 31),
    ("label", "method", 33, 33),
    ("label_", "field", 38, 38),
    ("Circle", "class", 41, 49),
    ("area", "method", 44, 44),
    ("square", "method", 47, 47),
    ("clamp", "function", 52, 54),
    ("shape_count", "variable", 56, 56),
    ("describe", "method", 60, 65),
    ("origin", "function", 67, 70),
    ("main", "function", 72, 77),
]
CPP_CALLS: list[Call] = [
    ("SQUARE", "norm"),
    ("square", "area"),
    ("max", "clamp"),
    ("make_unique", "describe"),
    ("area", "describe"),
    ("norm", "describe"),
    ("printf", "describe"),
    ("Circle", "main"),
    ("describe", "main"),
    ("clamp", "main"),
    ("origin", "main"),
]

PYTHON_DEFS: list[Def] = [
    ("MAX_RETRIES", "constant", 7, 7),
    ("log", "variable", 8, 8),
    ("Task", "class", 12, 17),
    ("retries", "field", 14, 14),
    ("describe", "method", 16, 17),
    ("Queue", "class", 20, 41),
    ("__init__", "method", 23, 24),
    ("size", "method", 27, 28),
    ("lookup", "method", 31, 35),
    ("push", "method", 37, 41),
    ("retry", "function", 44, 54),
    ("wrapper", "function", 46, 52),
    ("run", "function", 58, 60),
]
PYTHON_CALLS: list[Call] = [
    ("getLogger", None),
    ("len", "size"),
    ("OverflowError", "push"),
    ("describe", "push"),
    ("append", "push"),
    ("wraps", "retry"),
    ("func", "wrapper"),
    ("warning", "wrapper"),
    ("Task", "run"),
    ("push", "run"),
]

GO_DEFS: list[Def] = [
    ("MaxEntries", "constant", 9, 9),
    ("modeWrite", "constant", 13, 13),
    ("ErrMissing", "variable", 16, 16),
    ("Key", "type", 18, 18),
    ("Entry", "struct", 20, 23),
    ("Value", "field", 22, 22),
    ("Store", "interface", 25, 28),
    ("Cache", "struct", 30, 33),
    ("New", "function", 35, 37),
    ("Get", "method", 39, 45),
    ("Put", "method", 47, 55),
    ("evict", "method", 57, 61),
    ("Fill", "function", 63, 69),
]
GO_CALLS: list[Call] = [
    ("New", None),
    ("make", "New"),
    ("Errorf", "Get"),
    ("evict", "Put"),
    ("append", "Put"),
    ("delete", "evict"),
    ("Put", "Fill"),
    ("panic", "Fill"),
]

RUST_DEFS: list[Def] = [
    ("DEFAULT_CAPACITY", "constant", 4, 4),
    ("GREETING", "variable", 5, 5),
    ("square", "macro", 7, 11),
    ("Result", "type", 13, 13),
    ("StackError", "enum", 16, 19),
    ("Full", "enumerator", 17, 17),
    ("Bits", "union", 21, 24),
    ("Container", "trait", 26, 31),
    ("is_empty", "method", 28, 30),
    ("Stack", "struct", 33, 36),
    ("items", "field", 34, 34),
    ("Stack", "impl", 38, 50),
    ("new", "method", 39, 41),
    ("push", "method", 43, 49),
    ("Stack", "impl", 52, 56),
    ("len", "method", 53, 55),
    ("StackError", "impl", 58, 62),
    ("fmt", "method", 59, 61),
    ("util", "module", 64, 69),
    ("area", "function", 65, 68),
    ("fill", "function", 71, 75),
]
RUST_CALLS: list[Call] = [
    ("len", "is_empty"),
    ("with_capacity", "new"),
    ("Err", "push"),
    ("push", "push"),
    ("write", "fmt"),
    ("square", "area"),
    ("area", "fill"),
    ("push", "fill"),
    ("println", "fill"),
]

JAVASCRIPT_DEFS: list[Def] = [
    ("assert", "function", 6, 10),
    ("range", "function", 12, 16),
    ("Emitter", "class", 18, 40),
    ("constructor", "constructor", 19, 22),
    ("on", "method", 24, 29),
    ("emit", "method", 31, 35),
    ("create", "method", 37, 39),
    ("double", "function", 42, 42),
    ("describe", "function", 44, 46),
    ("main", "function", 48, 55),
]
JAVASCRIPT_CALLS: list[Call] = [
    ("Error", "assert"),
    ("Map", "constructor"),
    ("assert", "on"),
    ("set", "on"),
    ("forEach", "emit"),
    ("Emitter", "create"),
    ("format", "describe"),
    ("create", "main"),
    ("double", "main"),
    ("range", "main"),
    ("emit", "main"),
]

TYPESCRIPT_DEFS: list[Def] = [
    ("Priority", "enum", 4, 7),
    ("High", "enumerator", 6, 6),
    ("Job", "interface", 9, 13),
    ("JobMap", "type", 15, 15),
    ("Runner", "class", 17, 23),
    ("start", "method", 18, 18),
    ("log", "method", 20, 22),
    ("Scheduler", "class", 25, 44),
    ("constructor", "constructor", 28, 30),
    ("start", "method", 32, 35),
    ("byPriority", "method", 41, 43),
    ("Util", "namespace", 46, 50),
    ("sleep", "function", 47, 49),
    ("makeJob", "function", 52, 56),
    ("runAll", "function", 58, 64),
]
TYPESCRIPT_CALLS: list[Call] = [
    ("log", "log"),
    ("set", "start"),
    ("now", "start"),
    ("filter", "byPriority"),
    ("Promise", "sleep"),
    ("setTimeout", "sleep"),
    ("byPriority", "runAll"),
    ("run", "runAll"),
    ("sleep", "runAll"),
]

TSX_DEFS: list[Def] = [
    ("CounterProps", "interface", 4, 7),
    ("Handler", "type", 9, 9),
    ("Step", "enum", 11, 14),
    ("One", "enumerator", 12, 12),
    ("clamp", "function", 16, 18),
    ("Counter", "function", 20, 28),
    ("bump", "function", 22, 22),
    ("Badge", "function", 30, 30),
    ("Panel", "class", 32, 47),
    ("render", "method", 35, 42),
    ("initial", "method", 44, 46),
]
TSX_CALLS: list[Call] = [
    ("min", "clamp"),
    ("useState", "Counter"),
    ("clamp", "bump"),
    ("setCount", "bump"),
    ("bump", "Counter"),
    ("initial", "render"),
    ("clamp", "initial"),
]

JAVA_DEFS: list[Def] = [
    ("Inventory", "class", 7, 38),
    ("MAX_ITEMS", "field", 8, 8),
    ("items", "field", 10, 10),
    ("Inventory", "constructor", 13, 15),
    ("add", "method", 17, 23),
    ("validate", "method", 25, 29),
    ("total", "method", 31, 37),
    ("Priced", "interface", 40, 46),
    ("price", "method", 41, 41),
    ("label", "method", 43, 45),
    ("Category", "enum", 48, 55),
    ("TOOLS", "enumerator", 50, 50),
    ("next", "method", 52, 54),
    ("Item", "class", 57, 67),
    ("quantity", "field", 57, 57),
    ("Item", "constructor", 58, 62),
    ("price", "method", 64, 66),
]
JAVA_CALLS: list[Call] = [
    ("ArrayList", None),
    ("size", "add"),
    ("validate", "add"),
    ("add", "add"),
    ("IllegalArgumentException", "validate"),
    ("name", "validate"),
    ("quantity", "total"),
    ("format", "label"),
    ("price", "label"),
    ("ordinal", "next"),
]


@pytest.mark.parametrize(
    ("lang", "filename", "expected_defs", "expected_calls", "absent"),
    [
        ("c", "sample.c", C_DEFS, C_CALLS, ("local", "ring_debug", "ring_prototype", "r")),
        ("cpp", "sample.cpp", CPP_DEFS, CPP_CALLS, ("c", "a", "p", "o")),
        ("python", "sample.py", PYTHON_DEFS, PYTHON_CALLS, ("LOCAL_LIMIT", "item")),
        ("go", "sample.go", GO_DEFS, GO_CALLS, ("count", "oldest", "ok")),
        ("rust", "sample.rs", RUST_DEFS, RUST_CALLS, ("LOCAL", "n")),
        ("javascript", "sample.js", JAVASCRIPT_DEFS, JAVASCRIPT_CALLS, ("list", "e")),
        ("typescript", "sample.ts", TYPESCRIPT_DEFS, TYPESCRIPT_CALLS, ("job",)),
        ("tsx", "sample.tsx", TSX_DEFS, TSX_CALLS, ("count", "setCount")),
        ("java", "sample.java", JAVA_DEFS, JAVA_CALLS, ("sum",)),
    ],
)
def test_symbols(lang, filename, expected_defs, expected_calls, absent):
    check_symbols(lang, filename, expected_defs, expected_calls, absent)


@pytest.mark.parametrize(
    ("lang", "filename", "name", "line"),
    [
        ("c", "sample.c", "ring_t", 57),
        ("cpp", "sample.cpp", "Shape", 41),
        ("cpp", "sample.cpp", "Point", 63),
        ("python", "sample.py", "Queue", 58),
        ("go", "sample.go", "Store", 63),
        ("rust", "sample.rs", "Container", 52),
        ("typescript", "sample.ts", "Iterable", 25),
        ("tsx", "sample.tsx", "CounterProps", 20),
        ("java", "sample.java", "Priced", 57),
    ],
)
def test_type_references(lang, filename, name, line):
    _, refs = extract(lang, (FIXTURES / lang / filename).read_bytes(), filename)
    got = {(r.name, r.line) for r in refs if r.kind == "type"}
    assert (name, line) in got


@pytest.mark.parametrize(
    ("lang", "filename", "name", "kind", "scope"),
    [
        ("cpp", "sample.cpp", "norm", "method", "Point"),
        ("python", "sample.py", "push", "method", "Queue"),
        ("rust", "sample.rs", "fmt", "method", "StackError"),
        ("typescript", "sample.ts", "sleep", "function", "Util"),
        ("java", "sample.java", "next", "method", "Category"),
    ],
)
def test_scopes(lang, filename, name, kind, scope):
    defs, _ = extract(lang, (FIXTURES / lang / filename).read_bytes(), filename)
    assert scope in {d.scope for d in defs if (d.name, d.kind) == (name, kind)}


@pytest.mark.parametrize("lang", sorted(GRAMMARS))
def test_queries_compile_with_definitions_and_references(lang):
    query = tags_query(lang)
    names = {query.capture_name(i) for i in range(query.capture_count)}
    assert any(n.startswith("definition.") for n in names)
    assert any(n.startswith("reference.") for n in names)


def test_fixture_for_every_language():
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == set(GRAMMARS)


def test_language_without_grammar():
    lang = language_for("lib/tasks.rb")
    assert lang == "ruby"
    assert extract(lang, b"class Task\n  def run\n    go()\n  end\nend\n", "lib/tasks.rb") == (
        [],
        [],
    )


def test_out_of_line_method_keeps_its_class_inside_a_namespace() -> None:
    source = b"namespace ns {\nstruct Foo { void bar(); };\nvoid Foo::bar() {}\n}\n"
    defs, _ = extract("cpp", source, "ns.cpp")
    assert ("bar", "method", "Foo") in {(d.name, d.kind, d.scope) for d in defs}


C_SCOPES = b"""\
int top;
#ifdef CONFIG_A
static int in_ifdef = 1;
#elif defined(CONFIG_B)
static int in_elif;
#else
static int in_else, also_in_else;
#endif
static int one(void) { int local_one = 1; return local_one; } int after_one;
static void two(void)
{
	int local_two;
#ifdef CONFIG_A
	int local_in_ifdef;
#endif
	{
		int local_in_block;
	}
}
#if 1
static void three(void) { static int local_static; }
static int in_if;
#endif
"""


def test_c_variables_at_file_scope_are_kept_and_locals_dropped_at_any_depth() -> None:
    defs, _ = extract("c", C_SCOPES, "scopes.c")
    variables = {(d.name, d.line) for d in defs if d.kind == "variable"}
    assert variables == {
        ("top", 1), ("in_ifdef", 3), ("in_elif", 5), ("in_else", 7), ("also_in_else", 7),
        ("after_one", 9), ("in_if", 22),
    }  # fmt: skip
