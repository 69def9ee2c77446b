"""The sandbox for model-written code: REPL behaviour, host calls, and escape attempts.

Every escape attempt must be stopped, reported as an error, and leave the sandbox usable."""

from __future__ import annotations

import dis
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ghqa.engine import worker
from ghqa.engine.sandbox import (
    CellResult,
    HostCallError,
    Sandbox,
    SandboxError,
    SandboxLimits,
)

SECRETS = {"OPENAI_API_KEY": "sk-secret-test-value", "GITHUB_TOKEN": "ghp_secrettoken"}


class Recorder:
    """A host handler that records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any], dict[str, Any]]] = []

    def __call__(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        self.calls.append((name, args, kwargs))
        if name == "echo":
            return {"args": args, "kwargs": kwargs}
        if name == "fail":
            raise HostCallError("no such file: nope.py")
        if name == "crash":
            raise RuntimeError("handler bug")
        if name == "slow":
            time.sleep(float(args[0]))
            return "slept"
        if name == "add":
            return args[0] + args[1]
        if name == "not-json":
            return object()
        raise HostCallError(f"unknown host call {name}")


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@pytest.fixture
def box(handler: Recorder) -> Iterator[Sandbox]:
    with Sandbox(handler, SandboxLimits(cell_timeout=5)) as sandbox:
        yield sandbox


def assert_usable(box: Sandbox) -> None:
    result = box.run("print(1+1)")
    assert result.error is None
    assert result.output == "2\n"


def assert_stopped(box: Sandbox, code: str) -> CellResult:
    result = box.run(code)
    assert result.error is not None, result.output
    assert_usable(box)
    return result


# -- the worker process ------------------------------------------------------------------------


def test_layers_include_at_least_audit_and_rlimits(box: Sandbox) -> None:
    assert {"audit", "rlimits"} <= box.layers
    assert box.layers <= {"rlimits", "netns", "setuid", "landlock", "audit"}


def test_code_runs_in_a_separate_process_with_an_empty_environment(box: Sandbox) -> None:
    result = box.run("import os\nprint(os.getpid())\nprint(sorted(os.environ))")
    assert result.error is None
    pid, env = result.output.splitlines()
    assert int(pid) == box.pid != os.getpid()
    assert env == "['LANG']"


def test_worker_drops_root_when_it_can(box: Sandbox) -> None:
    result = box.run("import os\nos.getuid(), os.getgid(), os.getgroups()")
    if "setuid" in box.layers:
        assert result.output == "(65534, 65534, [])\n"
    else:
        assert result.output == f"({os.getuid()}, {os.getgid()}, {os.getgroups()})\n"


def test_close_kills_the_worker_and_removes_its_directory(handler: Recorder) -> None:
    box = Sandbox(handler)
    tmpdir = box.run("import os\nos.getcwd()").output.strip().strip("'")
    pid = box.pid
    assert pid is not None and Path(tmpdir).is_dir()
    box.close()
    box.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not Path(tmpdir).exists()
    with pytest.raises(SandboxError, match="closed"):
        box.run("1")


def test_a_worker_that_cannot_start_raises_sandbox_error(
    handler: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.executable", "/nonexistent/python")
    with pytest.raises(SandboxError, match="cannot start"):
        Sandbox(handler).start()


# -- the REPL ----------------------------------------------------------------------------------


def test_variables_persist_between_cells(box: Sandbox) -> None:
    assert box.run("x = 20\ndef double(v):\n    return 2 * v").error is None
    assert box.run("print(double(x) + 2)").output == "42\n"


def test_the_last_expression_is_shown_like_a_notebook(box: Sandbox) -> None:
    assert box.run("x = 3\nx * 2").output == "6\n"
    assert box.run("'a' + 'b'").output == "'ab'\n"
    assert box.run("None").output == ""
    assert box.run("print('p')\n[1, 2]").output == "p\n[1, 2]\n"


def test_stdout_and_stderr_are_captured(box: Sandbox) -> None:
    result = box.run("import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert result.output == "out\nerr\n"


def test_a_syntax_error_is_reported_without_running_the_cell(box: Sandbox) -> None:
    result = box.run("print('ran')\nx = (1,\ny = 2 +")
    assert result.output == ""
    assert result.error is not None
    assert "SyntaxError" in result.error
    assert "line 2" in result.error
    assert "^" in result.error
    assert box.run("'x' in dir()").output == "False\n"


def test_a_traceback_shows_only_the_cells_frames(box: Sandbox) -> None:
    box.run("def divide(a):\n    return a / 0")
    result = box.run("x = 1\ndivide(x)")
    assert result.error is not None
    lines = result.error.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "  line 2, in <module>" in lines
    assert "    divide(x)" in lines
    assert "  cell-1, line 2, in divide" in lines
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert "worker" not in result.error and "File" not in result.error


def test_deep_recursion_is_summarized(box: Sandbox) -> None:
    result = box.run("def f(n):\n    return f(n + 1)\nf(0)")
    assert result.error is not None
    assert result.error.count("    return f(n + 1)") == 3
    assert re.search(r"\[previous line repeated \d+ more times\]", result.error)
    assert result.error.endswith("RecursionError: maximum recursion depth exceeded")


def test_an_error_in_library_code_shows_the_cell_line(box: Sandbox) -> None:
    result = box.run("import json\n\njson.loads('{')")
    assert result.error is not None
    assert "  line 3, in <module>" in result.error
    assert "json.decoder.JSONDecodeError" in result.error
    assert "decoder.py" not in result.error


def test_submit_records_the_last_answer_of_the_cell(box: Sandbox) -> None:
    result = box.run("submit('first')\nsubmit(42, ['a.py:1-3', {'path': 'b.py'}])")
    assert result.submitted == {"answer": "42", "citations": ["a.py:1-3", {"path": "b.py"}]}
    assert box.run("1").submitted is None


def test_submit_rejects_citations_that_are_not_json(box: Sandbox) -> None:
    result = box.run("submit('a', [object()])")
    assert result.submitted is None
    assert result.error is not None and "citations must be JSON" in result.error


def test_long_output_keeps_head_and_tail_and_states_its_length(handler: Recorder) -> None:
    with Sandbox(handler, SandboxLimits(max_output=1000)) as box:
        result = box.run("print('H' + 'x' * 5000 + 'T')")
    assert result.error is None
    assert result.output.startswith("Hxxx")
    assert result.output.endswith("xxT\n")
    assert "5003 characters" in result.output
    assert len(result.output) < 1200


def test_scratch_files_in_the_working_directory_are_allowed(box: Sandbox) -> None:
    code = "import os\nwith open('notes.txt', 'w') as f:\n    f.write('kept')\nos.listdir('.')"
    assert box.run(code).output == "['notes.txt']\n"
    assert box.run("open('notes.txt').read()").output == "'kept'\n"


def test_the_standard_library_can_be_imported(box: Sandbox) -> None:
    code = (
        "import collections, dataclasses, decimal, hashlib, re, statistics, textwrap, zlib\n"
        "print(hashlib.sha256(b'a').hexdigest()[:8], zlib.crc32(b'a'), statistics.mean([1, 3]))"
    )
    result = box.run(code)
    assert result.error is None
    assert result.output == "ca978112 3904355907 2\n"


# -- host calls --------------------------------------------------------------------------------


def test_host_calls_reach_the_handler_and_return_its_value(box: Sandbox, handler: Recorder) -> None:
    result = box.run("_host('echo', 1, 'two', [3], key={'k': None})")
    assert result.output == "{'args': [1, 'two', [3]], 'kwargs': {'key': {'k': None}}}\n"
    assert handler.calls == [("echo", [1, "two", [3]], {"key": {"k": None}})]


def test_a_host_call_error_is_raised_as_host_error_in_the_cell(box: Sandbox) -> None:
    caught = box.run("try:\n    _host('fail')\nexcept HostError as e:\n    print('caught:', e)")
    assert caught.output == "caught: no such file: nope.py\n"
    uncaught = box.run("_host('fail')")
    assert uncaught.error is not None
    assert uncaught.error.endswith("HostError: no such file: nope.py")


def test_host_call_arguments_must_be_json(box: Sandbox, handler: Recorder) -> None:
    result = box.run("_host('echo', object())")
    assert result.error is not None and "must be JSON values" in result.error
    assert handler.calls == []


def test_many_host_calls_are_cheap(box: Sandbox, handler: Recorder) -> None:
    started = time.monotonic()
    result = box.run("total = 0\nfor i in range(1000):\n    total = _host('add', total, i)\ntotal")
    elapsed = time.monotonic() - started
    assert result.output == "499500\n"
    assert len(handler.calls) == 1000
    assert elapsed < 1.0


def test_time_in_host_calls_does_not_count_towards_the_cell_timeout(handler: Recorder) -> None:
    with Sandbox(handler, SandboxLimits(cell_timeout=0.5)) as box:
        result = box.run("_host('slow', 0.8)")
    assert result.error is None
    assert result.output == "'slept'\n"


def test_a_handler_bug_propagates_and_the_next_run_gets_a_fresh_worker(
    box: Sandbox,
) -> None:
    box.run("x = 1")
    old_pid = box.pid
    with pytest.raises(RuntimeError, match="handler bug"):
        box.run("_host('crash')")
    assert old_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(old_pid, 0)
    assert_usable(box)
    assert box.pid != old_pid


def test_a_handler_value_that_is_not_json_is_an_engine_bug(box: Sandbox) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        box.run("_host('not-json')")
    assert_usable(box)


# -- the prelude -------------------------------------------------------------------------------

PRELUDE = """
class Repo:
    def read(self, path):
        return _host("echo", path)["args"][0].upper()

repo = Repo()
"""


def test_the_prelude_defines_helpers_that_survive_a_restart(handler: Recorder) -> None:
    with Sandbox(handler, SandboxLimits(cell_timeout=1), prelude=PRELUDE) as box:
        assert box.run("repo.read('a.py')").output == "'A.PY'\n"
        assert box.run("import os\nos.abort()").restarted
        assert box.run("repo.read('b.py')").output == "'B.PY'\n"


def test_a_failing_prelude_raises_sandbox_error(handler: Recorder) -> None:
    with pytest.raises(SandboxError, match="prelude failed(.|\n)*ZeroDivisionError"):
        Sandbox(handler, prelude="1 / 0").start()


# -- timeouts and crashes ----------------------------------------------------------------------


def test_an_endless_loop_times_out_and_the_repl_goes_on(handler: Recorder) -> None:
    with Sandbox(handler, SandboxLimits(cell_timeout=1)) as box:
        box.run("kept = 'yes'")
        started = time.monotonic()
        result = box.run("while True:\n    pass")
        assert time.monotonic() - started < 2
        assert result.error is not None and "timed out after 1s" in result.error
        assert not result.restarted
        assert box.run("kept").output == "'yes'\n"


def test_a_cell_that_swallows_the_timeout_is_killed_and_the_worker_restarted(
    handler: Recorder,
) -> None:
    with Sandbox(handler, SandboxLimits(cell_timeout=1)) as box:
        box.run("kept = 'yes'")
        old_pid = box.pid
        # CPython 3.11 cannot catch an exception raised by a loop that begins its try block, so
        # each loop comes after a statement.
        code = (
            "try:\n    n = 0\n    while True: n += 1\n"
            "except BaseException:\n    n = 0\n    while True: n -= 1"
        )
        started = time.monotonic()
        result = box.run(code)
        assert time.monotonic() - started < 4
        assert result.restarted
        assert result.error == (
            "cell timed out after 1s; the REPL was restarted and earlier variables are lost"
        )
        assert box.pid != old_pid
        assert_usable(box)
        lost = box.run("kept")
        assert lost.error is not None and "NameError" in lost.error


def test_the_cpu_time_limit_kills_the_worker_and_it_is_restarted(handler: Recorder) -> None:
    with Sandbox(handler, SandboxLimits(cell_timeout=10, cpu_seconds=1)) as box:
        result = box.run("while True:\n    pass")
        assert result.restarted
        assert result.error is not None and "SIGXCPU" in result.error
        assert "earlier variables are lost" in result.error
        assert_usable(box)


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\x00\x00\x03abc", b"\xff\xff\xff\xff", b"\x00\x00\x00\x02[]"],
)
def test_garbage_on_the_protocol_pipe_restarts_the_worker(box: Sandbox, garbage: bytes) -> None:
    write_fd = "json.loads(sys.argv[1])['write_fd']"
    code = f"import json, os, sys, time\nos.write({write_fd}, {garbage!r})\ntime.sleep(2)"
    result = box.run(code)
    assert result.restarted
    assert result.error is not None and "the worker sent a" in result.error
    assert_usable(box)


@pytest.mark.parametrize(
    ("code", "reason"),
    [("import os\nos.abort()", "SIGABRT"), ("import os\nos._exit(3)", "status 3")],
)
def test_a_dying_worker_is_reported_and_restarted(box: Sandbox, code: str, reason: str) -> None:
    result = box.run(code)
    assert result.restarted
    assert result.error is not None and reason in result.error
    assert_usable(box)


def test_allocating_ten_gigabytes_fails_with_memory_error(box: Sandbox) -> None:
    result = assert_stopped(box, "x = bytearray(10 * 1024**3)")
    assert result.error is not None and "MemoryError" in result.error


# -- escape attempts: secrets --------------------------------------------------------------------


@pytest.fixture
def secret_box(handler: Recorder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with Sandbox(handler) as sandbox:
        yield sandbox


def assert_no_secret(result: CellResult) -> None:
    for value in SECRETS.values():
        assert value not in result.output
        assert value not in (result.error or "")


def test_secrets_in_the_engines_environment_are_not_inherited(secret_box: Sandbox) -> None:
    assert os.environ["OPENAI_API_KEY"] == SECRETS["OPENAI_API_KEY"]
    result = secret_box.run(
        "import os\nprint(os.environ.get('OPENAI_API_KEY'), os.environ.get('GITHUB_TOKEN'))"
    )
    assert result.output == "None None\n"
    assert_no_secret(result)


@pytest.mark.parametrize("path", ["/proc/self/environ", "/proc/{ppid}/environ", "/proc/1/environ"])
def test_environ_files_cannot_be_read(secret_box: Sandbox, path: str) -> None:
    code = f"import os\nprint(open({path!r}.format(ppid=os.getppid()), 'rb').read())"
    result = assert_stopped(secret_box, code)
    assert "PermissionError" in (result.error or "")
    assert_no_secret(result)


def test_files_outside_the_sandbox_cannot_be_read(box: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("top secret")
    for code in [
        f"open({str(secret)!r}).read()",
        f"import os\nos.open({str(secret)!r}, os.O_RDONLY)",
        f"import pathlib\npathlib.Path({str(secret)!r}).read_text()",
        "open(os.path.expanduser('~/.ssh/id_rsa')).read()",
        "open('/etc/passwd').read()",
        f"open({str(secret)!r}.encode()).read()",
    ]:
        result = assert_stopped(box, code)
        assert "top secret" not in result.output


def test_directories_outside_the_sandbox_cannot_be_listed(box: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "visible-name").touch()
    for code in ["os.listdir('/')", f"os.listdir({str(tmp_path)!r})", "os.scandir('/root')"]:
        result = assert_stopped(box, "import os\n" + code)
        assert "visible-name" not in result.output


def test_relative_escapes_from_the_working_directory_are_stopped(box: Sandbox) -> None:
    assert_stopped(box, "open('../../etc/passwd').read()")
    assert_stopped(box, "import os\nos.chdir('/')\nopen('etc/passwd').read()")


# -- escape attempts: writing ------------------------------------------------------------------


def test_a_checkout_cannot_be_written(box: Sandbox, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "main.py").write_text("print('original')\n")
    for code in [
        f"open({str(checkout / 'main.py')!r}, 'w').write('hacked')",
        f"open({str(checkout / 'new.py')!r}, 'x').write('hacked')",
        f"import os\nos.remove({str(checkout / 'main.py')!r})",
        f"import os\nos.mkdir({str(checkout / 'dir')!r})",
        f"import os\nos.rename({str(checkout / 'main.py')!r}, 'stolen.py')",
        f"import os\nos.chmod({str(checkout / 'main.py')!r}, 0o777)",
    ]:
        assert_stopped(box, code)
    assert sorted(p.name for p in checkout.iterdir()) == ["main.py"]
    assert (checkout / "main.py").read_text() == "print('original')\n"


def test_writing_through_a_symlink_is_stopped(box: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "checkout" / "main.py"
    target.parent.mkdir()
    target.write_text("original")
    code = f"import os\nos.symlink({str(target)!r}, 'link')\nopen('link', 'w').write('hacked')"
    assert_stopped(box, code)
    assert target.read_text() == "original"


def test_writing_through_a_preexisting_symlink_is_stopped(box: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "checkout" / "main.py"
    target.parent.mkdir()
    target.write_text("original")
    tmpdir = box.run("import os\nprint(os.getcwd())").output.strip()
    (Path(tmpdir) / "link").symlink_to(target)
    assert_stopped(box, "open('link', 'w').write('hacked')")
    assert_stopped(box, "open('link').read()")
    assert target.read_text() == "original"


# -- escape attempts: network, processes, ctypes ------------------------------------------------


def test_connecting_to_a_local_socket_is_stopped(box: Sandbox) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        for code in [
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)",
            f"s = __import__('_socket').socket()\ns.connect(('127.0.0.1', {port}))",
        ]:
            result = assert_stopped(box, code)
            assert "PermissionError" in (result.error or "")
        with pytest.raises(TimeoutError):
            listener.accept()


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['id'])",
        "import os\nos.system('id')",
        "import os\nos.fork()",
        "import os\nos.posix_spawn('/usr/bin/id', ['id'], {})",
        "import os\nos.execv('/usr/bin/id', ['id'])",
        "import os\nos.kill(os.getppid(), 9)",
        "import pty\npty.fork()",
        "import _posixsubprocess",
        "import os\nos.putenv('X', '1')",
    ],
)
def test_starting_processes_and_sending_signals_is_stopped(box: Sandbox, code: str) -> None:
    result = assert_stopped(box, code)
    assert "PermissionError" in (result.error or "")


def test_a_fork_bomb_is_stopped_quickly(box: Sandbox) -> None:
    started = time.monotonic()
    assert_stopped(box, "import os\nwhile True:\n    os.fork()")
    assert time.monotonic() - started < 2


def test_threads_cannot_be_started(box: Sandbox) -> None:
    result = box.run("import threading\nthreading.Thread(target=print).start()")
    if "rlimits" in box.layers and ("setuid" in box.layers or os.getuid() != 0):
        assert result.error is not None and "can't start new thread" in result.error
    assert_usable(box)


@pytest.mark.parametrize(
    "code",
    [
        "import ctypes",
        "__import__('_ctypes')",
        "import importlib\nimportlib.import_module('_ctypes')",
        "import sys\nsys.modules['ctypes']",
        "import sys\nsys.modules['_ctypes']",
    ],
)
def test_ctypes_is_out_of_reach(box: Sandbox, code: str) -> None:
    assert_stopped(box, code)


# -- escape attempts: the audit hook itself ------------------------------------------------------


def test_the_audit_hook_cannot_be_disarmed_from_its_own_frame(box: Sandbox) -> None:
    code = """
try:
    open('/etc/passwd')
except PermissionError as e:
    tb = e.__traceback__
    while tb.tb_next:
        tb = tb.tb_next
    helpers = [v for v in tb.tb_frame.f_locals.values() if callable(v)]
try:
    for f in helpers:
        f.__defaults__ = tuple(lambda *a, **k: '/tmp' for _ in f.__defaults__ or ())
except PermissionError as e:
    print('refused:', e)
print(open('/etc/passwd').read())
"""
    result = box.run(code)
    assert result.output.startswith("refused: sandbox:")
    assert result.error is not None and "reading '/etc/passwd' is not allowed" in result.error


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.settrace(lambda *a: None)",
        "import sys\nsys.setprofile(lambda *a: None)",
        "import gc\ngc.get_objects()",
        "import gc\ngc.get_referrers(open)",
    ],
)
def test_introspection_that_could_reach_the_hook_is_stopped(box: Sandbox, code: str) -> None:
    assert_stopped(box, code)


def test_another_audit_hook_cannot_be_added(box: Sandbox) -> None:
    code = "import sys\nsys.addaudithook(lambda event, args: print(event))\nopen('f', 'w').close()"
    result = box.run(code)
    assert result.error is None
    assert result.output == ""


def test_patching_modules_does_not_change_the_hook(box: Sandbox) -> None:
    code = (
        "import os, posixpath, builtins\n"
        "os.getcwd = lambda: '/tmp'\nos.lstat = None\nposixpath.realpath = lambda p: '/tmp'\n"
        "builtins.type = lambda o: str\nbuiltins.PermissionError = KeyError\n"
        "open('/etc/passwd').read()"
    )
    result = box.run(code)
    assert result.error is not None and "reading '/etc/passwd' is not allowed" in result.error


def test_the_audit_hook_looks_up_no_globals_and_has_no_closure(tmp_path: Path) -> None:
    hook = worker.make_audit_hook((str(tmp_path / "lib"),), str(tmp_path / "box"))
    functions: list[Any] = [hook, *worker.PROTECTED_FUNCTIONS[:-1]]
    for function in functions:
        assert function.__closure__ is None, function
        assert function.__kwdefaults__ is None, function
        lookups = {
            ins.argval
            for ins in dis.get_instructions(function)
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF")
        }
        assert lookups == set(), (function, lookups)


def test_the_audit_hook_policy(tmp_path: Path) -> None:
    lib, box = tmp_path / "lib", tmp_path / "box"
    (lib / "json").mkdir(parents=True)
    box.mkdir()
    (box / "link").symlink_to(lib / "json" / "__init__.py")
    hook = worker.make_audit_hook((str(lib),), str(box))
    allowed = [
        ("open", (f"{lib}/json/__init__.py", "r", os.O_RDONLY)),
        ("open", (f"{box}/out.txt", "w", os.O_WRONLY | os.O_CREAT)),
        ("open", (f"{box}/link", "r", os.O_RDONLY)),
        ("open", (f"{box}".encode() + b"/out.txt", "rb", os.O_RDONLY)),
        ("open", (7, "w", os.O_WRONLY)),
        ("os.listdir", (str(lib),)),
        ("os.remove", (f"{box}/out.txt", -1)),
        ("import", ("json", None, [], [], [])),
    ]
    for event, args in allowed:
        hook(event, args)
    denied = [
        ("open", (f"{lib}/json/__init__.py", "w", os.O_WRONLY)),
        ("open", (f"{lib}/json/__init__.py", None, os.O_RDWR)),
        ("open", (f"{box}/link", "a", os.O_WRONLY | os.O_APPEND)),
        ("open", (f"{box}/../secret", "r", os.O_RDONLY)),
        ("open", (f"{box}y/file", "r", os.O_RDONLY)),
        ("open", ("sub/../../x", "r", os.O_RDONLY)),
        ("open", (Path(f"{box}/out.txt"), "r", os.O_RDONLY)),
        ("open", (str(lib), None, os.O_RDONLY)),
        ("os.mkdir", ("dir", 0o777, 3)),
        ("os.rename", (f"{box}/a", f"{lib}/a", -1, -1)),
        ("os.listdir", (str(tmp_path),)),
        ("import", ("ctypes.util", None, [], [], [])),
        ("socket.getaddrinfo", ("example.com", 443, 0, 0, 0, 0)),
        ("os.exec", ("/bin/sh", ["sh"], None)),
        ("object.__setattr__", (worker.resolve_path, "__defaults__", ())),
    ]
    for event, args in denied:
        with pytest.raises(PermissionError, match="sandbox: "):
            hook(event, args)
