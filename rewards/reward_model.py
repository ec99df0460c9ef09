"""A learned reward model: a causal LM with a scalar head (transformers'
``AutoModelForSequenceClassification``, one label), trained with the Bradley-Terry loss
(:mod:`turngym.algos.reward_model_training`) and used as a scorer of the reward stage.

A text is scored as r(x) = w^T h_last(x): the head applied to the last non-padding token's hidden
state. A conversation is its chat-template text (:func:`conversation_messages`); a long text is cut
from the left, so the end of the conversation, where the outcome shows, is what the model reads.
The model saves and loads as a Hugging Face folder (``save_pretrained``).

Example:
    >>> model = RewardModel.from_pretrained("runs/rm")
    >>> model.score_texts(["<|im_start|>user\\nHi<|im_end|>\\n..."])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turngym.agents.trajectory import Trajectory

from .scorers import Score, ScoringContext, register_scorer

if TYPE_CHECKING:
    import torch


def conversation_messages(trajectory: Trajectory, turns: int | None = None) -> list[dict[str, str]]:
    """The episode as chat messages: each observation a user message, each reply (the response
    text, else the action) an assistant message; the first ``turns`` turns (default all) and,
    after the last turn of a whole episode, the final observation."""
    shown = trajectory.turns if turns is None else trajectory.turns[:turns]
    messages = []
    for turn in shown:
        messages.append({"role": "user", "content": turn.observation})
        messages.append({"role": "assistant", "content": turn.response_text or turn.action})
    if (turns is None or turns >= trajectory.length) and trajectory.final_observation:
        messages.append({"role": "user", "content": trajectory.final_observation})
    return messages


def response_messages(prompt: str, response: str) -> list[dict[str, str]]:
    """A single response to a prompt as chat messages (no user message for an empty prompt)."""
    messages = [{"role": "user", "content": prompt}] if prompt else []
    return messages + [{"role": "assistant", "content": response}]


def check_reward_model(name_or_path: str | Path, auto_config: Any = None) -> None:
    """``ValueError`` unless ``name_or_path`` is a saved reward model (a sequence-classification
    architecture); a local folder is checked from its ``config.json`` alone (no torch)."""
    import json

    folder = Path(str(name_or_path)).expanduser()
    if folder.is_dir():
        try:
            architectures = json.loads((folder / "config.json").read_text()).get("architectures")
        except (OSError, ValueError) as error:
            raise ValueError(f"reward model {str(name_or_path)!r}: no readable config.json "
                             f"({error})") from None  # fmt: skip
    elif auto_config is None:
        raise ValueError(f"reward model {str(name_or_path)!r}: no such folder")
    else:
        try:
            architectures = auto_config.from_pretrained(str(name_or_path)).architectures
        except OSError as error:
            raise ValueError(f"reward model {str(name_or_path)!r}: {error}") from None
    architectures = architectures or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ValueError(
            f"{str(name_or_path)!r} is not a reward model (architectures: {architectures}); "
            "train one with turngym reward-model"
        )


class RewardModel:
    """r(x) from a sequence-classification model with one output (see the module docstring).

    Args:
        model: a ``*ForSequenceClassification`` with ``num_labels == 1``.
        tokenizer: its tokenizer (with a chat template for conversations).
        max_length: tokens read per text (longer texts lose their beginning).
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, max_length: int = 1024):
        if getattr(model.config, "num_labels", None) != 1:
            raise ValueError("a reward model has one output (num_labels=1)")
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, max_length: int = 1024, trained: bool = False
    ) -> RewardModel:
        """Load a saved reward model, or start one from a causal LM's folder or name (its body,
        a freshly initialised scalar head). ``trained=True`` refuses anything but a saved reward
        model (a causal LM would score with a random head)."""
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging

        if trained:
            check_reward_model(name_or_path, AutoConfig)

        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()  # "newly initialised score head" is expected from an LM
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(name_or_path), num_labels=1
            )
        except OSError as error:
            raise ValueError(f"reward model {str(name_or_path)!r}: {error}") from None
        finally:
            logging.set_verbosity(verbosity)
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
        return cls(model, tokenizer, max_length)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder

    def text_of(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Right-padded ids and attention mask, each text cut to its last ``max_length``
        tokens."""
        import torch

        rows = [self.tokenizer.encode(t, add_special_tokens=False)[-self.max_length :] or
                [self.tokenizer.pad_token_id] for t in texts]  # fmt: skip
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for k, row in enumerate(rows):
            ids[k, : len(row)], mask[k, : len(row)] = torch.tensor(row), 1
        return {"input_ids": ids, "attention_mask": mask}

    def rewards(self, texts: Sequence[str]) -> torch.Tensor:
        """r(x) for each text, with gradients (training)."""
        batch = self.encode(texts)
        device = next(self.model.parameters()).device
        logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
        return logits[:, 0]

    def score_texts(self, texts: Sequence[str], batch_size: int = 16) -> list[float]:
        """r(x) for each text, in batches, without gradients."""
        import torch

        was_training = self.model.training
        self.model.eval()
        scores: list[float] = []
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                scores += self.rewards(texts[start : start + batch_size]).float().tolist()
        self.model.train(was_training)
        return scores


@register_scorer("reward_model")
class RewardModelScorer:
    """The reward stage's learned reward: r(x) of a saved :class:`RewardModel`.

    ``level: episode`` scores the whole conversation once (s = r(episode), on the last turn);
    ``level: turn`` scores every prefix that ends with a reply, s[t] = r(turns 1..t).

    Args:
        path: the reward model's folder (``turngym reward-model`` writes one).
        level: ``episode`` or ``turn``.
        batch_size: texts per forward pass.
        max_length: tokens read per text.
    """

    needs = ()

    def __init__(
        self, path: str, level: str = "episode", batch_size: int = 16, max_length: int = 1024
    ):
        if level not in ("episode", "turn"):
            raise ValueError(f"level must be 'episode' or 'turn', got {level!r}")
        check_reward_model(path)  # at config time, without loading torch
        self.path, self.max_length = path, max_length
        self.level, self.batch_size = level, batch_size
        self._model: RewardModel | None = None

    @property
    def model(self) -> RewardModel:
        """The reward model, loaded when first used."""
        if self._model is None:
            self._model = RewardModel.from_pretrained(self.path, self.max_length, trained=True)
        return self._model

    def score(self, trajectories: Sequence[Trajectory], context: ScoringContext) -> list[Score]:
        if self.level == "episode":
            texts = [self.model.text_of(conversation_messages(t)) for t in trajectories]
            values = self.model.score_texts(texts, self.batch_size)
            return [Score(episode=v, reason=f"reward model {v:.3f}") for v in values]
        texts = [self.model.text_of(conversation_messages(t, k + 1)) for t in trajectories
                 for k in range(t.length)]  # fmt: skip
        values = iter(self.model.score_texts(texts, self.batch_size))
        scores = []
        for trajectory in trajectories:
            turns = [next(values) for _ in range(trajectory.length)]
            scores.append(Score(turns=turns, reason=f"reward model, mean {_mean(turns):.3f}"))
        return scores


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
