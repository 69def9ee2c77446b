"""The sandbox worker: runs model-written Python code in a separate, hardened process.

This file is not imported by ghqa. The engine (``ghqa.engine.sandbox``) starts it as
``python -I -S -B -X utf8 -c <this source> <config json>`` with an empty environment, in a
fresh temporary directory, with two pipes for the protocol. It uses only the standard library.

Before the prelude or any model code runs, the worker hardens itself (see ``harden``), in this
order, skipping silently whatever the operating system does not allow:

1. ``rlimits``: CPU time, address space, file size, no core dumps, few open files, and
   RLIMIT_NPROC 0 so that no process or thread can be created (not enforced for root).
2. ``netns``: a new, empty network namespace (only a down loopback device).
3. ``setuid``: when started as root, the worker becomes uid/gid 65534 (nobody), so the kernel
   refuses files only root may read (~/.ssh, /proc/<engine pid>/environ, ...). The checkout is
   never read directly: the prelude's helpers ask the engine through host calls.
4. ``landlock``: read-only access to the Python standard library and system libraries,
   read-write access to the temporary directory, no TCP, no signals to outside processes.
5. ``audit``: a PEP 578 audit hook that refuses file access outside those directories, sockets,
   processes, signals, environment changes, ctypes, and a few introspection tools.

The audit hook is a policy layer: it stops ordinary escape attempts on every platform, but it
lives inside the interpreter it guards. Layers 1-4 are enforced by the kernel and are what
holds against code that manages to corrupt the interpreter's memory.

Protocol (both directions): a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
Engine -> worker: ``{"op": "exec" | "prelude", "code": str}`` and replies to host calls,
``{"op": "reply", "value": ...}`` or ``{"op": "reply", "error": str}``.
Worker -> engine: ``{"op": "ready", "layers": [str]}`` (or ``{"op": "fatal", "error": str}``)
once at startup, ``{"op": "call", "name": str, "args": list, "kwargs": dict}`` for host calls and
``{"op": "done", "output": str, "error": str | None, "submitted": dict | None}`` per cell.
"""

from __future__ import annotations

import _ast
import builtins
import io
import json
import os
import resource
import signal
import sys
from collections.abc import Callable
from types import CodeType, FrameType, TracebackType
from typing import Any

NOBODY = 65534
MAX_MESSAGE_BYTES = 64 << 20
OPEN_FILES_LIMIT = 64
PRELUDE_FILENAME = "<prelude>"
CELL_PREFIX = "<cell-"

# Modules that reach outside the process; the worker's own copies are removed from sys.modules
# before the audit hook is installed so that model code cannot pick them up from there.
# posix and _signal are normally already imported; refusing a re-import keeps the functions
# removed by remove_unaudited_functions() from coming back.
BLOCKED_MODULES = frozenset(
    {
        "ctypes",
        "_ctypes",
        "cffi",
        "_cffi_backend",
        "_posixsubprocess",
        "subprocess",
        "multiprocessing",
        "_multiprocessing",
        "_posixshmem",
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "pty",
        "posix",
        "_signal",
        "_testcapi",
        "_testinternalcapi",
        "_testbuffer",
        "_testmultiphase",
        "_xxsubinterpreters",
        "_xxtestfuzz",
    }
)
# Needed by os and signal, so they stay loaded; only a fresh import of them is refused.
KEPT_MODULES = frozenset({"posix", "_signal"})

DENIED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.kill",
        "os.killpg",
        "os.putenv",
        "os.unsetenv",
        "os.link",
        "os.symlink",
        "os.startfile",
        "os.add_dll_directory",
        "subprocess.Popen",
        "pty.spawn",
        "resource.prlimit",
        "ensurepip.bootstrap",
        "webbrowser.open",
        # Tracing and heap walking could reach the audit hook's own frame and function.
        "sys.addaudithook",
        "sys.settrace",
        "sys.setprofile",
        "sys._current_frames",
        "sys._current_exceptions",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
    }
)
DENIED_PREFIXES = ("socket.", "ctypes.", "syslog.", "_winapi.", "winreg.", "msvcrt.")

# Functions that act outside the process without raising an audit event.
UNAUDITED_FUNCTIONS = ("pidfd_open", "pidfd_send_signal", "mkfifo", "mknod")

# Events that modify files: (event, indices of path arguments, indices of dir_fd arguments).
WRITE_EVENTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("os.mkdir", (0,), (2,)),
    ("os.rmdir", (0,), (1,)),
    ("os.remove", (0,), (1,)),
    ("os.rename", (0, 1), (2, 3)),
    ("os.chmod", (0,), (2,)),
    ("os.chown", (0,), (3,)),
    ("os.utime", (0,), (3,)),
    ("os.truncate", (0,), ()),
    ("os.setxattr", (0,), ()),
    ("os.removexattr", (0,), ()),
)
WRITE_EVENT_NAMES = frozenset(name for name, _, _ in WRITE_EVENTS)
READ_EVENTS = frozenset({"os.listdir", "os.scandir", "os.chdir", "os.getxattr", "os.listxattr"})
OPEN_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
NO_DIR_FD = (None, -1, -100)  # not given, or AT_FDCWD

# Landlock (linux/landlock.h).
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_ABI1 = (1 << 13) - 1
FS_REFER = 1 << 13
FS_TRUNCATE = 1 << 14
FS_IOCTL_DEV = 1 << 15
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
NET_TCP = (1 << 0) | (1 << 1)  # bind, connect
SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets, signals
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

SYSTEM_LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
LANDLOCK_READ_FILES = ("/etc/ld.so.cache", "/dev/urandom")
DEVICE_FILES = frozenset({"/dev/null", "/dev/urandom"})

AuditHook = Callable[[str, tuple[Any, ...]], None]


class HostError(Exception):
    """A host call failed; the message comes from the engine."""


# ---------------------------------------------------------------------------------------------
# Protocol


class Channel:
    """Length-prefixed JSON messages over two pipe file descriptors."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd

    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(encode(message))

    def send_bytes(self, data: bytes) -> None:
        view = memoryview(len(data).to_bytes(4, "big") + data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def receive(self) -> dict[str, Any]:
        size = int.from_bytes(self._read_exact(4), "big")
        message = json.loads(self._read_exact(size))
        if not isinstance(message, dict):
            raise EOFError("malformed message from the engine")
        return message

    def _read_exact(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = os.read(self.read_fd, min(size - len(data), 1 << 20))
            if not chunk:
                raise EOFError("the engine closed the channel")
            data += chunk
        return bytes(data)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode("ascii")


# ---------------------------------------------------------------------------------------------
# Hardening


def harden(config: dict[str, Any]) -> set[str]:
    """Apply every protection the system allows; return the names of the active layers."""
    layers: set[str] = set()
    tmpdir: str = config["tmpdir"]
    if set_rlimits(config):
        layers.add("rlimits")
    import_roots = [path for path in sys.path if os.path.isdir(path)]
    read_roots = tuple(dict.fromkeys(os.path.realpath(path) for path in import_roots))
    # Opened while still privileged: after setuid the standard library may sit below a
    # directory (such as /root) that nobody may enter, and is then reached through these fds.
    root_fds = {path: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in import_roots}
    layers |= kernel_layers(tmpdir, root_fds)
    remove_blocked_modules()
    remove_unaudited_functions()
    sys.addaudithook(make_audit_hook(read_roots, os.path.realpath(tmpdir)))
    layers.add("audit")
    return layers


def attempt(step: Callable[..., Any], *args: Any) -> bool:
    """Run one hardening step; an OS refusal means the layer is skipped."""
    try:
        step(*args)
    except (OSError, ValueError, AttributeError):
        return False
    return True


def set_rlimits(config: dict[str, Any]) -> bool:
    """Set each limit the system allows; True when all of them are in place."""
    cpu = int(config["cpu_seconds"])
    results = [
        # SIGXCPU at the soft limit, SIGKILL one second later.
        attempt(limit, resource.RLIMIT_CPU, cpu, cpu + 1),
        attempt(limit, resource.RLIMIT_AS, int(config["memory_bytes"])),
        attempt(limit, resource.RLIMIT_FSIZE, int(config["file_bytes"])),
        attempt(limit, resource.RLIMIT_CORE, 0),
        attempt(limit, resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
        # No new processes, and no threads either (the kernel counts both; root is exempt).
        attempt(limit, resource.RLIMIT_NPROC, 0),
    ]
    return all(results)


def limit(which: int, soft: int, hard: int | None = None) -> None:
    hard = soft if hard is None else hard
    _, current = resource.getrlimit(which)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(which, (soft, hard))


def kernel_layers(tmpdir: str, root_fds: dict[str, int]) -> set[str]:
    """The network namespace, the uid change and Landlock (ctypes is needed for two of them)."""
    layers: set[str] = set()
    libc = load_libc()
    if libc is not None and attempt(unshare_network, libc):
        layers.add("netns")
    if os.geteuid() == 0 and attempt(drop_privileges, tmpdir):
        layers.add("setuid")
    aliased = alias_import_paths(root_fds)
    if libc is not None and attempt(restrict_filesystem, libc, tmpdir, list(root_fds.values())):
        layers.add("landlock")
    for fd in set(root_fds.values()) - aliased:
        os.close(fd)
    return layers


def load_libc() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return None


def check(result: int, what: str) -> int:
    if result < 0:
        import ctypes

        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def unshare_network(libc: Any) -> None:
    import ctypes

    if os.geteuid() == 0:
        check(libc.unshare(ctypes.c_int(CLONE_NEWNET)), "unshare")
        return
    uid, gid = os.geteuid(), os.getegid()
    check(libc.unshare(ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNET)), "unshare")
    # Map our own ids in the new user namespace so that files we create keep a valid owner.
    write_proc_file("/proc/self/setgroups", "deny")
    write_proc_file("/proc/self/uid_map", f"{uid} {uid} 1")
    write_proc_file("/proc/self/gid_map", f"{gid} {gid} 1")


def write_proc_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def drop_privileges(tmpdir: str) -> None:
    os.chown(tmpdir, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    if os.getuid() != NOBODY or os.geteuid() != NOBODY:
        raise OSError("setuid did not take effect")


def alias_import_paths(root_fds: dict[str, int]) -> set[int]:
    """Point imports at /proc/self/fd/N for library directories we can no longer reach by name."""
    aliases = {
        path: f"/proc/self/fd/{fd}"
        for path, fd in root_fds.items()
        if not os.access(path, os.R_OK | os.X_OK)
    }
    if not aliases:
        return set()
    ordered = sorted(aliases.items(), key=lambda item: -len(item[0]))

    def alias(path: str) -> str:
        for root, replacement in ordered:
            if path == root or path.startswith(root + "/"):
                return replacement + path[len(root) :]
        return path

    sys.path[:] = [alias(path) for path in sys.path]
    for module in list(sys.modules.values()):
        package_path = getattr(module, "__path__", None)
        if isinstance(package_path, list):
            module.__path__ = [alias(path) for path in package_path]
    sys.path_importer_cache.clear()
    return {root_fds[path] for path in aliases}


def restrict_filesystem(libc: Any, tmpdir: str, read_fds: list[int]) -> None:
    import ctypes

    class RulesetAttr(ctypes.Structure):
        _fields_ = [
            ("handled_access_fs", ctypes.c_uint64),
            ("handled_access_net", ctypes.c_uint64),
            ("scoped", ctypes.c_uint64),
        ]

    class PathBeneathAttr(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    libc.syscall.restype = ctypes.c_long
    abi = check(
        libc.syscall(
            ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
            None,
            ctypes.c_size_t(0),
            ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
        ),
        "landlock_create_ruleset",
    )
    handled = FS_ABI1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    handled |= FS_IOCTL_DEV if abi >= 5 else 0
    attr = RulesetAttr(handled, NET_TCP if abi >= 4 else 0, SCOPE_ALL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = check(
        libc.syscall(
            ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
            ctypes.byref(attr),
            ctypes.c_size_t(size),
            ctypes.c_uint32(0),
        ),
        "landlock_create_ruleset",
    )
    rules, opened = landlock_rules(tmpdir, read_fds, handled)
    try:
        for fd, access in rules:
            rule = PathBeneathAttr(access, fd)
            check(
                libc.syscall(
                    ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
                    ctypes.c_int(ruleset),
                    ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                    ctypes.byref(rule),
                    ctypes.c_uint32(0),
                ),
                "landlock_add_rule",
            )
        check(
            libc.prctl(
                ctypes.c_int(PR_SET_NO_NEW_PRIVS),
                ctypes.c_ulong(1),
                ctypes.c_ulong(0),
                ctypes.c_ulong(0),
                ctypes.c_ulong(0),
            ),
            "prctl",
        )
        check(
            libc.syscall(
                ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
            ),
            "landlock_restrict_self",
        )
    finally:
        for fd in [ruleset, *opened]:
            os.close(fd)


def landlock_rules(
    tmpdir: str, read_fds: list[int], handled: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """(fd, allowed access) pairs, and the fds opened for them.

    The standard library and the system libraries (which extension modules load) are
    read-only, the temporary directory is read-write, nothing may be executed.
    """
    read_dir = (FS_READ_FILE | FS_READ_DIR) & handled
    wanted = [(path, read_dir) for path in SYSTEM_LIBRARY_DIRS]
    wanted += [(path, FS_READ_FILE) for path in LANDLOCK_READ_FILES]
    wanted.append(("/dev/null", (FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE) & handled))
    wanted.append((tmpdir, handled & ~FS_EXECUTE))
    rules = [(fd, read_dir) for fd in read_fds]
    opened: list[int] = []
    for path, access in wanted:
        fd = open_path(path)
        if fd is not None:
            opened.append(fd)
            rules.append((fd, access))
    return rules, opened


def open_path(path: str) -> int | None:
    try:
        return os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None


def remove_blocked_modules() -> None:
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED_MODULES - KEPT_MODULES:
            del sys.modules[name]


def remove_unaudited_functions() -> None:
    for module in (os, sys.modules.get("posix"), signal, sys.modules.get("_signal")):
        for name in UNAUDITED_FUNCTIONS:
            if module is not None and hasattr(module, name):
                delattr(module, name)


# ---------------------------------------------------------------------------------------------
# The audit hook
#
# Model code runs in this interpreter: it may patch any module or builtin, and it may see the
# hook's frame, and so its local variables, in a traceback. So the hook and its helpers look up
# no global names: everything they use is bound as a positional default argument (kept in an
# immutable tuple) when they are defined, before model code runs; none has a closure; every
# table is immutable; and replacing their __code__ or __defaults__ is refused.


def resolve_path(
    path: str,
    _lstat: Callable[[str], os.stat_result] = os.lstat,
    _readlink: Callable[[str], str] = os.readlink,
    _getcwd: Callable[[], str] = os.getcwd,
    _errors: tuple[type[BaseException], ...] = (OSError, ValueError),
    _denied: type[PermissionError] = PermissionError,
) -> str:
    """The absolute path with every symbolic link resolved, like os.path.realpath."""
    if not path.startswith("/"):
        path = _getcwd() + "/" + path
    todo = path.split("/")
    todo.reverse()
    parts: list[str] = []
    links = 0
    while todo:
        name = todo.pop()
        if name == "" or name == ".":
            continue
        if name == "..":
            if parts:
                parts.pop()
            continue
        parts.append(name)
        current = "/" + "/".join(parts)
        try:
            mode = _lstat(current).st_mode
        except _errors:
            continue  # missing or unreachable: the kernel will refuse it as well
        if mode & 0o170000 != 0o120000:
            continue
        links += 1
        if links > 40:
            raise _denied("sandbox: too many levels of symbolic links")
        target = _readlink(current)
        parts.pop()
        if target.startswith("/"):
            parts.clear()
        more = target.split("/")
        more.reverse()
        todo.extend(more)
    return "/" + "/".join(parts)


def is_inside(path: str, roots: tuple[str, ...]) -> bool:
    for root in roots:
        if path == root or path.startswith(root + "/"):
            return True
    return False


def path_text(
    value: object,
    _type: type[type] = type,
    _str: type[str] = str,
    _bytes: type[bytes] = bytes,
    _decode: Callable[[bytes, str, str], str] = bytes.decode,
    _denied: type[PermissionError] = PermissionError,
) -> str:
    """A path argument as text. Other path-like objects are refused: they could give the hook
    one path and the call that raised the event another."""
    kind = _type(value)
    if kind is _str:
        return value  # type: ignore[return-value]
    if kind is _bytes:
        return _decode(value, "utf-8", "surrogateescape")  # type: ignore[arg-type]
    raise _denied(f"sandbox: give paths as str, not {kind.__name__} (use str(path))")


def check_path(
    value: object,
    write: bool,
    readable: tuple[str, ...],
    writable: tuple[str, ...],
    _path_text: Callable[[object], str] = path_text,
    _resolve: Callable[[str], str] = resolve_path,
    _inside: Callable[[str, tuple[str, ...]], bool] = is_inside,
    _devices: frozenset[str] = DEVICE_FILES,
    _denied: type[PermissionError] = PermissionError,
) -> str:
    """Refuse a path outside the allowed directories; return it resolved."""
    path = _path_text(value)
    resolved = _resolve(path)
    if _inside(resolved, writable if write else readable) or resolved in _devices:
        return resolved
    action = "writing" if write else "reading"
    raise _denied(f"sandbox: {action} {path!r} is not allowed")


def check_open(
    args: tuple[Any, ...],
    readable: tuple[str, ...],
    writable: tuple[str, ...],
    _check: Callable[[object, bool, tuple[str, ...], tuple[str, ...]], str] = check_path,
    _inside: Callable[[str, tuple[str, ...]], bool] = is_inside,
    _stat: Callable[[str], os.stat_result] = os.stat,
    _write_flags: int = OPEN_WRITE_FLAGS,
    _type: type[type] = type,
    _int: type[int] = int,
    _str: type[str] = str,
    _errors: tuple[type[BaseException], ...] = (OSError, ValueError),
    _denied: type[PermissionError] = PermissionError,
) -> None:
    path, mode, flags = args
    if _type(path) is _int:
        return  # wraps a descriptor, which was checked when it was opened
    write = _type(flags) is _int and flags & _write_flags != 0
    if _type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode):
        write = True
    text = path if _type(path) is _str else ""
    if not text.startswith("/") and ".." in text.split("/"):
        # The event does not say which dir_fd a relative path is resolved against.
        raise _denied(f"sandbox: relative paths with '..' are not allowed: {text!r}")
    resolved = _check(path, write, readable, writable)
    try:
        is_dir = _stat(resolved).st_mode & 0o170000 == 0o040000
    except _errors:
        is_dir = False
    if is_dir and not _inside(resolved, writable):
        # A directory descriptor would let dir_fd= resolve paths this hook never sees.
        raise _denied(f"sandbox: opening the directory {resolved!r} is not allowed")


def check_write_event(
    event: str,
    args: tuple[Any, ...],
    readable: tuple[str, ...],
    writable: tuple[str, ...],
    _events: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = WRITE_EVENTS,
    _check: Callable[[object, bool, tuple[str, ...], tuple[str, ...]], str] = check_path,
    _no_dir_fd: tuple[object, ...] = NO_DIR_FD,
    _type: type[type] = type,
    _int: type[int] = int,
    _denied: type[PermissionError] = PermissionError,
) -> None:
    for name, paths, dir_fds in _events:
        if name != event:
            continue
        for index in dir_fds:
            if args[index] not in _no_dir_fd:
                raise _denied(f"sandbox: {event} with dir_fd is not allowed")
        for index in paths:
            if _type(args[index]) is _int and event == "os.truncate":
                continue  # ftruncate needs a descriptor opened for writing, checked then
            _check(args[index], True, readable, writable)


def make_audit_hook(read_roots: tuple[str, ...], write_root: str) -> AuditHook:
    """The audit hook for a worker whose only writable directory is ``write_root``."""

    def hook(
        event: str,
        args: tuple[Any, ...],
        _readable: tuple[str, ...] = (*read_roots, write_root),
        _writable: tuple[str, ...] = (write_root,),
        _denied_events: frozenset[str] = DENIED_EVENTS,
        _denied_prefixes: tuple[str, ...] = DENIED_PREFIXES,
        _blocked: frozenset[str] = BLOCKED_MODULES,
        _write_events: frozenset[str] = WRITE_EVENT_NAMES,
        _read_events: frozenset[str] = READ_EVENTS,
        _check_path: Callable[[object, bool, tuple[str, ...], tuple[str, ...]], str] = check_path,
        _check_open: Callable[[tuple[Any, ...], tuple[str, ...], tuple[str, ...]], None] = (
            check_open
        ),
        _check_write: Callable[
            [str, tuple[Any, ...], tuple[str, ...], tuple[str, ...]], None
        ] = check_write_event,
        _protected: tuple[object, ...] = PROTECTED_FUNCTIONS,
        _type: type[type] = type,
        _int: type[int] = int,
        _str: type[str] = str,
        _denied: type[PermissionError] = PermissionError,
    ) -> None:
        if event in _denied_events or event.startswith(_denied_prefixes):
            raise _denied(f"sandbox: {event} is not allowed")
        if event == "open":
            _check_open(args, _readable, _writable)
        elif event == "import":
            name = args[0]
            if _type(name) is _str and name.partition(".")[0] in _blocked:
                raise _denied(f"sandbox: importing {name} is not allowed")
        elif event in _write_events:
            _check_write(event, args, _readable, _writable)
        elif event in _read_events:
            path = "." if args[0] is None else args[0]
            if _type(path) is not _int:
                _check_path(path, False, _readable, _writable)
        elif event == "object.__setattr__" or event == "object.__delattr__":
            for function in _protected:
                if args[0] is function:
                    raise _denied("sandbox: changing the sandbox's functions is not allowed")

    return hook


PROTECTED_FUNCTIONS = (
    resolve_path,
    is_inside,
    path_text,
    check_path,
    check_open,
    check_write_event,
    make_audit_hook,
)


# ---------------------------------------------------------------------------------------------
# Running cells


class Capture(io.TextIOBase):
    """A text stream that keeps the head and the tail of what is written, up to ``limit``."""

    encoding = "utf-8"

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = max(limit, 2)
        self.head_limit = self.limit // 2
        self.tail_limit = self.limit - self.head_limit
        self.head: list[str] = []
        self.head_size = 0
        self.tail: list[str] = []
        self.tail_size = 0
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        size = len(text)
        self.total += size
        if self.head_size < self.head_limit:
            taken = text[: self.head_limit - self.head_size]
            self.head.append(taken)
            self.head_size += len(taken)
            text = text[len(taken) :]
        if text:
            self.tail.append(text)
            self.tail_size += len(text)
            if self.tail_size > 2 * self.tail_limit:
                kept = "".join(self.tail)[-self.tail_limit :]
                self.tail, self.tail_size = [kept], len(kept)
        return size

    def getvalue(self) -> str:
        head, tail = "".join(self.head), "".join(self.tail)
        if self.total <= self.limit:
            return head + tail
        tail = tail[-self.tail_limit :]
        omitted = self.total - len(head) - len(tail)
        return (
            f"{head}\n[... {omitted} characters omitted; "
            f"the full output was {self.total} characters ...]\n{tail}"
        )


def clip(text: str, limit: int) -> str:
    capture = Capture(limit)
    capture.write(text)
    return capture.getvalue()


class CellTimer:
    """SIGALRM-based per-cell timeout that is paused while the engine serves a host call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = False
        signal.signal(signal.SIGALRM, self._expired)

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        if self.active:
            self.active = False
            raise TimeoutError(f"cell timed out after {self.seconds:g}s")

    def arm(self) -> None:
        self.active = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def disarm(self) -> None:
        self.active = False
        signal.setitimer(signal.ITIMER_REAL, 0)

    def pause(self) -> float:
        remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        return remaining

    def resume(self, remaining: float) -> None:
        if remaining > 0 and self.active:
            signal.setitimer(signal.ITIMER_REAL, remaining)


class Repl:
    """A persistent namespace in which cells run, one at a time."""

    def __init__(self, channel: Channel, config: dict[str, Any]) -> None:
        self.channel = channel
        self.max_output = int(config["max_output"])
        self.timer = CellTimer(float(config["cell_timeout"]))
        self.sources: dict[str, list[str]] = {}
        self.cells = 0
        self.submitted: dict[str, Any] | None = None
        self.namespace: dict[str, Any] = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "_host": self.host_call,
            "HostError": HostError,
            "submit": self.submit,
        }

    def serve(self) -> None:
        while True:
            try:
                message = self.channel.receive()
            except (EOFError, OSError, ValueError):
                return
            op, code = message.get("op"), message.get("code")
            if op not in ("exec", "prelude") or not isinstance(code, str):
                return
            if op == "exec":
                self.cells += 1
                filename = f"{CELL_PREFIX}{self.cells}>"
            else:
                filename = PRELUDE_FILENAME
            self.channel.send_bytes(self.run_cell(code, filename))

    # -- host calls and submit(), as seen by model code

    def host_call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Ask the engine to run ``name(*args, **kwargs)``; values are JSON. ``name`` is
        positional-only: ``kwargs`` may have a ``name`` of its own (``repo.symbols(name=...)``)."""
        if not isinstance(name, str):
            raise TypeError("the host call name must be a str")
        try:
            data = encode({"op": "call", "name": name, "args": list(args), "kwargs": kwargs})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"host call arguments must be JSON values: {exc}") from None
        if len(data) > MAX_MESSAGE_BYTES:
            raise HostError(f"host call arguments are too large ({len(data)} bytes)")
        remaining = self.timer.pause()
        try:
            self.channel.send_bytes(data)
            reply = self.channel.receive()
        finally:
            self.timer.resume(remaining)
        if reply.get("op") != "reply":
            raise HostError("unexpected message from the engine")
        if "error" in reply:
            raise HostError(str(reply["error"]))
        return reply.get("value")

    def submit(self, answer: object, citations: object = None) -> None:
        """Record the final answer of this cell (the last call wins)."""
        try:
            citations = json.loads(json.dumps(citations))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"citations must be JSON values: {exc}") from None
        self.submitted = {"answer": str(answer), "citations": citations}

    # -- one cell

    def run_cell(self, code: str, filename: str) -> bytes:
        capture = Capture(self.max_output)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture
        self.submitted = None
        try:
            try:
                self.timer.arm()
                error = self.execute(code, filename, capture)
            finally:
                self.timer.disarm()
        except BaseException as exc:  # the timer fired while the error itself was being reported
            error = f"{type(exc).__name__} while reporting the cell's error"
        finally:
            sys.stdout, sys.stderr = saved
        return self.done(capture, error)

    def execute(self, code: str, filename: str, capture: Capture) -> str | None:
        self.sources[filename] = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        try:
            body, last = compile_cell(code, filename)
        except (SyntaxError, ValueError, OverflowError) as exc:
            return format_compile_error(exc)
        try:
            exec(body, self.namespace)
            if last is not None:
                value = eval(last, self.namespace)
                if value is not None:
                    capture.write(repr(value) + "\n")
        except BaseException as exc:
            return self.format_error(exc, filename)
        return None

    def format_error(self, exc: BaseException, filename: str) -> str:
        trusted = filename == PRELUDE_FILENAME
        lines = ["Traceback (most recent call last):"]
        lines += self.frame_lines(exc.__traceback__, filename, trusted)
        lines.append(describe(exc))
        return "\n".join(lines)

    def frame_lines(self, tb: TracebackType | None, filename: str, trusted: bool) -> list[str]:
        """One entry per frame of model code (or of the prelude, when it is the prelude running);
        a frame repeated many times in a row (recursion) is shown three times."""
        keys: list[tuple[str, int, str]] = []
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename.startswith(CELL_PREFIX) or (
                trusted and code.co_filename == PRELUDE_FILENAME
            ):
                keys.append((code.co_filename, tb.tb_lineno, code.co_name))
            tb = tb.tb_next
        lines: list[str] = []
        index = 0
        while index < len(keys):
            run = 1
            while index + run < len(keys) and keys[index + run] == keys[index]:
                run += 1
            for _ in range(min(run, 3)):
                lines += self.frame_entry(keys[index], filename)
            if run > 3:
                lines.append(f"  [previous line repeated {run - 3} more times]")
            index += run
        return lines

    def frame_entry(self, key: tuple[str, int, str], current: str) -> list[str]:
        cell, lineno, name = key
        where = f"line {lineno}" if cell == current else f"{cell.strip('<>')}, line {lineno}"
        entry = [f"  {where}, in {name}"]
        source = self.sources.get(cell, [])
        if 0 < lineno <= len(source) and source[lineno - 1].strip():
            entry.append("    " + source[lineno - 1].strip())
        return entry

    def done(self, capture: Capture, error: str | None) -> bytes:
        message: dict[str, Any] = {
            "op": "done",
            "output": capture.getvalue(),
            "error": None if error is None else clip(error, self.max_output),
            "submitted": self.submitted,
        }
        data = encode(message)
        if len(data) > MAX_MESSAGE_BYTES:
            message["submitted"] = None
            message["error"] = "the submitted answer is too large"
            data = encode(message)
        return data


def compile_cell(code: str, filename: str) -> tuple[CodeType, CodeType | None]:
    """Compile a cell; a final expression is compiled apart so that its value can be shown."""
    tree = compile(code, filename, "exec", _ast.PyCF_ONLY_AST, dont_inherit=True)
    assert isinstance(tree, _ast.Module)
    last = None
    final = tree.body[-1] if tree.body else None
    if isinstance(final, _ast.Expr):
        tree.body.pop()
        last = compile(_ast.Expression(body=final.value), filename, "eval", dont_inherit=True)
    return compile(tree, filename, "exec", dont_inherit=True), last


def format_compile_error(exc: BaseException) -> str:
    if not isinstance(exc, SyntaxError):
        return describe(exc)
    lines = [f"  line {exc.lineno}"] if exc.lineno else []
    if exc.text:
        text = exc.text.rstrip("\n")
        stripped = text.lstrip()
        lines.append("    " + stripped.rstrip())
        if exc.offset:
            column = max(exc.offset - 1 - (len(text) - len(stripped)), 0)
            lines.append("    " + " " * column + "^")
    lines.append(f"{type(exc).__name__}: {exc.msg}")
    return "\n".join(lines)


def describe(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    try:
        text = str(exc)
    except Exception:
        text = "<the exception could not be converted to text>"
    return f"{name}: {text}" if text else name


# ---------------------------------------------------------------------------------------------


def main() -> None:
    config = json.loads(sys.argv[1])
    channel = Channel(int(config["read_fd"]), int(config["write_fd"]))
    try:
        layers = harden(config)
    except Exception as exc:
        channel.send({"op": "fatal", "error": f"{type(exc).__name__}: {exc}"})
        raise SystemExit(1) from None
    repl = Repl(channel, config)
    channel.send({"op": "ready", "layers": sorted(layers)})
    repl.serve()


if __name__ == "__main__":
    main()
