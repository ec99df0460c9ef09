"""Registries of advantage estimators, policy losses, KL estimators and preference losses,
chosen by name in the config.

Example:
    >>> @register_advantage("my_estimator")
    ... def my_estimator(trajectories, config): ...
    >>> get_advantage("my_estimator")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

ADVANTAGE_ESTIMATORS: dict[str, Callable] = {}
POLICY_LOSSES: dict[str, Callable] = {}
PREFERENCE_LOSSES: dict[str, Callable] = {}
KL_ESTIMATORS: dict[str, Callable] = {}


def _register(table: dict[str, Callable], kind: str, name: str) -> Callable[[F], F]:
    def decorator(fn: F) -> F:
        if name in table and table[name] is not fn:
            raise ValueError(f"{kind} {name!r} is already registered")
        table[name] = fn
        return fn

    return decorator


def _get(table: dict[str, Callable], kind: str, name: str) -> Callable:
    if name not in table:
        raise KeyError(f"unknown {kind} {name!r}; registered: {sorted(table)}")
    return table[name]


def register_advantage(name: str) -> Callable[[F], F]:
    """Register ``fn(trajectories, config) -> list[np.ndarray]`` (one advantage per turn)."""
    return _register(ADVANTAGE_ESTIMATORS, "advantage estimator", name)


def register_policy_loss(name: str) -> Callable[[F], F]:
    """Register ``fn(logprobs, old_logprobs, advantages, config, mask) -> (unit_loss, metrics)``.

    Inputs are ``[batch, units]``; ``metrics`` holds per-unit tensors, at least ``clipped``.
    """
    return _register(POLICY_LOSSES, "policy loss", name)


def get_advantage(name: str) -> Callable:
    return _get(ADVANTAGE_ESTIMATORS, "advantage estimator", name)


def get_policy_loss(name: str) -> Callable:
    return _get(POLICY_LOSSES, "policy loss", name)


def register_preference_loss(name: str) -> Callable[[F], F]:
    """Register ``fn(batch, config) -> (loss per example [B], metrics)`` (see preference.py)."""
    return _register(PREFERENCE_LOSSES, "preference loss", name)


def get_preference_loss(name: str) -> Callable:
    return _get(PREFERENCE_LOSSES, "preference loss", name)


def register_kl_estimator(name: str) -> Callable[[F], F]:
    """Register ``fn(logprobs, ref_logprobs) -> per-unit KL(pi || pi_ref) estimate``."""
    return _register(KL_ESTIMATORS, "KL estimator", name)


def get_kl_estimator(name: str) -> Callable:
    return _get(KL_ESTIMATORS, "KL estimator", name)
