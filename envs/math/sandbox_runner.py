"""Runs one piece of untrusted Python inside the sandbox process (started by
:mod:`turngym.envs.math.sandbox` as ``python -I -S -B sandbox_runner.py CONFIG``, the code on
standard input; CONFIG is a dict in ``marshal`` form, hex-encoded: no import needed to read
it). Before the code runs it locks the process down, in this order:

1. resource limits: CPU seconds, address space, file size, open files, processes, no core dumps;
2. a seccomp filter (libseccomp through ``pyseccomp``): socket(), fork/vfork, clone without
   CLONE_THREAD (new processes), clone3, execve(at), ptrace, signals to other processes, mount,
   namespaces, chroot, keyrings, BPF, io_uring and module loading fail with EPERM;
3. an audit hook (PEP 578) that refuses: opening files outside the work folder (read-only:
   Python's own library folders), any change to the file system outside the work folder, links,
   directory listings outside the allowed folders, sockets, subprocesses, exec, fork, signals,
   ctypes, and code objects built by hand.

Nothing here imports turngym: it runs with ``-I`` (no environment, no user site) and ``-S``.
"""

import marshal
import os
import resource
import sys

config = marshal.loads(bytes.fromhex(sys.argv[1]))
code = sys.stdin.read()
WORK = os.path.realpath(config["work_dir"])
READ_ROOTS = tuple(os.path.realpath(p) for p in config["read_roots"])
sys.path[:0] = config["import_paths"]
os.chdir(WORK)

# 1. resource limits
cpu = int(config["cpu_seconds"])
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_AS, (config["memory_bytes"],) * 2)
resource.setrlimit(resource.RLIMIT_FSIZE, (config["file_bytes"],) * 2)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # not enforced for root: seccomp is
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

# 2. seccomp
SECCOMP = "off"
if config["seccomp"]:
    import ctypes
    import errno
    import types

    # pyseccomp finds its libraries with ctypes.util.find_library, which runs ldconfig (~40 ms
    # a call); the parent found them once and passes the names
    util = types.ModuleType("ctypes.util")
    util.find_library = config["libraries"].get
    sys.modules["ctypes.util"] = ctypes.util = util
    import pyseccomp as seccomp

    CLONE_THREAD = 0x00010000
    denied = seccomp.ERRNO(errno.EPERM)
    syscall_filter = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in (
        "socket", "socketpair", "fork", "vfork", "execve", "execveat", "ptrace",
        "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
        "unshare", "setns", "reboot", "kexec_load", "init_module", "finit_module",
        "delete_module", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
        "userfaultfd", "io_uring_setup", "pidfd_open", "pidfd_send_signal", "acct", "swapon",
        "swapoff", "sethostname", "setdomainname", "iopl", "ioperm", "personality",
    ):  # fmt: skip
        syscall_filter.add_rule(denied, name)
    syscall_filter.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # glibc falls back to clone
    syscall_filter.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    own = os.getpid()
    for name in ("kill", "tkill"):
        syscall_filter.add_rule(denied, name, seccomp.Arg(0, seccomp.NE, own))
    syscall_filter.add_rule(denied, "tgkill", seccomp.Arg(0, seccomp.NE, own))
    syscall_filter.load()
    SECCOMP = "on"
    del seccomp, syscall_filter
    del sys.modules["pyseccomp"]

# 3. the audit hook
READ_DEVICES = ("/dev/null", "/dev/urandom", "/dev/random", "/dev/zero")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
DENIED_PREFIXES = ("socket.", "ctypes.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn",
                   "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.system", "os.startfile",
                   "pty.", "winreg.", "_winapi.", "msvcrt.", "webbrowser.", "urllib.",
                   "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.",
                   "http.", "sqlite3.", "code.__new__", "function.__new__",
                   "os.setuid", "os.setgid", "os.chroot", "os.mount", "resource.setrlimit",
                   "resource.prlimit", "gc.get_referrers", "gc.get_objects")  # fmt: skip
DENIED_MODULES = {"cffi", "pyseccomp"}
import ctypes  # noqa: E402,F401 (numpy and sympy import it: loaded now, every call of it refused)

PATH_EVENTS = {"os.remove": 1, "os.rmdir": 1, "os.rename": 2, "os.replace": 2, "os.mkdir": 1,
               "os.truncate": 1, "os.chmod": 1, "os.chown": 1, "os.utime": 1, "os.chdir": 1,
               "shutil.rmtree": 1, "shutil.copyfile": 2, "shutil.move": 2, "shutil.copytree": 2,
               "os.removexattr": 1, "os.setxattr": 1}  # fmt: skip
LIST_EVENTS = ("os.listdir", "os.scandir", "glob.glob", "glob.glob/2", "os.walk", "os.fwalk")


def _inside(path, roots):
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def _real(path):
    if isinstance(path, int):
        return None  # an open file descriptor, already allowed when it was opened
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return os.path.realpath(os.fspath(path))


class SandboxViolation(PermissionError):
    pass


def _deny(what):
    raise SandboxViolation(f"sandbox: {what} is not allowed")


def audit(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None])[:3]
        real = _real(path)
        if real is None:
            return
        writes = (isinstance(flags, int) and flags & WRITE_FLAGS) or (
            isinstance(mode, str) and any(c in mode for c in "wax+")
        )
        if _inside(real, (WORK,)):
            return
        if not writes and (_inside(real, READ_ROOTS) or real in READ_DEVICES):
            return
        _deny(f"opening {path!r} {'for writing' if writes else ''}".rstrip())
    elif event == "import":
        if args[0].split(".")[0] in DENIED_MODULES:
            _deny(f"import {args[0]}")
    elif event.startswith(DENIED_PREFIXES):
        _deny(event)
    elif event in PATH_EVENTS:
        for path in args[: PATH_EVENTS[event]]:
            real = _real(path)
            if real is not None and not _inside(real, (WORK,)):
                _deny(f"{event} on {path!r}")
    elif event in ("os.link", "os.symlink"):
        _deny(event)
    elif event in LIST_EVENTS and args:
        real = _real(args[0] if args[0] is not None else ".")
        if real is not None and not _inside(real, (WORK, *READ_ROOTS)):
            _deny(f"listing {args[0]!r}")


if config["audit_hook"]:
    sys.addaudithook(audit)
del config

# 4. the user's code
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    exec(compile(code, "<python>", "exec"), namespace)
except SystemExit:
    pass
except BaseException as error:  # noqa: BLE001 (the agent sees what went wrong)
    import traceback  # after the lock-down: its imports are checked too

    frames = traceback.extract_tb(error.__traceback__)
    shown = traceback.StackSummary.from_list([f for f in frames if f.filename == "<python>"])
    sys.stdout.flush()
    sys.stderr.write("Traceback (most recent call last):\n" + "".join(shown.format()))
    sys.stderr.write("".join(traceback.format_exception_only(type(error), error)))
