"""Training a Bradley-Terry reward model on preference pairs.

Bradley-Terry (1952), as in InstructGPT's reward model (Ouyang et al., 2022): the probability
that y_w is preferred to y_l is sigma(r(x, y_w) - r(x, y_l)), so the loss over pairs is

    L = -E[ log sigma(r(x, y_w) - r(x, y_l)) ].

Pairs come as :class:`TextPair` (prompt, chosen, rejected) from a JSONL file
(:func:`load_jsonl_pairs`), from trajectory pairs of :mod:`turngym.algos.pairs` or a judge
(:func:`trajectory_text_pairs`). Every optimizer step goes through the :class:`TrainEngine`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from turngym.rewards.reward_model import RewardModel, conversation_messages, response_messages

from .engine import TrainEngine
from .pairs import PreferencePair


@dataclass(frozen=True)
class TextPair:
    """A preference between two responses to one prompt (``prompt`` may be empty), or between
    two whole conversations (``messages`` given: chosen and rejected are then unused)."""

    prompt: str
    chosen: str
    rejected: str
    chosen_messages: tuple | None = None
    rejected_messages: tuple | None = None

    def texts_raw(self) -> list[str]:
        """The pair's own words (for a tokenizer trained on them)."""
        messages = [*(self.chosen_messages or ()), *(self.rejected_messages or ())]
        return [self.prompt, self.chosen, self.rejected, *(m["content"] for m in messages)]

    def texts(self, model: RewardModel) -> tuple[str, str]:
        if self.chosen_messages is not None and self.rejected_messages is not None:
            chosen, rejected = list(self.chosen_messages), list(self.rejected_messages)
        else:
            chosen = response_messages(self.prompt, self.chosen)
            rejected = response_messages(self.prompt, self.rejected)
        return model.text_of(chosen), model.text_of(rejected)


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """-mean log sigma(r_w - r_l) (see the module docstring)."""
    return -F.logsigmoid(chosen - rejected).mean()


def load_jsonl_pairs(path: str | Path) -> list[TextPair]:
    """Pairs from a JSONL file, one object a line: ``{"prompt": ..., "chosen": ...,
    "rejected": ...}`` (``prompt`` optional); an error names the line and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file {path} does not exist")
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected an object with chosen and rejected")
        for key in ("chosen", "rejected"):
            if not isinstance(row.get(key), str):
                raise ValueError(f"{path}:{number}: {key!r} must be a string")
        prompt = row.get("prompt", "")
        if not isinstance(prompt, str):
            raise ValueError(f"{path}:{number}: 'prompt' must be a string")
        pairs.append(TextPair(prompt, row["chosen"], row["rejected"]))
    if not pairs:
        raise ValueError(f"pairs file {path} holds no pairs")
    return pairs


def trajectory_text_pairs(pairs: Sequence[PreferencePair]) -> list[TextPair]:
    """Whole-conversation pairs from trajectory pairs (:mod:`turngym.algos.pairs`, or a judge's
    winners made into :class:`PreferencePair` s)."""
    return [
        TextPair("", "", "", tuple(conversation_messages(p.chosen)),
                 tuple(conversation_messages(p.rejected)))
        for p in pairs
    ]  # fmt: skip


def pairwise_accuracy(model: RewardModel, pairs: Sequence[TextPair], batch_size: int = 32) -> float:
    """The share of pairs with r(chosen) > r(rejected) (a tie counts one half)."""
    if not pairs:
        return float("nan")
    texts = [text for pair in pairs for text in pair.texts(model)]
    scores = model.score_texts(texts, batch_size)
    right = 0.0
    for k in range(len(pairs)):
        chosen, rejected = scores[2 * k], scores[2 * k + 1]
        right += 1.0 if chosen > rejected else (0.5 if chosen == rejected else 0.0)
    return right / len(pairs)


def train_reward_model(
    model: RewardModel,
    engine: TrainEngine,
    pairs: Sequence[TextPair],
    epochs: int = 1,
    batch_size: int = 16,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Bradley-Terry training on ``pairs`` (shuffled each epoch by ``seed``); one row of
    metrics per epoch: mean loss, training accuracy, mean margin r_w - r_l."""
    if not pairs:
        raise ValueError("no preference pairs to train the reward model on")
    texts = [pair.texts(model) for pair in pairs]
    order = list(range(len(pairs)))
    rng = random.Random(seed)
    history = []
    model.model.train()
    for epoch in range(epochs):
        rng.shuffle(order)
        losses, right, margins = [], 0, []
        for start in range(0, len(order), batch_size):
            batch = [texts[k] for k in order[start : start + batch_size]]
            scores = model.rewards([text for pair in batch for text in pair])
            chosen, rejected = scores[0::2], scores[1::2]
            loss = bradley_terry_loss(chosen, rejected)
            engine.backward_and_step(loss)
            losses.append(loss.item())
            margin = (chosen - rejected).detach()
            right += int((margin > 0).sum())
            margins += margin.tolist()
        history.append({"epoch": epoch + 1, "loss": sum(losses) / len(losses),
                        "train_accuracy": right / len(order),
                        "margin": sum(margins) / len(margins)})  # fmt: skip
    model.model.eval()
    return history
