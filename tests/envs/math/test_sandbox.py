"""The Python tool's sandbox, attacked: every escape attempt fails with a message to the agent,
and the environment answers the next call as if nothing happened."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import gymnasium as gym
import pytest

import turngym.envs  # noqa: F401
from turngym.envs.math.sandbox import PythonSandbox, SandboxLimits, _seccomp_available

LIMITS = dict(cpu_seconds=1, wall_seconds=5.0, memory_mb=512)


@pytest.fixture(scope="module")
def env():
    environment = gym.make("turngym/MathTool-v0", max_tool_calls=100, **LIMITS)
    environment.reset(seed=0, options={"task_id": 3})
    yield environment.unwrapped
    environment.close()


def call(env, code: str) -> tuple[str, dict]:
    observation, reward, terminated, truncated, info = env.step(f"<python>{code}</python>")
    assert (reward, terminated) == (0.0, False)
    return observation, info


def still_works(env) -> None:
    observation, info = call(env, "print(6 * 7)")
    assert observation == "Output:\n42" and info["tool_ok"] is True


@pytest.fixture
def home_secret():
    path = Path.home() / f".turngym-sandbox-test-{uuid.uuid4().hex}"
    path.write_text("home-secret-4711")
    yield path
    path.unlink()


ESCAPES = {
    "read /etc/passwd": ("print(open('/etc/passwd').read())", "root:", "not allowed"),
    "read /etc/passwd with os.open": (
        "import os; print(os.read(os.open('/etc/passwd', os.O_RDONLY), 100))",
        "root:",
        "not allowed",
    ),
    "read it through a symlink": (
        "import os; os.symlink('/etc/passwd', 'p'); print(open('p').read())",
        "root:",
        "not allowed",
    ),
    "list the home folder": (
        "import os; print(os.listdir(os.path.expanduser('~')))",
        ".bashrc",
        "not allowed",
    ),  # fmt: skip
    "open a socket": (
        "import socket; s = socket.socket(); s.connect(('127.0.0.1', 22)); print('connected')",
        "connected",
        "not allowed",
    ),
    "fork bomb": ("import os\nwhile True:\n    os.fork()", "", "not allowed"),
    "subprocess": (
        "import subprocess; print(subprocess.run(['id'], capture_output=True))",
        "uid=",
        "not allowed",
    ),  # fmt: skip
    "os.system": ("import os; os.system('id')", "uid=", "not allowed"),
    "infinite loop": ("while True:\n    pass", "", "CPU time limit"),
    "allocate 10 GB": ("x = bytearray(10 * 2**30); print(len(x))", "10737418240", "MemoryError"),
    "ctypes": ("import ctypes; ctypes.CDLL(None).system(b'id')", "uid=", "not allowed"),
    "ctypes via pythonapi": ("import ctypes; ctypes.pythonapi.Py_GetVersion()", "", "not allowed"),
    "kill the parent": (
        "import os, signal; os.kill(os.getppid(), signal.SIGKILL)",
        "",
        "not allowed",
    ),  # fmt: skip
    "write outside the work folder": (
        "open('/tmp/turngym-pwned', 'w').write('x')",
        "",
        "not allowed",
    ),  # fmt: skip
    "print forever": ("while True:\n    print('y' * 1000)", "", "limit"),
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escape_attempt_fails_with_a_message_and_the_env_keeps_working(env, name: str) -> None:
    code, leaked, message = ESCAPES[name]
    observation, info = call(env, code)
    assert message in observation, observation
    assert not leaked or leaked not in observation, observation
    assert info["tool_ok"] is False
    assert len(observation) < 1500  # truncated
    still_works(env)
    assert not Path("/tmp/turngym-pwned").exists()


def test_home_files_cannot_be_read(env, home_secret: Path) -> None:
    observation, _ = call(env, f"print(open({str(home_secret)!r}).read())")
    assert "home-secret-4711" not in observation and "not allowed" in observation
    still_works(env)


def test_files_outside_the_work_folder_cannot_be_deleted(env, tmp_path: Path) -> None:
    decoy = tmp_path / "decoy.txt"
    decoy.write_text("keep me")
    for code in (f"import os; os.remove({str(decoy)!r})",
                 f"import shutil; shutil.rmtree({str(tmp_path)!r})",
                 f"import os; os.rename({str(decoy)!r}, 'mine.txt')",
                 f"open({str(decoy)!r}, 'w').write('gone')"):  # fmt: skip
        observation, _ = call(env, code)
        assert "not allowed" in observation, observation
    assert decoy.read_text() == "keep me"
    observation, _ = call(env, "import os; open('a.txt', 'w').write('1'); os.remove('a.txt'); "
                               "print('own files ok')")  # fmt: skip
    assert observation == "Output:\nown files ok"


def test_the_parents_environment_variables_stay_hidden(env, monkeypatch) -> None:
    monkeypatch.setenv("TURNGYM_TEST_SECRET", "parent-secret-0815")
    for code in ("import os; print(dict(os.environ))",
                 "import os; print(open(f'/proc/{os.getppid()}/environ').read())",
                 "print(open('/proc/self/environ').read())"):  # fmt: skip
        observation, _ = call(env, code)
        assert "parent-secret-0815" not in observation, observation
    still_works(env)


def test_calls_are_independent_and_math_libraries_work(env) -> None:
    call(env, "x = 41")
    observation, _ = call(env, "print(x)")
    assert "NameError" in observation
    observation, _ = call(env, "import sympy; print(sympy.factorint(360))")
    assert observation == "Output:\n{2: 3, 3: 2, 5: 1}"


def test_errors_show_the_agent_a_short_traceback(env) -> None:
    observation, _ = call(env, "def f():\n    return 1 / 0\nf()")
    assert "ZeroDivisionError: division by zero" in observation
    assert 'File "<python>", line 2, in f' in observation
    assert "sandbox_runner" not in observation  # the runner's own frames are not shown


@pytest.mark.skipif(not _seccomp_available(), reason="pyseccomp or libseccomp.so.2 missing")
@pytest.mark.parametrize(
    "code, expected",
    [
        ("import socket; socket.socket()", "Operation not permitted"),
        ("import os; os.fork()", "Operation not permitted"),
        ("import os, signal; os.kill(os.getppid(), signal.SIGKILL)", "Operation not permitted"),
        ("import subprocess; subprocess.run(['id'])", "Operation not permitted"),
        # libc's fork() straight through ctypes, past anything Python could check
        ("import ctypes; print('fork returned', ctypes.CDLL(None).fork())", "fork returned -1"),
    ],
)
def test_seccomp_alone_stops_new_processes_sockets_and_signals(code: str, expected: str) -> None:
    """The kernel layer holds by itself: with the audit hook off, the same attempts fail."""
    sandbox = PythonSandbox(SandboxLimits(cpu_seconds=1, wall_seconds=5), audit_hook=False)
    result = sandbox.run(code)
    assert expected in result.output, result.output
    assert os.getpid() > 0  # still here


def test_wall_clock_limit_kills_a_sleeping_call() -> None:
    result = PythonSandbox(SandboxLimits(wall_seconds=1.0)).run("import time; time.sleep(30)")
    assert result.reason.startswith("wall-clock limit") and result.seconds < 10
