"""The pipeline's alignment stages (:mod:`turngym.algos.pipeline`): ``reward_model`` (RLHF's
second stage) and ``critique_revise`` (Constitutional AI's supervised stage)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import torch

from turngym.agents.agent import Agent
from turngym.agents.backends import load_pretrained, policy_backend
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.config.pipeline import CritiqueReviseStage, Principle, RewardModelStage
from turngym.config.reward_model import RewardModelRunConfig

from .behaviour_cloning import sft
from .engine import TorchEngine, save_checkpoint
from .pipeline import StageContext, StageOutcome, register_stage
from .pipeline_stages import draw_train_tasks, fresh_folder
from .reward_model_run import run_reward_model
from .samples import StepSample


@register_stage("reward_model")
def run_reward_model_stage(stage: RewardModelStage, context: StageContext) -> StageOutcome:
    """``turngym reward-model`` on the stage's pairs, its body from the starting checkpoint
    (``base: policy``); the episodes of ``pairs.source: rollouts`` are the starting policy's on
    the pipeline's train tasks. Returns the policy unchanged and the artifact
    ``reward_model``."""
    fresh_folder(context)
    pipeline, folder = context.pipeline, context.folder / "reward_model"
    rollouts = stage.pairs.source == "rollouts"
    base = context.policy if stage.base == "policy" else stage.base
    config = RewardModelRunConfig.model_validate({
        "model": {**pipeline.model.model_dump(), "name_or_path": base},
        "pairs": stage.pairs.model_dump(exclude_unset=True),
        "env": pipeline.env.model_dump() if rollouts else None,
        "policy": context.policy if rollouts else None,
        "agent": {**pipeline.agent.model_dump(), **({} if stage.temperature is None else
                                                     {"temperature": stage.temperature})},
        "train": {**stage.training.model_dump(), "seed": context.seed, "output_dir": str(folder),
                  "overwrite": True, "torch_threads": pipeline.run.torch_threads},
    })  # fmt: skip
    result = run_reward_model(config)
    accuracy = result["held_out_accuracy"]
    metrics = {
        "rm/pairs_train": float(result["pairs"]["train"]),
        "rm/pairs_held_out": float(result["pairs"]["held_out"]),
        "rm/held_out_accuracy_before": accuracy["before"],
        "rm/held_out_accuracy_after": accuracy["after"],
    }
    return StageOutcome(policy=context.policy, metrics=metrics,
                        artifacts={"reward_model": str(folder)})  # fmt: skip


def critique_messages(
    prompt: str, reply: str, principle: Principle, critique: str | None = None
) -> list[dict[str, str]]:
    """The critic's conversation: the prompt and the reply, the critique request; with
    ``critique``, its answer and the revision request after it."""
    messages = [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": f"Critique request: {principle.critique}"},
    ]
    if critique is not None:
        messages += [
            {"role": "assistant", "content": critique},
            {"role": "user", "content": f"Revision request: {principle.revision}"},
        ]
    return messages


#: conversations per generate call of the critic
CRITIC_BATCH = 32


class Critic:
    """A model that critiques and revises replies (a :func:`make_backend` backend)."""

    def __init__(self, backend: Any, tokenizer: Any, max_new_tokens: int, temperature: float):
        self.backend, self.tokenizer = backend, tokenizer
        self.max_new_tokens, self.temperature = max_new_tokens, temperature

    def answer(self, conversations: list[list[dict[str, str]]]) -> list[str]:
        """The critic's next message in each conversation (one batched call)."""
        prompts = [self.tokenizer.encode(self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False), add_special_tokens=False)
            for messages in conversations]  # fmt: skip
        generations = []
        for start in range(0, len(prompts), CRITIC_BATCH):  # bounded memory with a big critic
            generations += self.backend.generate(
                prompts[start : start + CRITIC_BATCH], self.max_new_tokens, self.temperature
            )
        return [self.tokenizer.decode(g.token_ids, skip_special_tokens=True).strip()
                for g in generations]  # fmt: skip

    def revise(
        self, prompts: list[str], replies: list[str], principles: list[Principle]
    ) -> tuple[list[str], list[str]]:
        """One round: (critiques, revisions) of each reply against its principle."""
        asked = [critique_messages(p, r, c) for p, r, c in zip(prompts, replies, principles,
                                                               strict=True)]  # fmt: skip
        critiques = self.answer(asked)
        revising = zip(prompts, replies, principles, critiques, strict=True)
        revisions = self.answer([critique_messages(*args) for args in revising])
        return critiques, revisions


@register_stage("critique_revise")
def run_critique_revise(stage: CritiqueReviseStage, context: StageContext) -> StageOutcome:
    """Sample the policy's replies, critique and revise each against a drawn principle
    (``revisions.jsonl`` keeps every step), fine-tune the policy on the final revisions."""
    fresh_folder(context)
    pipeline = context.pipeline
    torch.manual_seed(context.seed)
    model, tokenizer = load_pretrained(context.policy, pipeline.model.dtype)
    model.eval()
    backend = policy_backend(pipeline.model, model, tokenizer, seed=context.seed)
    agent = Agent(backend, tokenizer, context.agent_config, seed=context.seed)
    task_ids = draw_train_tasks(context, stage.tasks)
    with pipeline.env.make_pool(pipeline.rollout) as pool, torch.no_grad():
        episodes = run_episodes(agent, pool, group_episodes(task_ids, 1, seed=context.seed))
    turns = [turn for episode in episodes if episode.error is None for turn in episode.turns]
    if stage.critic == "policy":
        critic_backend, critic_tokenizer = backend, tokenizer
    else:
        critic_model, critic_tokenizer = load_pretrained(stage.critic, pipeline.model.dtype)
        critic_backend = policy_backend(pipeline.model, critic_model.eval(), critic_tokenizer,
                                        seed=context.seed)  # fmt: skip
    critic = Critic(critic_backend, critic_tokenizer, stage.max_new_tokens, stage.temperature)
    rng = np.random.default_rng([context.seed, 11])
    prompts = [turn.observation for turn in turns]
    replies = [turn.response_text or turn.action for turn in turns]
    log = [{"prompt": p, "reply": r, "rounds": []} for p, r in zip(prompts, replies, strict=True)]
    with torch.no_grad():
        for _ in range(stage.rounds):
            principles = [stage.constitution[k] for k in
                          rng.integers(len(stage.constitution), size=len(turns))]  # fmt: skip
            critiques, revisions = critic.revise(prompts, replies, principles)
            for entry, principle, critique, revision in zip(
                log, principles, critiques, revisions, strict=True
            ):
                entry["rounds"].append({"principle": principle.critique, "critique": critique,
                                        "revision": revision})  # fmt: skip
            replies = [revision or reply for revision, reply in zip(revisions, replies,
                                                                   strict=True)]  # fmt: skip
    with open(context.folder / "revisions.jsonl", "w") as out:
        out.writelines(json.dumps(entry) + "\n" for entry in log)
    generate = dataclasses.replace(context.agent_config, mode="generate")
    wrap = context.agent_config.mode == "generate"
    samples = []
    for turn, reply in zip(turns, replies, strict=True):
        target = f"<action>{reply}</action>" if wrap and "<action>" not in reply else reply
        ids = agent.encode_action(target)
        samples.append(StepSample(turn.prompt_ids, ids, [0.0] * len(ids), advantage=0.0))
    del model, backend
    metrics = {
        "cai/replies": float(len(turns)),
        "cai/revised_differs": float(
            np.mean([e["rounds"][-1]["revision"] != e["reply"] for e in log])
        )
        if log
        else 0.0,  # fmt: skip
    }
    torch.manual_seed(context.seed)
    policy, tokenizer = load_pretrained(context.policy, pipeline.model.dtype)
    training = stage.training
    engine = TorchEngine(policy, training.learning_rate)
    metrics.update(sft(engine, tokenizer, samples, generate, epochs=training.epochs,
                       batch_size=training.batch_size, seed=context.seed))  # fmt: skip
    save_checkpoint(context.folder, engine, tokenizer, context.agent_config,
                    run_config=pipeline.model_dump(), metrics=metrics)  # fmt: skip
    return StageOutcome(policy=str(context.folder), metrics=metrics)
