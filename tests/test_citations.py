"""Citations: parsing prose, coercing submitted values, verifying against a real checkout (a copy
of the Linux scheduler's fair.c), rendering and linking."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ghqa.engine.answer import Citation
from ghqa.engine.citations import (
    MAX_SPAN,
    coerce_citations,
    link_citations,
    parse_citations,
    render_citations,
    verify_citations,
)

FAIR = Path(__file__).resolve().parents[2] / "shared/data/linux-sched/kernel/sched/fair.c"
SHA = "0123456789abcdef0123456789abcdef01234567"
WEB = "https://github.com/torvalds/linux"
LINE_228 = "#define WMULT_SHIFT\t32"
LINE_259 = "static u64 __calc_delta(u64 delta_exec, unsigned long weight, struct load_weight *lw)"
LINE_289 = "static inline u64 calc_delta_fair(u64 delta, struct sched_entity *se)"
SMALL = "int a;\nint b;\nint c;\nint d;\nint e;\n"


def build_repo(base: Path) -> Path:
    """A checkout: fair.c, a 5-line file, two util.h, a binary, symlinks in and out, .git."""
    root = base / "repo"
    sched = root / "kernel" / "sched"
    sched.mkdir(parents=True)
    shutil.copyfile(FAIR, sched / "fair.c")
    (root / "small.c").write_text(SMALL)
    (root / "empty.c").write_text("")
    for d in ("lib", "include"):
        (root / d).mkdir()
        (root / d / "util.h").write_text(f"/* {d} */\n")
    (root / "tools").mkdir()
    (root / "tools" / "blob.bin").write_bytes(b"ELF\x00\x01\x02\n" * 10)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (base / "secret.txt").write_text("token=hunter2\n")
    os.symlink("../secret.txt", root / "escape.c")
    os.symlink(base, root / "outside_dir")
    os.symlink("small.c", root / "alias.c")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return build_repo(tmp_path)


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(tmp_path_factory.mktemp("cite"))


def labels(citations: list[Citation]) -> list[str]:
    return [c.label for c in citations]


def verify(root: Path, *cites: Citation, **kw: Any) -> tuple[list[Citation], list[str]]:
    kept, dropped = verify_citations(cites, root, SHA, **kw)
    return kept, [d.reason for d in dropped]


def test_fair_c_snapshot_facts() -> None:
    lines = FAIR.read_text().split("\n")
    assert lines[227] == LINE_228
    assert lines[258] == LINE_259
    assert lines[288] == LINE_289


# -- parse_citations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see kernel/sched/fair.c:259 for it", ["kernel/sched/fair.c:259"]),
        ("kernel/sched/fair.c:259-284", ["kernel/sched/fair.c:259-284"]),
        ("in `fair.c:259–284` (en dash)", ["fair.c:259-284"]),
        ("fair.c:259 — 284", ["fair.c:259-284"]),
        ("kernel/sched/fair.c:L259-L284", ["kernel/sched/fair.c:259-284"]),
        ("kernel/sched/fair.c#L259-L284", ["kernel/sched/fair.c:259-284"]),
        ("kernel/sched/fair.c#L289", ["kernel/sched/fair.c:289"]),
        ("kernel/sched/fair.c lines 259-284", ["kernel/sched/fair.c:259-284"]),
        ("kernel/sched/fair.c (lines 259–284).", ["kernel/sched/fair.c:259-284"]),
        ("`kernel/sched/fair.c` lines 259 to 284", ["kernel/sched/fair.c:259-284"]),
        ("fair.c, line 228", ["fair.c:228"]),
        ("- fair.c:1\n- core.c:2-3\n* sched.h:4", ["fair.c:1", "core.c:2-3", "sched.h:4"]),
        ("[kernel/sched/fair.c:1-2]", ["kernel/sched/fair.c:1-2"]),
        ("[the delta](kernel/sched/fair.c#L1-L2)", ["kernel/sched/fair.c:1-2"]),
        ("[`fair.c:7`](#notes)", ["fair.c:7"]),
        (
            "at https://github.com/torvalds/linux/blob/abc123/kernel/sched/fair.c#L259-L284.",
            ["kernel/sched/fair.c:259-284"],
        ),
        ("<https://github.com/o/n/blob/main/src/a%20b.py#L3>", ["src/a b.py:3"]),
        ("scripts/Makefile:12 and .gitignore:3", ["scripts/Makefile:12", ".gitignore:3"]),
        ("fair.c:284-259", ["fair.c:284-259"]),
    ],
)
def test_parse_forms(text: str, expected: list[str]) -> None:
    assert labels(parse_citations(text)) == expected


def test_parse_link_prefers_target_and_keeps_order() -> None:
    text = (
        "First [fair.c:259](https://github.com/o/n/blob/sha/kernel/sched/fair.c#L259), then "
        "core.c:10-20, again kernel/sched/fair.c:259 and core.c:10-20."
    )
    assert labels(parse_citations(text)) == ["kernel/sched/fair.c:259", "core.c:10-20"]
    assert all(c.commit == "" and c.quote is None and c.url is None for c in parse_citations(text))


@pytest.mark.parametrize(
    "text",
    [
        "http://example.com:8080/path and https://github.com/o/n/blob/main/x.c",
        "at 12:30, version v1.2:3 or 3.11:4, Makefile:3, localhost:80",
        "kernel/sched/:12 and fair.c: see below and fair.c:x",
        "a number 1/2:3 and fair.c:12345678901",
    ],
)
def test_parse_ignores_non_citations(text: str) -> None:
    assert parse_citations(text) == []


ADVERSARIAL = [
    "a" * 1_000_000,
    "a/" * 500_000,
    "fair.c:" * 150_000,
    "[" * 1_000_000,
    "[a](" * 250_000,
    "a.c" + " " * 1_000_000 + "lines 1",
    "a.c:1-" * 170_000,
    "`" * 1_000_000,
    "http://" * 150_000,
    "a.c (lines " * 100_000,
    "a.c#L1-" * 150_000,
    "[a.c:1]" * 140_000,
    "a." + "a" * 1_000_000 + ".1:1",
    "x.y/" + "a." * 500_000,
    "(" * 500_000 + ")" * 500_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_parse_is_fast_on_adversarial_input(text: str) -> None:
    # Linear parsing takes a fraction of a second; quadratic backtracking takes minutes. The
    # bound is loose so a busy machine does not fail it.
    started = time.perf_counter()
    parse_citations(text)
    assert time.perf_counter() - started < 15


CITEY = st.text(alphabet="ab/._-:–#L0123456789 `[]()lines\nhttps:/github.com", max_size=300)


@given(st.one_of(st.text(max_size=500), CITEY))
def test_parse_never_raises(text: str) -> None:
    for c in parse_citations(text):
        assert isinstance(c.path, str) and c.path
        assert isinstance(c.start, int) and isinstance(c.end, int)


# -- coerce_citations ------------------------------------------------------------------------------


def test_coerce_accepts_the_usual_shapes() -> None:
    raw = [
        "kernel/sched/fair.c:259-284",
        {"path": "a.c", "start": 1, "end": 5, "quote": "int a;"},
        {"path": "b.c", "lines": "3-4"},
        {"path": "c.c", "line": 7},
        {"file": "d.c", "start_line": "8", "end_line": "L9"},
        {"path": "e.c", "lines": [2, 6]},
        {"path": "f.c:10-12"},
        ("g.c", 1, 2),
        ["h.c", 3],
        "i.c lines 4-5",
    ]
    got = coerce_citations(raw)
    assert labels(got) == [
        "kernel/sched/fair.c:259-284",
        "a.c:1-5",
        "b.c:3-4",
        "c.c:7",
        "d.c:8-9",
        "e.c:2-6",
        "f.c:10-12",
        "g.c:1-2",
        "h.c:3",
        "i.c:4-5",
    ]
    assert got[1].quote == "int a;"


def test_coerce_strings_and_wrappers() -> None:
    assert coerce_citations(None) == []
    assert labels(coerce_citations("a.c:1, b.c:2-3 and a.c:1")) == ["a.c:1", "b.c:2-3"]
    assert labels(coerce_citations('[{"path": "a.c", "start": 2}]')) == ["a.c:2"]
    assert labels(coerce_citations({"citations": ["x/y.py:3"]})) == ["x/y.py:3"]
    assert labels(coerce_citations("`kernel/sched/fair.c` 259-284")) == [
        "kernel/sched/fair.c:259-284"
    ]
    assert coerce_citations([Citation("a.c", 1, 2)]) == [Citation("a.c", 1, 2)]


def test_coerce_ignores_what_it_cannot_parse() -> None:
    raw = [
        "no citation here",
        {"path": "a.c"},
        {"path": 3, "start": 1},
        {"start": 1, "end": 2},
        ("a.c", "x"),
        ("a.c", True),
        ("a.c", 1e20),
        42,
        None,
        {"path": "ok.c", "start": 4.0},
    ]
    assert labels(coerce_citations(raw)) == ["ok.c:4"]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["a.c:1-2", "fair.c", "lines", "1-5", "L3"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(
            st.sampled_from(["path", "file", "start", "end", "line", "lines", "quote", "x"])
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@given(JSON)
def test_coerce_never_raises(raw: object) -> None:
    for c in coerce_citations(raw):
        assert isinstance(c, Citation)
        assert isinstance(c.start, int) and isinstance(c.end, int)


# -- verify_citations ------------------------------------------------------------------------------


def test_verify_keeps_and_links(repo: Path) -> None:
    kept, dropped = verify(
        repo, Citation("kernel/sched/fair.c", 259, 284), Citation("small.c", 2, 2), web_url=WEB
    )
    assert dropped == []
    assert labels(kept) == ["kernel/sched/fair.c:259-284", "small.c:2"]
    assert kept[0].commit == SHA
    assert kept[0].url == f"{WEB}/blob/{SHA}/kernel/sched/fair.c#L259-L284"
    assert kept[1].url == f"{WEB}/blob/{SHA}/small.c#L2"
    kept, _ = verify(repo, Citation("small.c", 1, 2))
    assert kept[0].url is None and kept[0].commit == SHA


def test_verify_normalizes_and_resolves_suffixes(repo: Path) -> None:
    kept, dropped = verify(
        repo,
        Citation("./kernel/sched/fair.c", 228, 228),
        Citation("/kernel/sched/fair.c", 259, 259),
        Citation("fair.c", 289, 289),
        Citation("sched/fair.c", 300, 301),
        Citation(f"{os.path.realpath(repo)}/small.c", 1, 1),
        Citation(" `small.c` ", 3, 3),
    )
    assert dropped == []
    assert labels(kept) == [
        "kernel/sched/fair.c:228",
        "kernel/sched/fair.c:259",
        "kernel/sched/fair.c:289",
        "kernel/sched/fair.c:300-301",
        "small.c:1",
        "small.c:3",
    ]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("util.h", "util.h is ambiguous: 2 files match (include/util.h, lib/util.h)"),
        ("nope.c", f"nope.c does not exist at commit {SHA[:12]}"),
        ("../secret.txt", "../secret.txt is not a path inside the repository"),
        ("kernel/../../secret.txt", "is not a path inside the repository"),
        ("/etc/passwd", "etc/passwd does not exist"),
        ("escape.c", "escape.c is a symlink that points outside the repository"),
        ("outside_dir/secret.txt", "symlink that points outside the repository"),
        (".git/config", "is not a path inside the repository"),
        ("kernel/sched", "kernel/sched is a directory, not a file"),
        ("tools/blob.bin", "tools/blob.bin is a binary file"),
        ("small.c\x00.py", "is not a path inside the repository"),
        ("", "the citation has no file path"),
    ],
)
def test_verify_rejects_bad_paths(repo: Path, path: str, reason: str) -> None:
    kept, reasons = verify(repo, Citation(path, 1, 1))
    assert kept == []
    assert len(reasons) == 1 and reason in reasons[0]


def test_verify_symlink_inside_is_fine(repo: Path) -> None:
    kept, dropped = verify(repo, Citation("alias.c", 1, 2))
    assert dropped == [] and labels(kept) == ["alias.c:1-2"]


def test_verify_allowed(repo: Path) -> None:
    only_lib = lambda p: not p.startswith("include/")  # noqa: E731
    kept, reasons = verify(repo, Citation("util.h", 1, 1), allowed=only_lib)
    assert labels(kept) == ["lib/util.h:1"] and reasons == []
    kept, reasons = verify(repo, Citation("include/util.h", 1, 1), allowed=only_lib)
    assert kept == [] and reasons == ["include/util.h is not among the files that may be cited"]


def test_verify_line_rules(repo: Path) -> None:
    kept, reasons = verify(
        repo,
        Citation("small.c", 4, 2),  # reversed: swapped
        Citation("kernel/sched/fair.c", 13680, 20000),  # end clamped
        Citation("small.c", 0, 3),
        Citation("small.c", 900, 901),
        Citation("empty.c", 1, 1),
        Citation("kernel/sched/fair.c", 1, MAX_SPAN + 1),
        Citation("kernel/sched/fair.c", 1000, 999 + MAX_SPAN),  # exactly the maximum
    )
    assert labels(kept) == [
        "small.c:2-4",
        "kernel/sched/fair.c:13680-13683",
        f"kernel/sched/fair.c:1000-{999 + MAX_SPAN}",
    ]
    assert reasons == [
        "line 0 does not exist: lines start at 1",
        "line 900 is past the end of small.c (5 lines)",
        "line 1 is past the end of empty.c (0 lines)",
        f"kernel/sched/fair.c:1-{MAX_SPAN + 1} spans {MAX_SPAN + 1} lines, too vague to check "
        f"(max {MAX_SPAN})",
    ]


def test_verify_quotes(repo: Path) -> None:
    fair = "kernel/sched/fair.c"
    kept, reasons = verify(
        repo,
        Citation(
            fair,
            259,
            284,
            quote="static  u64 __calc_delta(u64 delta_exec,\tunsigned long "
            "weight, struct load_weight *lw)  ",
        ),  # fmt: skip
        Citation(fair, 240, 245, quote=LINE_228),  # 12 lines below: moved up onto 228
        Citation(fair, 280, 284, quote=LINE_289),  # 5 lines above: moved down onto 289
        Citation(fair, 259, 260, quote="259:\t" + LINE_259),  # a line-number prefix
        Citation(fair, 600, 610, quote=LINE_289),  # too far away
        Citation(fair, 228, 228, quote="}"),  # not in the span, not unique nearby
        Citation("small.c", 1, 2, quote="   "),  # a blank quote is no quote
    )
    assert labels(kept) == [
        "kernel/sched/fair.c:259-284",
        "kernel/sched/fair.c:228-233",
        "kernel/sched/fair.c:285-289",
        "small.c:1-2",
    ]
    assert reasons == [
        "quoted text not found near kernel/sched/fair.c:600-610",
        "quoted text not found near kernel/sched/fair.c:228-228",
    ]


def test_verify_merges_duplicates_and_nested_spans(repo: Path) -> None:
    kept, _ = verify(
        repo,
        Citation("small.c", 2, 3),
        Citation("kernel/sched/fair.c", 260, 270),
        Citation("small.c", 2, 3),
        Citation("small.c", 1, 4),  # contains 2-3: takes its place
        Citation("kernel/sched/fair.c", 259, 284),
        Citation("fair.c", 265, 266),  # resolved, then inside 259-284
        Citation("small.c", 4, 5),  # overlaps without nesting: kept
    )
    assert labels(kept) == ["small.c:1-4", "kernel/sched/fair.c:259-284", "small.c:4-5"]


def test_verify_with_read_callback(tmp_path: Path) -> None:
    files = {"src/a.py": "x = 1\ny = 2\n", "src/bin.dat": "a\x00b"}
    calls: list[str] = []

    def read(path: str) -> str | None:
        calls.append(path)
        return files.get(path)

    kept, reasons = verify(
        tmp_path,
        Citation("src/a.py", 1, 2),
        Citation("src/a.py", 2, 2),
        Citation("src/a.py", 3, 3),
        Citation("src/b.py", 1, 1),
        Citation("src/bin.dat", 1, 1),
        read=read,
        web_url=WEB + "/",
    )
    assert labels(kept) == ["src/a.py:1-2"]
    assert kept[0].url == f"{WEB}/blob/{SHA}/src/a.py#L1-L2"
    assert reasons == [
        "line 3 is past the end of src/a.py (2 lines)",
        f"src/b.py does not exist at commit {SHA[:12]}",
        "src/bin.dat is a binary file",
    ]
    assert calls.count("src/a.py") == 1


def test_verify_quotes_paths_in_urls(tmp_path: Path) -> None:
    (tmp_path / "a b#c.md").write_text("hello\n")
    kept, _ = verify(tmp_path, Citation("a b#c.md", 1, 1), web_url=WEB)
    assert kept[0].url == f"{WEB}/blob/{SHA}/a%20b%23c.md#L1"


REAL_PATHS = ["kernel/sched/fair.c", "fair.c", "small.c", "util.h", "escape.c", "alias.c",
              "tools/blob.bin", "empty.c", "kernel", "../secret.txt", "/small.c"]  # fmt: skip
LINE_COUNTS = {"kernel/sched/fair.c": 13683, "small.c": 5, "alias.c": 5, "lib/util.h": 1}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.builds(
            Citation,
            path=st.sampled_from(REAL_PATHS) | st.text(max_size=30),
            start=st.integers(-3, 14_000) | st.integers(),
            end=st.integers(-3, 14_000) | st.integers(),
            quote=st.none() | st.text(max_size=40) | st.sampled_from([LINE_228, LINE_289, "}"]),
        ),
        max_size=6,
    )
)
def test_verify_never_raises_and_keeps_valid_spans(
    shared_repo: Path, cites: list[Citation]
) -> None:
    kept, dropped = verify_citations(cites, shared_repo, SHA, web_url=WEB)
    assert len(kept) + len(dropped) <= len(cites)
    for c in kept:
        assert 1 <= c.start <= c.end <= LINE_COUNTS[c.path]
        assert c.end - c.start < MAX_SPAN
        assert c.commit == SHA and c.url and c.url.startswith(f"{WEB}/blob/{SHA}/{c.path}#L")
    assert all(d.reason and "\n" not in d.reason for d in dropped)


# -- rendering and linking -------------------------------------------------------------------------


def linked(path: str, start: int, end: int) -> Citation:
    frag = f"#L{start}" if start == end else f"#L{start}-L{end}"
    return Citation(path, start, end, commit=SHA, url=f"{WEB}/blob/{SHA}/{path}{frag}")


def test_render_citations() -> None:
    cites = [linked("kernel/sched/fair.c", 259, 284), Citation("small.c", 3, 3)]
    assert render_citations(cites) == (
        f"- [`kernel/sched/fair.c:259-284`]({WEB}/blob/{SHA}/kernel/sched/fair.c#L259-L284)\n"
        "- `small.c:3`"
    )
    assert render_citations([]) == ""


def test_link_citations() -> None:
    fair = linked("kernel/sched/fair.c", 259, 284)
    url = fair.url
    text = (
        "It scales in `kernel/sched/fair.c:259-284`, see fair.c:260 and [fair.c:259-284].\n"
        "Also `fair.c` lines 262-263, unverified core.c:5 and outside fair.c:300.\n"
        "Existing [fair.c:259](http://x.test/y) stays, so does https://x.test/fair.c:259.\n"
        "```c\nfair.c:259\n```\n"
    )
    out = link_citations(text, [fair])
    assert out == (
        f"It scales in [`kernel/sched/fair.c:259-284`]({url}), see "
        f"[fair.c:260]({WEB}/blob/{SHA}/kernel/sched/fair.c#L260) and [fair.c:259-284]({url}).\n"
        f"Also [`fair.c` lines 262-263]({WEB}/blob/{SHA}/kernel/sched/fair.c#L262-L263), "
        "unverified core.c:5 and outside fair.c:300.\n"
        "Existing [fair.c:259](http://x.test/y) stays, so does https://x.test/fair.c:259.\n"
        "```c\nfair.c:259\n```\n"
    )
    assert link_citations(text, [Citation("kernel/sched/fair.c", 259, 284)]) == text


def test_link_citations_ambiguous_mention_is_left_alone() -> None:
    cites = [linked("lib/util.h", 1, 5), linked("include/util.h", 1, 5)]
    assert link_citations("see util.h:2", cites) == "see util.h:2"
    assert link_citations("see lib/util.h:2", cites) == (
        f"see [lib/util.h:2]({WEB}/blob/{SHA}/lib/util.h#L2)"
    )
