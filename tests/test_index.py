"""The indexer on the linux-sched repository: symbols, spans, callers, caching."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ghqa.errors import IndexingError
from ghqa.fetch import fetch, parse_spec
from ghqa.index import build_index
from ghqa.index.repoindex import RepoIndex
from ghqa.index.store import BlobRow, IndexStore, store_path
from ghqa.index.symbols import RefRow, SymbolRow
from ghqa.settings import Settings

from helpers import Recorder, commit_all


def index_of(repo: Path, settings: Settings, *paths: str, reporter=None) -> RepoIndex:  # type: ignore[no-untyped-def]
    co = fetch(parse_spec(str(repo), paths), settings)
    return build_index(co, settings, reporter) if reporter else build_index(co, settings)


@pytest.fixture
def sched_index(sched_repo: Path, settings: Settings) -> RepoIndex:
    return index_of(sched_repo, settings, "kernel/sched")


def test_known_definitions_and_spans(sched_index: RepoIndex) -> None:
    (calc,) = sched_index.symbols(name="calc_delta_fair")
    assert (calc.path, calc.line, calc.end_line, calc.kind) == (
        "kernel/sched/fair.c",
        289,
        295,
        "function",
    )
    (calc2,) = sched_index.symbols(name="__calc_delta")
    assert (calc2.path, calc2.line, calc2.end_line) == ("kernel/sched/fair.c", 259, 284)
    (shift,) = sched_index.symbols(name="WMULT_SHIFT")
    assert (shift.path, shift.line, shift.kind) == ("kernel/sched/fair.c", 228, "macro")
    rq = [s for s in sched_index.symbols(name="rq", kind="struct")]
    assert [(s.path, s.line) for s in rq] == [("kernel/sched/sched.h", 1096)]
    assert rq[0].end_line > 1200  # the whole struct body
    (wmult,) = sched_index.symbols(name="sched_prio_to_wmult", kind="variable")
    assert (wmult.path, wmult.line) == ("kernel/sched/core.c", 10030)


def test_callers_of_calc_delta_fair(sched_index: RepoIndex) -> None:
    sites = [(r.path, r.line, r.caller) for r in sched_index.callers("calc_delta_fair")]
    assert sites == [
        ("kernel/sched/fair.c", 697, "entity_lag"),
        ("kernel/sched/fair.c", 1023, "update_deadline"),
        ("kernel/sched/fair.c", 1230, "update_curr"),
        ("kernel/sched/fair.c", 5273, "place_entity"),
        ("kernel/sched/fair.c", 9032, "yield_task_fair"),
    ]
    callees = {r.name for r in sched_index.callees("calc_delta_fair")}
    assert "__calc_delta" in callees


def test_definitions_rank_bodies_first_and_enclosing(sched_index: RepoIndex) -> None:
    first = sched_index.definitions("rq")[0]
    assert (first.kind, first.path) == ("struct", "kernel/sched/sched.h")
    inside = sched_index.enclosing("kernel/sched/fair.c", 1230)
    assert inside is not None and inside.name == "update_curr"


def test_kernel_macro_definitions(sched_index: RepoIndex) -> None:
    # SYSCALL_DEFINE1(nice, int, increment) { ... } in syscalls.c defines sys_nice.
    (nice,) = sched_index.symbols(name="sys_nice")
    assert nice.path == "kernel/sched/syscalls.c" and nice.end_line > nice.line
    # Annotation macros are not mistaken for names: `static int __read_mostly cpu_idle_force_poll;`
    assert sched_index.symbols(name="cpu_idle_force_poll", kind="variable")
    assert not sched_index.symbols(name="__read_mostly")


def test_files_only_from_requested_paths(sched_index: RepoIndex) -> None:
    files = sched_index.files()
    assert len(files) == 42
    assert all(f.path.startswith("kernel/sched/") for f in files)
    fair = next(f for f in files if f.path == "kernel/sched/fair.c")
    assert fair.lang == "c" and fair.size == 373040 and not fair.flags
    assert fair.sha == "2d16c8545c71ed129f58e6c05820183a644fa741"  # from the data's MANIFEST
    assert next(f for f in files if f.path == "kernel/sched/Makefile").lang == "make"


def test_symbol_path_filter(sched_index: RepoIndex) -> None:
    in_pelt = sched_index.symbols(path="kernel/sched/pelt.c")
    assert in_pelt and {s.path for s in in_pelt} == {"kernel/sched/pelt.c"}
    assert sched_index.symbols(path="kernel/sched") and not sched_index.symbols(path="kernel/sch")


def test_warm_reindex_is_a_cache_hit(sched_repo: Path, settings: Settings) -> None:
    index_of(sched_repo, settings, "kernel/sched")
    log = Recorder()
    again = index_of(sched_repo, settings, "kernel/sched", reporter=log)
    assert log.data("index", "cached") == [True]
    assert again.callers("calc_delta_fair")


def test_only_changed_files_are_reparsed(sched_repo: Path, settings: Settings) -> None:
    index_of(sched_repo, settings, "kernel/sched")
    pelt = sched_repo / "kernel/sched/pelt.c"
    pelt.write_text(
        pelt.read_text() + "\nint ghqa_added_symbol(void) { return calc_delta_fair(1, 0); }\n"
    )
    commit_all(sched_repo, "add a function to pelt.c")
    log = Recorder()
    index = index_of(sched_repo, settings, "kernel/sched", reporter=log)
    assert log.data("index", "parsed") == [1]
    (added,) = index.symbols(name="ghqa_added_symbol")
    assert added.path == "kernel/sched/pelt.c"
    assert [r.caller for r in index.callers("calc_delta_fair")][-1] == "ghqa_added_symbol"
    assert len(index.callers("calc_delta_fair")) == 6


def test_checked_out_files_that_differ_from_their_blob_are_read_from_git(
    sched_repo: Path, settings: Settings
) -> None:
    # The indexer reads the checked-out files, which is quick, but only where they still hash to
    # the commit's blob: here one is edited in the cache and another is gone.
    co = fetch(parse_spec(str(sched_repo), ["kernel/sched"]), settings)
    fair = co.root / "kernel/sched/fair.c"
    fair.write_text("int ghqa_edited_in_the_cache(void) { return 0; }\n" + fair.read_text())
    (co.root / "kernel/sched/pelt.c").unlink()
    index = build_index(co, settings)
    assert not index.symbols(name="ghqa_edited_in_the_cache")
    (calc,) = index.symbols(name="calc_delta_fair")
    assert (calc.path, calc.line) == ("kernel/sched/fair.c", 289)
    assert index.symbols(path="kernel/sched/pelt.c")  # from git, though not on disk


@pytest.mark.parametrize("new_index", [True, False], ids=["new-index", "existing-index"])
def test_a_commit_git_cannot_list_is_one_clear_error(
    sched_repo: Path, settings: Settings, new_index: bool
) -> None:
    # With no index file yet, git lists the tree while the file is created: a failure there
    # must read the same as with an index already there, and leave no git process behind.
    co = fetch(parse_spec(str(sched_repo), ["kernel/sched"]), settings)
    if new_index:
        store_path(settings.cache_root).unlink(missing_ok=True)
        assert not list(settings.cache_root.glob("index-*"))
    else:
        build_index(co, settings).close()
    missing = dataclasses.replace(co, commit="0" * 40)
    with pytest.raises(IndexingError, match=r"^Cannot list the files of 000000000000: .+") as e:
        build_index(missing, settings)
    assert "\n" not in str(e.value)
    assert not _git_children_of_this_process()


def _git_children_of_this_process() -> list[str]:
    """Child processes running git (or exited and not reaped); an indexing worker of an earlier
    build may still be waiting to be reaped, which is not what these tests look for."""
    me = str(os.getpid())
    return [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _stat(p) == ("git", me)]


def _stat(proc: Path) -> tuple[str, str]:
    """A process's command name and parent ("", "" if it is gone)."""
    try:
        text = (proc / "stat").read_text()
    except OSError:
        return "", ""
    head, _, tail = text.rpartition(")")
    return head.partition("(")[2], tail.split()[1]


def test_a_damaged_index_is_set_aside_and_built_again(sched_repo: Path, settings: Settings) -> None:
    index_of(sched_repo, settings, "kernel/sched").close()
    db = store_path(settings.cache_root)
    db.write_bytes(b"not what SQLite wrote " * 400)  # what a crash of the machine might leave
    index = index_of(sched_repo, settings, "kernel/sched")
    (calc,) = index.symbols(name="calc_delta_fair")
    assert (calc.path, calc.line) == ("kernel/sched/fair.c", 289)
    assert [p.name for p in db.parent.glob(f"{db.name}.damaged-*")]  # kept to look at


def test_binary_generated_vendored_and_symlinks_are_flagged(
    tmp_path: Path, settings: Settings
) -> None:
    repo = tmp_path / "mixed"
    (repo / "src").mkdir(parents=True)
    (repo / "vendor/lib").mkdir(parents=True)
    (repo / "src/main.c").write_text(
        "int main(void) { return helper(); }\nint helper(void) { return 0; }\n"
    )
    (repo / "src/blob.c").write_bytes(b"\x00\x01\x02" * 100)
    (repo / "src/gen.c").write_text(
        "/* Code generated by tool. DO NOT EDIT. */\nint gen(void) { return 1; }\n"
    )
    (repo / "vendor/lib/lib.c").write_text("int vendored(void) { return 2; }\n")
    (repo / "src/passwd.c").symlink_to("/etc/passwd")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit_all(repo, "mixed content")
    index = index_of(repo, settings)
    flags = {f.path: f.flags for f in index.files()}
    assert flags["src/main.c"] == frozenset()
    assert flags["src/blob.c"] == {"binary"}
    assert flags["src/gen.c"] == {"generated"}
    assert flags["vendor/lib/lib.c"] == {"vendored"}
    assert flags["src/passwd.c"] == {"symlink"}
    names = {s.name for s in index.symbols()}
    assert names == {"main", "helper"}


def _ctags(root: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        ["ctags", "-R", "--output-format=json", "--fields=+nKe", "-f", "-", "kernel/sched"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tags = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [t for t in tags if t.get("_type") == "tag" and str(t["path"]).endswith((".c", ".h"))]


@pytest.mark.skipif(shutil.which("ctags") is None, reason="universal-ctags is not installed")
def test_recall_against_universal_ctags(
    sched_index: RepoIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every ctags definition (name, file, line) should fall inside one of ours of that name.

    ctags reports the line of the name, we report the whole span, so a tag counts as found when
    its line lies within a definition of the same name in the same file. Tags that ctags itself
    gets wrong (anonymous types, annotation macros taken for names, macro calls taken for
    functions such as SYSCALL_DEFINE1) are reported separately.
    """
    spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for s in sched_index.symbols():
        spans.setdefault((s.path, s.name), []).append((s.line, s.end_line))
    ours_at = {(s.path, s.line) for s in sched_index.symbols()}
    blanked = set(
        (Path(__file__).parent.parent / "ghqa/index/queries/c.blank")
        .read_text()
        .replace("()", "")
        .split()
    )
    totals: dict[str, list[int]] = {}
    for tag in _ctags(sched_index.checkout.root):
        name, path, line, kind = (
            str(tag["name"]),
            str(tag["path"]),
            int(tag["line"]),
            str(tag["kind"]),
        )  # type: ignore[call-overload]
        if name.startswith("__anon") or name in blanked:
            continue  # ctags artefacts, not names in the code
        found = any(a <= line <= b for a, b in spans.get((path, name), []))
        if not found and name.startswith(("SYSCALL_DEFINE", "COMPAT_SYSCALL_DEFINE")):
            found = any(
                a <= line <= b
                for (p, n), v in spans.items()
                if p == path and n.startswith(("sys_", "compat_sys_"))
                for a, b in v
            )
        totals.setdefault(kind, [0, 0])
        totals[kind][0] += found
        totals[kind][1] += 1
    hit = sum(h for h, _ in totals.values())
    total = sum(t for _, t in totals.values())
    with capsys.disabled():
        print(
            f"\nrecall against ctags: {hit}/{total} = {hit / total:.3f}; "
            + ", ".join(f"{k} {h}/{t}" for k, (h, t) in sorted(totals.items()))
        )
    assert total > 3000
    assert totals["function"][0] / totals["function"][1] >= 0.99
    assert hit / total >= 0.98
    assert len(ours_at) >= total * 0.95


def test_lookups_by_name_do_not_go_through_every_file(tmp_path: Path, settings: Settings) -> None:
    # On a checkout of 1,000 files, looking a name up costs SQLite tens of steps, not a pass
    # over the snapshot's files (about 14,000 steps here, and growing with the checkout).
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    for i in range(1000):
        body = f"int f{i}(void)\n{{\n\treturn g() + f{(i + 1) % 1000}();\n}}\n"
        (repo / "src" / f"f{i}.c").write_text(body)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    commit_all(repo, "many files")
    index = index_of(repo, settings, "src")
    steps = [0]

    def count() -> int:
        steps[0] += 10
        return 0

    index.store.db.set_progress_handler(count, 10)
    lookups = {
        "symbols": lambda: index.symbols(name="f500"),
        "definitions": lambda: index.definitions("f7"),
        "callers": lambda: index.callers("f500"),
        "callees": lambda: index.callees("f500"),
    }
    for what, lookup in lookups.items():
        steps[0] = 0
        assert lookup(), what
        assert steps[0] < 1000, (what, steps[0])
    index.store.db.set_progress_handler(None, 0)
    assert len(index.symbols(path="src/f1.c")) == 1


def test_rows_written_many_to_a_statement_read_back_exactly(tmp_path: Path) -> None:
    # Counts on both sides of the batch sizes (142 symbols, 166 references, 111 blobs and 199
    # files to a statement), over two snapshots in one store: every row comes back, in order,
    # with its blob, and each blob's id ranges cover exactly its own rows.
    sym_counts, ref_counts = [0, 1, 141, 142, 143, 300], [166, 0, 1, 165, 167, 2]
    store = IndexStore(tmp_path / "index.sqlite")
    written: dict[str, tuple[list[SymbolRow], list[RefRow]]] = {}
    for commit, blob_count in (("a" * 40, 130), ("b" * 40, 7)):
        blobs: list[BlobRow] = []
        for b in range(blob_count):
            sha = f"{commit[0]}{b:039x}"
            n, r = sym_counts[b % 6], ref_counts[b % 5]
            syms = [(f"s{sha}{i}", "function", i + 1, i + 2, f"o{i}" if i % 3 else None)
                    for i in range(n)]  # fmt: skip
            refs = [(f"r{i}", "call", " ".join(str(j + 1) for j in range(i % 4 + 1)))
                    for i in range(r)]  # fmt: skip
            written[sha] = (syms, refs)
            blobs.append(((sha, "c"), 100 + b, frozenset(), syms, refs))
        files = [(f"d{k}/f{b}.c", blob[0], "c", frozenset()) for b, blob in enumerate(blobs)
                 for k in range(2)]  # fmt: skip
        snapshot = store.write_snapshot(commit, ("src",), files, iter(blobs))
        listed = store.db.execute(
            "SELECT f.path, b.sha FROM files f JOIN blobs b ON b.id = f.blob WHERE f.snapshot = ?",
            (snapshot,),
        ).fetchall()
        assert sorted(listed) == sorted((path, key[0]) for path, key, _, _ in files)
    db = store.db
    assert db.execute("SELECT count(*) FROM blobs").fetchone()[0] == len(written) == 137
    for sha, (syms, refs) in written.items():
        blob, s_lo, s_hi, r_lo, r_hi = db.execute(
            "SELECT id, sym_lo, sym_hi, ref_lo, ref_hi FROM blobs WHERE sha = ?", (sha,)
        ).fetchone()
        got_syms = db.execute(
            "SELECT name, kind, line, end_line, scope FROM symbols WHERE blob = ? ORDER BY id",
            (blob,),
        ).fetchall()
        got_refs = db.execute(
            "SELECT name, kind, count, lines FROM refs WHERE blob = ? ORDER BY id", (blob,)
        ).fetchall()
        assert got_syms == syms and s_hi - s_lo + 1 == len(syms)
        assert [(n, k, lines) for n, k, _, lines in got_refs] == refs
        assert [c for _, _, c, _ in got_refs] == [len(r[2].split()) for r in refs]
        assert r_hi - r_lo + 1 == len(refs)
        ids = db.execute("SELECT min(id), max(id) FROM symbols WHERE blob = ?", (blob,)).fetchone()
        assert ids == ((s_lo, s_hi) if syms else (None, None))
    store.close()
