"""Registration of turngym environments under the ``turngym/`` Gymnasium namespace."""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "turngym"


def register_env(name: str, entry_point: str, max_episode_steps: int | None, **kwargs) -> str:
    """Register ``turngym/<name>`` once (re-registration on re-import is a no-op)."""
    env_id = f"{NAMESPACE}/{name}"
    if env_id not in gym.registry:
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
        raise ValueError(f"unknown env id {env_id!r}; registered turngym envs: {list_envs()}")
    return env_id
