"""Registration of turngym environments under the ``turngym/`` Gymnasium namespace, and the
import of a user's modules that register their own."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym

NAMESPACE = "turngym"


def register_env(
    name: str, entry_point: str | Callable, max_episode_steps: int | None, **kwargs
) -> str:
    """Register ``turngym/<name>``.

    Registering the same entry point, step cap and kwargs again (a module imported twice) does
    nothing; registering something else under a taken id replaces it with a warning, as
    ``gymnasium.register`` does.
    """
    env_id = f"{NAMESPACE}/{name}"
    existing = gym.registry.get(env_id)
    if existing is not None:
        same_entry = existing.entry_point is entry_point or existing.entry_point == entry_point
        if same_entry and (existing.max_episode_steps, existing.kwargs) == (
            max_episode_steps,
            kwargs,
        ):
            return env_id
        warnings.warn(
            f"register_env: {env_id} is already registered (entry point "
            f"{existing.entry_point!r}); replacing it with {entry_point!r}",
            stacklevel=2,
        )
        del gym.registry[env_id]
    gym.register(
        id=env_id,
        entry_point=entry_point,
        max_episode_steps=max_episode_steps,
        disable_env_checker=True,
        kwargs=kwargs,
    )
    return env_id


def list_envs() -> list[str]:
    """Every registered ``turngym/`` environment id, sorted."""
    return sorted(env_id for env_id in gym.registry if env_id.startswith(f"{NAMESPACE}/"))


def check_env_id(env_id: str) -> str:
    """Return ``env_id`` if it is registered, else raise a ``ValueError`` listing the known ids."""
    if env_id not in gym.registry:
        raise ValueError(
            f"unknown env id {env_id!r}; registered turngym envs: {list_envs()} (an environment "
            "of your own: import the module that registers it, env.imports / --import)"
        )
    return env_id


def import_env_modules(modules: Sequence[str]) -> None:
    """Import modules that register environments: dotted module names (found from the current
    folder too, as ``python -m`` would) or paths to ``.py`` files.

    Raises:
        ImportError: naming the module and why it did not import.
    """
    for module in modules:
        try:
            if module.endswith(".py"):
                _import_file(Path(module))
            else:
                if os.getcwd() not in sys.path:
                    sys.path.insert(0, os.getcwd())
                importlib.import_module(module)
        except Exception as error:
            raise ImportError(
                f"cannot import {module!r}: {type(error).__name__}: {error}"
            ) from error


def _import_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"no such file {path}")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", None) or "").resolve() == path.resolve():
            return
        raise ImportError(f"a module named {name!r} is already imported from "
                          f"{getattr(loaded, '__file__', None)}; rename {path}")  # fmt: skip
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that its classes pickle by name into worker processes
    spec.loader.exec_module(module)


#: keywords ``gymnasium.make`` takes itself rather than passing them to the constructor
MAKE_KEYWORDS = ("max_episode_steps", "disable_env_checker")


def env_constructor_parameters(env_id: str) -> list[str] | None:
    """The keyword names ``gymnasium.make(env_id, ...)`` accepts (None: any, the constructor
    takes ``**kwargs``). Imports the environment's module, not its heavy engine."""
    import inspect

    from gymnasium.envs.registration import load_env_creator

    entry_point = gym.spec(check_env_id(env_id)).entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    parameters = inspect.signature(creator).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    named = [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    return sorted({*named, *MAKE_KEYWORDS} - {"self"})


def check_env_kwargs(env_id: str, kwargs: dict) -> dict:
    """``kwargs`` if ``gymnasium.make(env_id, **kwargs)`` takes every one of them, else a
    ``ValueError`` naming the unknown ones and the allowed names."""
    allowed = env_constructor_parameters(env_id)
    unknown = [] if allowed is None else sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"{env_id} takes no keyword {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(allowed)}"
        )
    return kwargs


def env_task_count(env_id: str, kwargs: dict) -> int | None:
    """``num_tasks`` of an environment made with ``kwargs`` (None: any task id >= 0). Makes one
    environment, so a missing data folder or a bad kwarg fails here, at start."""
    env = gym.make(env_id, **kwargs)
    try:
        return getattr(env.unwrapped, "num_tasks", None)
    finally:
        env.close()


def check_task_ranges(env_id: str, num_tasks: int | None, ranges: dict[str, range]) -> None:
    """ValueError naming each range (``{"env.train_tasks": range(0, 100)}``) that holds ids the
    environment does not have."""
    if num_tasks is None:
        return
    wrong = [
        f"{name} = [{ids.start}, {ids.stop})"
        for name, ids in ranges.items()
        if len(ids) and (ids.start < 0 or ids.stop > num_tasks)
    ]
    if wrong:
        raise ValueError(
            f"{' and '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not fit {env_id}, "
            f"which has {num_tasks} tasks (ids 0 to {num_tasks - 1}); choose ranges within it"
        )
