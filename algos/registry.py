"""Registries of advantage estimators, policy losses, KL estimators and preference losses,
chosen by name in the config.

An estimator declares what it needs beyond the trajectories when it registers, and the
training loop provides it; the loop never tests an estimator's name:

- ``"values"``: a learned critic; the loop calls ``fn(trajectories, config, values=...,
  last_values=...)`` (V per step, and V of each final observation) and the estimator returns an
  object with ``advantages`` and ``critic_targets`` (what the critic regresses on);
- ``"greedy_baseline"``: one argmax rollout per group, added to the batch with its episode id
  ending in ``config.greedy_episode_suffix``.

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
#: what each advantage estimator needs from the loop (see the module docstring)
ADVANTAGE_NEEDS: dict[str, frozenset[str]] = {}
ESTIMATOR_NEEDS = ("values", "greedy_baseline")


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


def register_advantage(name: str, needs: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Register ``fn(trajectories, config) -> list[np.ndarray]`` (one advantage per turn);
    ``needs``: what the loop must provide (:data:`ESTIMATOR_NEEDS`)."""
    unknown = sorted(set(needs) - set(ESTIMATOR_NEEDS))
    if unknown:
        raise ValueError(f"estimator {name!r} needs {unknown}; the loop provides {ESTIMATOR_NEEDS}")
    ADVANTAGE_NEEDS[name] = frozenset(needs)
    return _register(ADVANTAGE_ESTIMATORS, "advantage estimator", name)


def advantage_needs(name: str) -> frozenset[str]:
    """What the registered estimator ``name`` needs from the loop."""
    get_advantage(name)
    return ADVANTAGE_NEEDS.get(name, frozenset())


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
