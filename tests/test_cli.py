"""The command line: commands, output formats, and one clear line for each bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ghqa.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def invoke():  # type: ignore[no-untyped-def]
    def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ghqa", *args], capture_output=True, text=True, timeout=120
        )

    return _invoke


def test_fetch_prints_directory_and_commit(sched_repo: Path, isolated: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    proc = invoke("fetch", str(sched_repo), "kernel/sched")
    assert proc.returncode == 0, proc.stderr
    root, commit = proc.stdout.splitlines()
    assert Path(root).is_relative_to(isolated) and (Path(root) / "kernel/sched/fair.c").is_file()
    assert len(commit) == 40
    data = json.loads(invoke("fetch", str(sched_repo), "kernel/sched", "--json", "-q").stdout)
    assert data["commit"] == commit and data["paths"] == ["kernel/sched"]


def test_symbols_text_and_json(sched_repo: Path) -> None:
    code, out, err = run("symbols", str(sched_repo), "kernel/sched", "--name", "calc_delta_fair")
    assert code == 0, err
    assert out == "kernel/sched/fair.c:289-295\tfunction\tcalc_delta_fair\n"
    assert "ghqa [" in err and "indexing" in err  # progress goes to stderr
    code, out, _ = run(
        "symbols",
        str(sched_repo),
        "kernel/sched",
        "--kind",
        "macro",
        "--prefix",
        "WMULT",
        "--json",
        "-q",
    )
    rows = json.loads(out)
    assert {"path": "kernel/sched/fair.c", "line": 228, "end_line": 228, "name": "WMULT_SHIFT",
            "kind": "macro", "scope": None} in rows  # fmt: skip
    assert all(r["kind"] == "macro" and r["name"].startswith("WMULT") for r in rows)


def test_fetch_and_index_commands_do_not_load_the_engine(sched_repo: Path) -> None:
    # The engine and the model clients take a good part of a command's start-up.
    program = (
        "import sys\n"
        "from ghqa.cli import main\n"
        f"for args in (['fetch', {str(sched_repo)!r}, 'kernel/sched', '-q'],\n"
        f"             ['symbols', {str(sched_repo)!r}, 'kernel/sched', '-q', '--name', 'rq'],\n"
        f"             ['callers', {str(sched_repo)!r}, 'kernel/sched', '-q', 'update_curr']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code\n"
        "print(sorted(m for m in ('ghqa.engine', 'openai') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_symbols_struct_rq(sched_repo: Path) -> None:
    code, out, _ = run(
        "symbols", str(sched_repo), "kernel/sched", "--name", "rq", "--kind", "struct", "-q"
    )
    assert code == 0 and out.startswith("kernel/sched/sched.h:1096-")


def test_callers_text_and_json(sched_repo: Path) -> None:
    code, out, err = run("callers", str(sched_repo), "kernel/sched", "calc_delta_fair", "-q")
    assert code == 0, err
    assert [line.split("\t")[0] for line in out.splitlines()] == [
        f"kernel/sched/fair.c:{n}" for n in (697, 1023, 1230, 5273, 9032)
    ]
    assert err == ""  # quiet
    code, out, _ = run(
        "callers", str(sched_repo), "kernel/sched", "calc_delta_fair", "--json", "-q"
    )
    rows = json.loads(out)
    assert rows[2] == {"path": "kernel/sched/fair.c", "line": 1230, "caller": "update_curr",
                       "name": "calc_delta_fair"}  # fmt: skip


def test_files_lists_requested_paths(sched_repo: Path) -> None:
    code, out, _ = run("files", str(sched_repo), "kernel/sched", "--json", "-q")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 42
    fair = next(r for r in rows if r["path"] == "kernel/sched/fair.c")
    assert fair == {"path": "kernel/sched/fair.c", "size": 373040, "lang": "c",
                    "sha": "2d16c8545c71ed129f58e6c05820183a644fa741", "flags": []}  # fmt: skip
    code, out, _ = run("files", str(sched_repo), "kernel/sched/fair.c", "-q")
    assert out == "kernel/sched/fair.c\t373040\tc\t-\n"


def test_no_match_says_so(sched_repo: Path) -> None:
    code, out, err = run("symbols", str(sched_repo), "kernel/sched", "--name", "no_such_thing")
    assert code == 0 and out == "" and "no symbols match" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fetch", "not a repo"), "Invalid repository 'not a repo'"),
        (("fetch", "{repo}", "kernel/nope"), "Path 'kernel/nope' does not exist"),
        (("fetch", "{repo}", "../etc"), "Invalid path '../etc'"),
        (("fetch", "{repo}", "--ref", "nope"), "Unknown ref 'nope'"),
        (("fetch", "{tmp}/absent"), "No such directory"),
        (("symbols", "{repo}", "--kind", "gizmo"), "Invalid value for '--kind'"),
        (("symbols", "{repo}", "--bogus"), "No such option '--bogus'"),
        (("callers", "{repo}"), "Missing argument"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(
    args: tuple[str, ...], message: str, sched_repo: Path, tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    argv = [a.format(repo=sched_repo, tmp=tmp_path) for a in args]
    proc = invoke(*argv, "-q") if args[0] != "callers" else invoke(*argv)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, proc.stderr
    assert proc.stdout == ""


def test_debug_shows_traceback(invoke, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GHQA_DEBUG", "1")
    proc = invoke("fetch", "not a repo")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_help_and_version(invoke) -> None:  # type: ignore[no-untyped-def]
    proc = invoke("--help")
    assert proc.returncode == 0 and "Examples:" in proc.stdout and "symbols" in proc.stdout
    assert invoke("--version").stdout.startswith("ghqa, version ")
    sub = invoke("callers", "--help")
    assert "[PATH]... NAME" in sub.stdout and "GHQA_CACHE_DIR" in sub.stdout


def test_dotenv_is_read_by_the_cli_only(tmp_path: Path, sched_repo: Path) -> None:
    (tmp_path / ".env").write_text(f"GHQA_CACHE_DIR={tmp_path / 'from-dotenv'}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ghqa", "fetch", str(sched_repo), "kernel/sched", "-q"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={k: v for k, v in __import__("os").environ.items() if k != "GHQA_CACHE_DIR"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(str(tmp_path / "from-dotenv"))
