"""The rollout loop: an agent and a pool of environments in, trajectories out.

Episodes come as N tasks x G rollouts (:func:`group_episodes`); the G rollouts of a task reset
with the same ``task_id`` and share a ``group_id``. The loop acts on every episode whose
observation has arrived, in one batched policy call, and never waits on a slow environment
longer than it takes the others to come back.

Errors: an environment that raises while it is made or reset (missing data, an unknown kwarg, a
task id out of range) is a mistake in the run's setup, not a failed episode:
:class:`EnvStartError` stops the run with the cause. An episode lost later (the environment
raised in ``step``, its worker died or timed out) ends with ``trajectory.error`` set; callers
count such episodes apart from failures (:func:`lost_episodes`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from turngym.envs.expert import EXPERT_ACTION_KEY

from .agent import Agent, AgentInput
from .env_pool import EnvPool, SlotResult
from .trajectory import Trajectory, Turn


class EnvStartError(RuntimeError):
    """An environment failed to start or reset: the cause, in one line, and the traceback."""

    def __init__(self, env_id: str, task_id: Any, traceback_text: str):
        lines = [line for line in (traceback_text or "").strip().splitlines() if line.strip()]
        self.cause = lines[-1] if lines else "unknown error"
        self.traceback_text = traceback_text
        super().__init__(f"{env_id} failed to start or reset (task_id={task_id!r}): {self.cause}")


def lost_episodes(trajectories: list[Trajectory]) -> int:
    """Episodes that ended in an environment error rather than by the environment's rules."""
    return sum(t.error is not None for t in trajectories)


@dataclass
class EpisodeSpec:
    """One episode to run: which task, which group, which seed."""

    episode_id: str
    group_id: str
    task_id: Any
    seed: int | None = None


def group_episodes(task_ids: list[Any], group_size: int, seed: int = 0) -> list[EpisodeSpec]:
    """N tasks x G rollouts: the rollouts of one task share ``group_id`` and ``task_id``."""
    specs = []
    for n, task_id in enumerate(task_ids):
        for g in range(group_size):
            specs.append(
                EpisodeSpec(
                    episode_id=f"{seed}-{n}-{g}",
                    group_id=f"{seed}-{n}",
                    task_id=task_id,
                    seed=seed * 1_000_003 + n * group_size + g,
                )
            )
    return specs


@dataclass
class _Running:
    spec: EpisodeSpec
    trajectory: Trajectory
    observation: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    past: list[tuple[str, str]] = field(default_factory=list)
    started: bool = False  # the reset's answer has arrived


def run_episodes(
    agent: Agent,
    pool: EnvPool,
    specs: list[EpisodeSpec],
    progress: bool = False,
    act_wait: float = 0.005,
    expert: bool = False,
    on_episode_end: Callable[[Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Run every episode in ``specs`` to its end; trajectories come back in ``specs`` order.

    Args:
        expert: act with the environment's expert (:meth:`Agent.demonstrate`, on a pool made
            with ``expert=True``) instead of the policy: demonstrations go the same way as
            rollouts.
        on_episode_end: called with each trajectory as its episode ends (in the order they
            end), e.g. to write it to disk before the others finish.
        act_wait: after a result arrives, how long to wait for more before calling the policy
            on the episodes that are ready (batching versus latency).
    """
    queue = deque(specs)
    running: dict[int, _Running] = {}
    finished: dict[str, Trajectory] = {}
    ready: set[int] = set()
    bar = tqdm(total=len(specs), desc="episodes", disable=not progress, leave=False)

    def start(slot: int) -> None:
        spec = queue.popleft()
        trajectory = Trajectory(
            spec.episode_id, spec.group_id, pool.env_id, spec.task_id, spec.seed
        )
        running[slot] = _Running(spec, trajectory)
        pool.submit(slot, "reset", {"seed": spec.seed, "options": {"task_id": spec.task_id}})

    def finish(slot: int) -> None:
        trajectory = running.pop(slot).trajectory
        finished[trajectory.episode_id] = trajectory
        if on_episode_end is not None:
            on_episode_end(trajectory)
        bar.update(1)
        if queue:
            start(slot)

    for slot in range(pool.num_slots):
        if queue:
            start(slot)
    while running:
        results = pool.poll(timeout=act_wait if ready else None)
        for result in results:
            if _absorb(running[result.slot], result):
                ready.discard(result.slot)
                finish(result.slot)
            else:
                ready.add(result.slot)
        if ready and (not results or pool.in_flight == 0):
            slots = sorted(ready)
            ready.clear()
            inputs = [
                AgentInput(
                    running[s].trajectory.task,
                    running[s].observation,
                    list(running[s].info.get("admissible_actions") or []),
                    running[s].past,
                    running[s].info.get(EXPERT_ACTION_KEY),
                )
                for s in slots
            ]
            decisions = agent.demonstrate(inputs) if expert else agent.act(inputs)
            for slot, step, decision in zip(slots, inputs, decisions, strict=True):
                state = running[slot]
                state.trajectory.turns.append(
                    Turn(
                        observation=state.observation,
                        prompt_ids=decision.prompt_ids,
                        response_ids=decision.response_ids,
                        response_logprobs=decision.response_logprobs,
                        action=decision.action,
                        action_logprob=decision.action_logprob,
                        valid=True,
                        state_key=_as_key(state.info.get("state_key")),
                        admissible_actions=step.admissible_actions,
                        candidate_ids=decision.candidate_ids,
                        chosen_index=decision.chosen_index,
                        response_text=decision.response_text,
                    )
                )
                state.past.append((state.observation, decision.action))
                pool.submit(slot, "step", decision.action)
    bar.close()
    return [finished[spec.episode_id] for spec in specs]


def _absorb(state: _Running, result: SlotResult) -> bool:
    """Fold one environment answer into the episode; True when the episode has ended."""
    trajectory = state.trajectory
    if not result.ok and not state.started and not result.lost:
        raise EnvStartError(trajectory.env_id, trajectory.task_id, result.error)
    if not result.ok:
        trajectory.truncated = True
        trajectory.error = result.error
        return True
    if not state.started:
        observation, info = result.value
        state.observation, state.info, state.started = observation, dict(info), True
        trajectory.task = str(state.info.get("task", ""))
        trajectory.task_type = str(state.info.get("task_type", ""))
        return False
    observation, reward, terminated, truncated, info = result.value
    turn = trajectory.turns[-1]
    turn.reward = float(reward)
    turn.valid = not info.get("invalid_action", False)
    state.observation, state.info = observation, dict(info)
    if terminated or truncated:
        trajectory.won = bool(info.get("won", False))
        trajectory.truncated = bool(truncated and not terminated)
        trajectory.final_observation = observation
        trajectory.final_admissible_actions = list(info.get("admissible_actions") or [])
        if info.get("score") is not None:
            trajectory.score = float(info["score"])
        return True
    return False


def _as_key(state_key: Any) -> str | None:
    return None if state_key is None else str(state_key)
