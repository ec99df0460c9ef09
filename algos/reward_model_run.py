"""``turngym reward-model CONFIG``: pairs in, a Bradley-Terry reward model out.

1. Pairs: a JSONL file, or episodes of a policy on an environment judged two by two
   (``pairs.judge``: the rule judge, a local LLM judge or an endpoint; ties dropped).
2. A held-out share (``pairs.eval_fraction``) is set aside; the reward model starts from
   ``model.name_or_path`` (its body; the scalar head new).
3. Bradley-Terry training through the :class:`~turngym.algos.engine.TorchEngine`
   (:mod:`turngym.algos.reward_model_training`); held-out pairwise accuracy before and after.
4. The reward model is saved as a Hugging Face folder in ``train.output_dir`` with
   ``result.json``; the ``reward_model`` scorer loads it.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import torch

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.backends import load_policy, policy_backend
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.common.run_folder import prepare_run_folder
from turngym.config.reward_model import RewardModelRunConfig
from turngym.config.run import EnvPoolConfig
from turngym.rewards.reward_model import RewardModel

from .engine import TorchEngine
from .metrics import write_json
from .pairs import PreferencePair
from .preference_run import make_judge
from .reward_model_training import (
    TextPair,
    load_jsonl_pairs,
    pairwise_accuracy,
    train_reward_model,
    trajectory_text_pairs,
)


def judged_rollout_pairs(config: RewardModelRunConfig, build_dir: Path) -> list[TextPair]:
    """Episodes of ``config.policy`` on ``pairs.tasks`` train tasks, ``samples_per_task`` each,
    judged two by two; the winner of each judged pair is the chosen side (ties dropped)."""
    settings, env = config.pairs, config.env
    policy = config.model.model_copy(update={"name_or_path": config.policy or
                                             config.model.name_or_path})  # fmt: skip
    model, tokenizer = load_policy(policy, build_dir, env.id, env.make_kwargs(), config.train.seed)
    backend = policy_backend(config.model, model.eval(), tokenizer, seed=config.train.seed)
    agent = Agent(backend, tokenizer, AgentConfig(**config.agent.model_dump()), config.train.seed)
    start = env.train_tasks.start
    tasks = list(range(start, min(env.train_tasks.stop, start + settings.tasks)))
    with env.make_pool(EnvPoolConfig()) as pool:
        episodes = run_episodes(
            agent, pool, group_episodes(tasks, settings.samples_per_task, config.train.seed)
        )
    couples = [(episodes[k], episodes[k + 1]) for k in range(0, len(episodes) - 1, 2)
               if episodes[k].group_id == episodes[k + 1].group_id]  # fmt: skip
    verdicts = make_judge(settings.judge, model, tokenizer).compare(couples)
    pairs = []
    for (a, b), verdict in zip(couples, verdicts, strict=True):
        if verdict.winner is not None:
            chosen, rejected = (a, b) if verdict.winner == "A" else (b, a)
            pairs.append(PreferencePair(chosen, rejected, "judge"))
    return trajectory_text_pairs(pairs)


def split_pairs(
    pairs: list[TextPair], eval_fraction: float, seed: int
) -> tuple[list[TextPair], list[TextPair]]:
    """(train, held out): a seeded shuffle, the last ``eval_fraction`` held out."""
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    held = round(len(pairs) * eval_fraction)
    train = [pairs[k] for k in order[: len(pairs) - held]]
    return train, [pairs[k] for k in order[len(pairs) - held :]]


def run_reward_model(config: RewardModelRunConfig) -> dict[str, Any]:
    """Steps 1-4 of the module docstring; returns what ``result.json`` holds."""
    run = config.train
    output = Path(run.output_dir)
    prepare_run_folder(output, resume=False, overwrite=run.overwrite)
    if run.torch_threads:
        torch.set_num_threads(run.torch_threads)
    torch.manual_seed(run.seed)
    with tempfile.TemporaryDirectory() as scratch:
        if config.pairs.source == "jsonl":
            pairs = load_jsonl_pairs(config.pairs.path)
        else:
            pairs = judged_rollout_pairs(config, Path(scratch, "policy"))
        if len(pairs) < 2:
            raise RuntimeError(f"{len(pairs)} preference pairs: too few to train and evaluate")
        train, held_out = split_pairs(pairs, config.pairs.eval_fraction, run.seed)
        base = _base_model(config, pairs, Path(scratch, "base"))
        reward_model = RewardModel.from_pretrained(base, run.max_length)
    before = pairwise_accuracy(reward_model, held_out)
    engine = TorchEngine(reward_model.model, run.learning_rate, max_grad_norm=run.max_grad_norm)
    history = train_reward_model(reward_model, engine, train, run.epochs, run.batch_size, run.seed)
    after = pairwise_accuracy(reward_model, held_out)
    reward_model.save(output)
    result = {
        "pairs": {"train": len(train), "held_out": len(held_out)},
        "held_out_accuracy": {"before": before, "after": after},
        "training": history,
        "reward_model": str(output),
    }
    write_json(output / "result.json", result)
    return result


def _base_model(config: RewardModelRunConfig, pairs: list[TextPair], folder: Path) -> str:
    """The causal LM to start from: ``model.name_or_path``, or for ``tiny`` one built offline
    with a tokenizer trained on the pairs' own text."""
    if config.model.name_or_path != "tiny":
        return config.model.name_or_path
    from turngym.agents.tiny import build_tiny_model

    corpus = [" ".join(pair.texts_raw()) for pair in pairs[:2000]]
    tiny = config.model.tiny
    build_tiny_model(folder, env_ids=[], extra_corpus=corpus, vocab_size=tiny.vocab_size,
                     seed=config.train.seed, hidden_size=tiny.hidden_size,
                     num_layers=tiny.num_layers, num_heads=tiny.num_heads,
                     intermediate_size=tiny.intermediate_size)  # fmt: skip
    return str(folder)
