"""The environment side of ``turngym.agents.EnvPool``: what runs inside a worker process.

It lives in ``turngym.envs`` so that a worker imports only the environments, not torch.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym

from .expert import with_expert_action

READY = "ready"
STARTUP_FAILED = "startup failed"
TRACEBACK_FRAMES = -12  # the innermost frames: where the environment raised


def make_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    import turngym.envs  # noqa: F401  (registers turngym ids in a fresh process)

    return gym.make(env_id, **env_kwargs)


def run_command(
    envs: dict[int, gym.Env],
    slot: int,
    command: str,
    payload: Any,
    env_id: str,
    env_kwargs: dict[str, Any],
    expert: bool = False,
) -> Any:
    """``reset`` (payload: reset kwargs; makes the slot's env on first use) or ``step``; with
    ``expert``, the answer's info carries the environment's next expert move."""
    if command == "reset":
        if slot not in envs:
            envs[slot] = make_env(env_id, env_kwargs)
        result = envs[slot].reset(**payload)
    elif command == "step":
        result = envs[slot].step(payload)
    else:
        raise ValueError(f"unknown command {command!r}")
    return with_expert_action(envs[slot], result, command) if expert else result


def format_error() -> str:
    return traceback.format_exc(limit=TRACEBACK_FRAMES)


def serve(
    connection: Connection,
    env_id: str,
    env_kwargs: dict[str, Any],
    imports: Sequence[str] = (),
    expert: bool = False,
) -> None:
    """Answer ``(slot, command, payload)`` messages until ``None`` or a closed pipe.

    ``imports``: modules that register ``env_id`` (a user's own environments), imported first.
    """
    from turngym.envs import import_env_modules

    try:
        import_env_modules(imports)
    except ImportError as error:
        connection.send((STARTUP_FAILED, str(error)))
        return
    connection.send(READY)
    envs: dict[int, gym.Env] = {}
    while True:
        try:
            message = connection.recv()
        except (EOFError, KeyboardInterrupt):
            break
        if message is None:
            break
        slot, command, payload = message
        try:
            value = run_command(envs, slot, command, payload, env_id, env_kwargs, expert)
            connection.send((slot, True, value, None))
        except Exception:  # an environment bug fails this command, not the worker
            connection.send((slot, False, None, format_error()))
    for env in envs.values():
        env.close()
