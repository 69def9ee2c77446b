"""A repository built to hurt: symlinks out of the checkout, a 100 MB file, binaries named ``.c``,
invalid UTF-8, a 50,000-line file, minified single-line files of megabytes, file names with
newlines and shell metacharacters, a directory tree 200 levels deep.

It is a real git repository, fetched, indexed and asked about (scripted model, both the direct
and the rlm strategy) through the real pipeline. Nothing outside the checkout may be read (the
symlink targets' contents appear in no index, model request, trace or answer, and ``repo.read``
in the sandbox refuses them), the index stays bounded, and the answers still come.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ghqa.index.files import MAX_PARSE_BYTES
from ghqa.index.store import store_path
from ghqa.pipeline import ask, open_index
from ghqa.settings import Settings

from enginekit import model_settings, run_python, submit
from fakeopenai import FakeOpenAI, Reply
from helpers import commit_all, git

OUTSIDE = "OUTSIDE-CANARY-7f3a9c"  # in a file beside the repository
SSH = "SSH-KEY-CANARY-51be02"  # in a fake ~/.ssh
PASSWD = "root:x:0:0"  # the start of /etc/passwd
CANARIES = (OUTSIDE, SSH, PASSWD)
DEPTH = 200
DEEP = "/".join(["d"] * DEPTH) + "/deep.c"
BIG_BYTES = 100 << 20
HOSTILE_NAMES = [
    "we\nird.c", "$(touch PWNED).c", "`touch PWNED2`.c", "; touch PWNED3 #.c", "-rf.c",
    "--help.c", "a|b&c>d<e.c", "sp ace's \"q\".c", "ünï cödé.c", "*?[x].c", "back\\slash.c",
    "tab\there.c",
]  # fmt: skip
LINK_PATHS = ["links/passwd", "links/ssh_key.c", "links/outside.c", "links/up/etc/passwd",
              "links/etc/passwd", "links/tilde", "links/ssh/id_rsa", "links/loop.c"]  # fmt: skip
ESCAPES = [*LINK_PATHS, "/etc/passwd", "../outside/secret.c", "../../outside/secret.c",
           ".git/config", "links/../../outside/secret.c"]  # fmt: skip
MAIN_C = """\
/* The entry point of the hostile test repository. */
int helper(int x)
{
\treturn x * 2;
}

int hostile_entry(void)
{
\treturn helper(21);
}
"""


def _build(base: Path) -> Path:
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.c").write_text(f'const char *secret = "{OUTSIDE}";\n')
    ssh = base / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_rsa").write_text(f"{SSH}\n")
    repo = base / "repo"
    repo.mkdir()
    (repo / "src").mkdir()
    (repo / "src" / "main.c").write_text(MAIN_C)
    (repo / "README.md").write_text("Hostile test repository; see src/main.c (hostile_entry).\n")
    links = repo / "links"
    links.mkdir()
    (links / "passwd").symlink_to("/etc/passwd")
    (links / "ssh").symlink_to(ssh)
    (links / "ssh_key.c").symlink_to(ssh / "id_rsa")
    (links / "tilde").symlink_to("~/.ssh")
    (links / "up").symlink_to("../../..")
    (links / "etc").symlink_to("/etc")
    (links / "outside.c").symlink_to("../../outside/secret.c")
    (links / "loop.c").symlink_to("loop.c")
    big = repo / "big"
    big.mkdir()
    with open(big / "huge.c", "wb") as f:  # sparse: fast to create, zeros compress to little
        f.truncate(BIG_BYTES)
    (big / "three_mb.c").write_text("int big_0000000;\n" * (3_000_000 // 16))
    binary = repo / "bin"
    binary.mkdir()
    (binary / "blob.c").write_bytes(bytes(range(256)) * 200)
    (binary / "noise.c").write_bytes(bytes((i * 7919 + 13) % 255 + 1 for i in range(65_536)))
    enc = repo / "enc"
    enc.mkdir()
    (enc / "latin1.c").write_bytes(
        b"int caf\xe9(void) { return 1; }\n/* \xff\xfe\xc3\x28 */\n"
        b"int after_bad_bytes(void) { return 2; }\n\xed\xa0\x80\n"
    )
    gen = repo / "gen"
    gen.mkdir()
    (gen / "many.c").write_text(
        "".join(f"int f_{i}(void) {{ return {i}; }}\n" for i in range(50_000))
    )
    (gen / "app.min.js").write_text("var a=1;" + "function m(a){return a+1};" * 150_000)
    (gen / "oneline.c").write_text("int hostile_entry_twin(void){return 1;}" * 40_000)  # 1.6 MB
    names = repo / "names"
    names.mkdir()
    for i, name in enumerate(HOSTILE_NAMES):
        (names / name).write_text(f"int named_{i}(void) {{ return {i}; }}\n")
    deep = repo / DEEP
    deep.parent.mkdir(parents=True)
    deep.write_text("int deepest(void) { return 200; }\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "core.symlinks", "true")
    commit_all(repo, "hostile content")
    return repo


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    started = time.monotonic()
    repo = _build(tmp_path_factory.mktemp("hostile"))
    assert time.monotonic() - started < 30, "building the repository is too slow"
    return repo


def _tree(repo: Path) -> dict[str, tuple[str, int]]:
    out = git(repo, "ls-tree", "-r", "-l", "-z", "HEAD")
    tree = {}
    for record in filter(None, out.split("\0")):
        meta, _, path = record.partition("\t")
        mode, _kind, _sha, size = meta.split()
        tree[path] = (mode, int(size))
    return tree


def test_the_repository_really_holds_the_hostile_content(hostile: Path) -> None:
    tree = _tree(hostile)
    assert tree["big/huge.c"] == ("100644", BIG_BYTES)
    assert all(tree[p][0] == "120000" for p in LINK_PATHS if p in tree)
    assert {f"names/{n}" for n in HOSTILE_NAMES} <= set(tree)
    assert DEEP in tree and DEEP.count("/") == DEPTH
    assert tree["gen/oneline.c"][1] > 1_500_000 and tree["gen/app.min.js"][1] > 3_000_000


def _dump(db: Path) -> bytes:
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump()).encode("utf-8", "surrogateescape")


def test_index_is_bounded_and_reads_nothing_outside(
    hostile: Path, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    index = open_index(f"file://{hostile}", [], None, Settings.resolve({}, cache_dir=isolated))
    seconds = time.monotonic() - started
    try:
        files = {f.path: f for f in index.files()}
        symbols = index.symbols()
        checkout = index.checkout.root
    finally:
        index.close()
    assert seconds < 60
    # Every file is listed, and flagged so that nothing dangerous is parsed or read.
    assert set(files) == set(_tree(hostile))
    for path in LINK_PATHS:
        if path in files:
            assert "symlink" in files[path].flags, path
    assert "large" in files["big/huge.c"].flags and files["big/huge.c"].size == BIG_BYTES
    assert BIG_BYTES > MAX_PARSE_BYTES  # the size limit, not the content, keeps it out
    assert "large" in files["big/three_mb.c"].flags and "large" in files["gen/app.min.js"].flags
    assert "generated" in files["gen/oneline.c"].flags
    assert "binary" in files["bin/blob.c"].flags
    assert not files["gen/many.c"].flags and not files[DEEP].flags
    # Symbols: what was parsable, and nothing from skipped files.
    by_path: dict[str, int] = {}
    for s in symbols:
        by_path[s.path] = by_path.get(s.path, 0) + 1
    assert by_path["gen/many.c"] == 50_000
    latin1 = {s.name for s in symbols if s.path == "enc/latin1.c"}
    assert "after_bad_bytes" in latin1 and any(n.startswith("caf") for n in latin1)
    assert not {"big/huge.c", "big/three_mb.c", "gen/app.min.js", "gen/oneline.c"} & set(by_path)
    assert not any(p.startswith("links/") for p in by_path)
    assert {f"named_{i}" for i in range(len(HOSTILE_NAMES))} <= {s.name for s in symbols}
    assert "deepest" in {s.name for s in symbols}
    parsed = sum(files[p].size for p in by_path)
    assert len(symbols) <= parsed // 20  # at most one per 20 bytes parsed (many.c: one per 33)
    # The SQLite file is bounded by what was parsed, not by the 100 MB or the minified files.
    db = store_path(isolated)
    size = db.stat().st_size + sum(
        p.stat().st_size for p in db.parent.glob(db.name + "-*") if p.is_file()
    )
    assert size < 8 * parsed + (2 << 20), (size, parsed)
    dump = _dump(db)
    for canary in CANARIES:
        assert canary.encode() not in dump
    # The checkout has the links as links; nothing ran the names as shell commands.
    assert (checkout / "links" / "passwd").is_symlink()
    for marker in ("PWNED", "PWNED2", "PWNED3"):
        assert not any(Path(d, marker).exists() for d in (tmp_path, hostile, checkout, isolated))


ATTACK_CELL = (
    "import json\n"
    f"ESCAPES = {ESCAPES!r}\n"
    "for p in ESCAPES:\n"
    "    try:\n"
    "        print('READ', p, repo.read(p, 1, 5))\n"
    "    except Exception as e:\n"
    "        print('REFUSED', repr(p), type(e).__name__, str(e)[:200])\n"
    "for p in ['/etc/passwd', '../outside/secret.c']:\n"
    "    try:\n"
    "        print('OPENED', p, open(p).read()[:50])\n"
    "    except Exception as e:\n"
    "        print('REFUSED-OPEN', repr(p), type(e).__name__)\n"
    "paths = [f.path for f in repo.files]\n"
    "print('FILES', json.dumps(paths))\n"
    "print('GREP', repo.grep('CANARY|root:x:0'))\n"
    "print('LATIN1', repo.read('enc/latin1.c'))\n"
    "print('MANY', repo.read('gen/many.c', 49_999, 50_000))\n"
    "print('MANYLEN', len(repo.lines('gen/many.c')))\n"
    f"print('DEEP', repo.read({DEEP!r}))\n"
    "print('NAMES', [repo.read(p) for p in paths if p.startswith('names/')])\n"
    "print('TWIN', len(repo.grep('hostile_entry_twin')))\n"
    "print('DEF', repo.definition('hostile_entry'))\n"
    "print('HUGE', [f for f in repo.files if f.path.startswith('big/')])\n"
)
ANSWER = "`hostile_entry` returns `helper(21)`, which doubles it (src/main.c:7-10, src/main.c:2-5)."


def _hostile_model(tool_results: list[str]) -> Any:
    def responder(body: dict[str, Any]) -> Reply:
        if "tools" not in body:
            return Reply("sub answer")
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if turns == 0:
            return run_python(ATTACK_CELL)
        tool_results.append(str(body["messages"][-1].get("content") or ""))
        return submit(ANSWER, ["src/main.c:7-10", "src/main.c:2-5"])

    return responder


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, canary


def test_rlm_on_the_hostile_repository(
    hostile: Path, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    results: list[str] = []
    trace = tmp_path / "trace.jsonl"
    with FakeOpenAI(_hostile_model(results)) as server:
        started = time.monotonic()
        answer = ask(
            f"file://{hostile}",
            "what does hostile_entry return? also print links/passwd and ~/.ssh",
            settings=model_settings(server, isolated, strategy="rlm", timeout=120.0),
            trace_path=trace,
        )
        seconds = time.monotonic() - started
        requests = json.dumps(server.requests)
    assert seconds < 90
    assert not answer.partial and "hostile_entry" in answer.text
    assert {c.label for c in answer.citations} == {"src/main.c:7-10", "src/main.c:2-5"}
    [output] = results
    # Each escape was refused by name; no content of a link target reached the model.
    for p in ESCAPES:
        assert f"REFUSED {p!r}" in output, p
    assert "READ " not in output and "OPENED" not in output
    assert "REFUSED-OPEN '/etc/passwd' PermissionError" in output
    listed = json.loads(output.split("FILES ", 1)[1].split("\n", 1)[0])
    assert not any(p.startswith(("links/", "big/huge.c", "bin/blob.c")) for p in listed)
    assert f"names/{HOSTILE_NAMES[0]}" in listed and DEEP in listed
    assert "GREP []" in output
    assert "after_bad_bytes" in output and "\ufffd" in output  # invalid bytes replaced, not fatal
    assert "50000| int f_49999(void)" in output and "MANYLEN 50000" in output
    assert "deepest" in output and "named_0" in output and "named_11" in output
    assert "function hostile_entry at src/main.c:7-10" in output
    _assert_clean(requests, answer.text, json.dumps(answer.to_dict()), trace.read_text())
    assert max(len(json.dumps(r)) for r in server.requests) < 1_000_000


def test_direct_answer_on_the_hostile_repository(
    hostile: Path, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    trace = tmp_path / "trace.jsonl"
    with FakeOpenAI(lambda body: Reply(ANSWER)) as server:
        answer = ask(
            f"file://{hostile}",
            "what is in links/passwd, links/ssh_key.c and outside.c? what does hostile_entry "
            "return? f_49999 hostile_entry_twin secret id_rsa passwd",
            settings=model_settings(server, isolated, strategy="direct"),
            trace_path=trace,
        )
        requests = json.dumps(server.requests)
        biggest = max(len(json.dumps(r)) for r in server.requests)
    assert answer.strategy == "direct" and "hostile_entry" in answer.text
    assert [c.label for c in answer.citations] == ["src/main.c:7-10", "src/main.c:2-5"]
    _assert_clean(requests, answer.text, trace.read_text())
    assert "hostile_entry_twin(void){return 1;}int" not in requests  # the minified line stays out
    assert biggest < 1_000_000


@pytest.mark.parametrize("paths", [["links"], ["links/up"], ["links/etc"]])
def test_asking_about_a_symlinked_path_reads_nothing_through_it(
    hostile: Path, isolated: Path, paths: list[str]
) -> None:
    with FakeOpenAI(lambda body: Reply("There is nothing to read here.")) as server:
        answer = ask(
            f"file://{hostile}",
            "print the passwd file and the ssh key",
            paths,
            settings=model_settings(server, isolated, strategy="direct"),
        )
        requests = json.dumps(server.requests)
    assert answer.text
    _assert_clean(requests, answer.text)


# Sources that are small but pathological for a parser or the symbol walk. Each language's
# extraction runs in a child process under a 1.5 GB address-space limit and a time bound, so a
# regression fails here instead of exhausting the machine (``int a0, a1, ...;`` with 10,000
# declarators once needed more than 4 GB: every declarator copied the declaration's children).
_PATHOLOGICAL = """
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
from ghqa.index.symbols import MAX_REFS_PER_FILE, MAX_SYMBOLS_PER_FILE, extract_rows
n = 20_000
names = ",".join(f"v{i}" for i in range(n))
langs = ["c", "cpp", "java", "go", "javascript", "typescript", "tsx", "python", "rust"]
family = {
    "declarators": {
        "c": f"int {names};",
        "cpp": f"int {names};",
        "java": f"class A {{ int {names}; }}",
        "go": f"package p\\nvar {names} int",
        "javascript": f"var {names};",
        "typescript": f"let {names};",
        "python": f"{names} = 1",
        "rust": f"fn f() {{ let ({names}) = g(); }}",
    },
    "nesting": {k: "x = " + "(" * 20_000 + "1" + ")" * 20_000 + ";" for k in langs},
    "blocks": {k: "void f() " + "{" * 4_000 + "}" * 4_000 for k in langs},
    "calls": {k: "void g() {" + "f();" * 30_000 + "}" for k in langs},
    "unterminated": {k: "int a; /* " + "x" * 200_000 + ' "' + "y" * 200_000 for k in langs},
    "definitions": {"c": "".join(f"int f{i}(void){{}}" for i in range(100_500))},
    # Two calls a line on 50,300 lines: 100,600 uses, of which the first 100,000 are kept.
    "uses": {"c": "void g() {\\n" + "".join(f"f{i % 7}(); f{i % 3}();\\n" for i in range(50_300))},
}
report = {}
for kind, sources in family.items():
    for lang, text in sources.items():
        started = time.monotonic()
        defs, refs = extract_rows(lang, text.encode())
        lines = [int(n) for _, _, used in refs for n in used.split()]
        assert len(defs) <= MAX_SYMBOLS_PER_FILE and len(lines) <= MAX_REFS_PER_FILE
        report[f"{kind}/{lang}"] = [
            len(defs), len(lines), max(lines, default=0), round(time.monotonic() - started, 2)
        ]
print(json.dumps(report))
"""


def test_pathological_sources_parse_in_bounded_memory_and_time() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PATHOLOGICAL], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["declarators/c"][0] == report["declarators/go"][0] == 20_000
    assert report["definitions/c"][0] == 100_000  # capped
    assert report["calls/c"][1] == 30_000
    assert report["uses/c"][1:3] == [100_000, 50_001]  # capped, in line order
    slow = {k: v[3] for k, v in report.items() if v[3] > 10}
    assert not slow, slow
