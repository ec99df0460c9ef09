"""Preference pairs from trajectories, and the two token shapes multi-turn preference losses read.

Pairs (chosen y_w, rejected y_l), each side a whole trajectory:

- :func:`expert_pairs`: an expert trajectory of a task against each sampled trajectory of the
  same ``task_id`` (ETO/DMPO's setting). A sampled trajectory whose return ties or beats the
  expert's is dropped.
- :func:`group_pairs`: in each group (same ``group_id``, same initial state), the best against
  the worst trajectory by return; a group whose best and worst returns tie is dropped. Among equal
  returns the shorter trajectory counts as better (the best is the shortest of the highest return,
  the worst the longest of the lowest), so a quick win beats a slow one only through return.

Token shapes of one side (both keep turn boundaries, which DMPO's phi(j, N) needs):

- per-step (:func:`turn_samples`, the default of :mod:`turngym.algos.preference_batches`): turn j
  is scored exactly as the policy saw it, log pi(y_j | prompt_j), with the turn's own
  ``prompt_ids`` (task + recent turns + observation, token in, token out);
  log pi(y) = sum_j log pi(y_j | prompt_j).
  In ``choose`` mode a turn has one unit (the choice), in ``generate`` mode one per response
  token. This trains the very distribution the agent samples from at test time.
- whole conversation (:func:`conversation_tokens`): one token sequence, the first turn's
  ``prompt_ids`` then, per turn j, its ``response_ids`` (assistant, labelled, turn index j) and,
  before every later turn, the observation as a user message in the chat template (not labelled).
  A loss mask covers exactly the assistant tokens; ``turn_index`` gives each token's turn (-1 off
  the mask). The observation is the turn's raw text: later turns do not repeat the task or the
  admissible-action list that a per-step prompt may carry.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from turngym.agents.trajectory import Trajectory

from .samples import StepSample


@dataclass
class PreferencePair:
    """Two trajectories of the same task; ``source`` is ``"expert"`` or ``"group"``."""

    chosen: Trajectory
    rejected: Trajectory
    source: str


def expert_pairs(experts: list[Trajectory], sampled: list[Trajectory]) -> list[PreferencePair]:
    """(expert of task t, sampled of task t) for every sampled trajectory the expert out-scores.

    Sampled trajectories of a task with no expert trajectory are skipped; with several experts
    of one task, the first is used.
    """
    by_task: dict[Any, Trajectory] = {}
    for expert in experts:
        by_task.setdefault(_task_key(expert.task_id), expert)
    pairs = []
    for trajectory in sampled:
        expert = by_task.get(_task_key(trajectory.task_id))
        if expert is not None and expert.return_ > trajectory.return_:
            pairs.append(PreferencePair(expert, trajectory, "expert"))
    return pairs


def group_pairs(trajectories: list[Trajectory]) -> list[PreferencePair]:
    """Best vs worst of each ``group_id`` by return (then length); tied returns give no pair."""
    groups: dict[str, list[Trajectory]] = defaultdict(list)
    for trajectory in trajectories:
        groups[trajectory.group_id].append(trajectory)
    pairs = []
    for members in groups.values():
        best = max(members, key=lambda t: (t.return_, -t.length))
        worst = min(members, key=lambda t: (t.return_, -t.length))
        if best.return_ > worst.return_:
            pairs.append(PreferencePair(best, worst, "group"))
    return pairs


def step_pairs(trajectories: list[Trajectory]) -> list[PreferencePair]:
    """Step-DPO (Lai et al., 2024) pairs: the first step where the best and the worst rollout of
    a group part ways after a shared prefix of identical actions.

    Both sides keep only that step (its prompt is the same on both sides, since the prefix is);
    with a sequence-level loss this equals the full trajectories' loss with the shared prefix
    cancelled. Groups whose best and worst never diverge within both lengths give no pair.
    """
    pairs = []
    for pair in group_pairs(trajectories):
        chosen, rejected = pair.chosen, pair.rejected
        for a, b in zip(chosen.turns, rejected.turns, strict=False):
            if a.action != b.action:
                pairs.append(
                    PreferencePair(
                        dataclasses.replace(chosen, turns=[a]),
                        dataclasses.replace(rejected, turns=[b]),
                        "step",
                    )
                )
                break
    return pairs


def mismatched(prompts_of: Trajectory, responses_of: Trajectory) -> Trajectory:
    """KTO's mismatched (x, y'): the turns of ``responses_of``, each given the prompt of
    ``prompts_of``'s turn at the same index (its last turn once past its end).

    The conversation shape reads only the first prompt, so there x is the other episode's
    opening prompt and y' this episode's whole reply-and-observation sequence.
    """
    last = prompts_of.length - 1
    turns = [
        dataclasses.replace(turn, prompt_ids=prompts_of.turns[min(j, last)].prompt_ids)
        for j, turn in enumerate(responses_of.turns)
    ]
    return dataclasses.replace(responses_of, turns=turns)


def _task_key(task_id: Any) -> str:
    return repr(task_id)  # list-valued ids are unhashable; repr keeps 1 and "1" apart


# -- per-step shape ----------------------------------------------------------------------------
def turn_samples(trajectory: Trajectory) -> list[StepSample]:
    """One sample per turn (``prompt_ids`` + ``response_ids`` as the policy saw them)."""
    return [
        StepSample(
            prompt_ids=turn.prompt_ids,
            response_ids=turn.response_ids,
            old_logprobs=turn.response_logprobs,
            advantage=0.0,
            candidate_ids=turn.candidate_ids,
            chosen_index=turn.chosen_index,
        )
        for turn in trajectory.turns
    ]


# -- whole-conversation shape --------------------------------------------------------------------
@dataclass
class Conversation:
    """One trajectory as a single token sequence (see the module docstring)."""

    input_ids: list[int]
    loss_mask: list[int]  # 1 on assistant (response) tokens, 0 elsewhere
    turn_index: list[int]  # the assistant turn of each token; -1 where the mask is 0


def conversation_tokens(trajectory: Trajectory, tokenizer: Any) -> Conversation:
    """The conversation of ``trajectory``: first prompt, then replies and user observations."""
    if not trajectory.turns:
        raise ValueError(f"trajectory {trajectory.episode_id!r} has no turns")
    ids = list(trajectory.turns[0].prompt_ids)
    mask, turn_index = [0] * len(ids), [-1] * len(ids)
    for j, turn in enumerate(trajectory.turns):
        if j > 0:
            user = user_turn_ids(tokenizer, turn.observation)
            ids += user
            mask += [0] * len(user)
            turn_index += [-1] * len(user)
        ids += turn.response_ids
        mask += [1] * len(turn.response_ids)
        turn_index += [j] * len(turn.response_ids)
    return Conversation(ids, mask, turn_index)


def user_turn_ids(tokenizer: Any, observation: str) -> list[int]:
    """The chat template's tokens between an assistant reply (ending in the end-of-turn token)
    and the next reply: what closes the reply, the observation as a user message, and the
    assistant header. Read off the template by rendering a probe conversation with and without
    the user message, so any chat template works.
    """
    probe = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
    closed = tokenizer.apply_chat_template(probe, tokenize=False)
    extended = tokenizer.apply_chat_template(
        probe + [{"role": "user", "content": observation}],
        add_generation_prompt=True,
        tokenize=False,
    )
    if not extended.startswith(closed):
        raise ValueError("the chat template renders earlier turns differently once a turn is added")
    reply_end = "a" + (tokenizer.eos_token or "")
    closing = closed[closed.rindex(reply_end) + len(reply_end) :] if reply_end in closed else ""
    return tokenizer.encode(closing + extended[len(closed) :], add_special_tokens=False)
