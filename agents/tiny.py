"""A tiny Qwen2-architecture model and byte-level BPE tokenizer, built entirely offline.

Demos and tests use it so that nothing is downloaded from a model hub; everywhere else the same
code takes a Hugging Face model name or a local path. The tokenizer is trained on text from the
registered environments plus the prompt template, and carries a ChatML chat template.

Example:
    >>> path = build_tiny_model("runs/tiny")
    >>> model = AutoModelForCausalLM.from_pretrained(path)
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def environment_corpus(
    env_ids: Iterable[str],
    episodes: int = 200,
    seed: int = 0,
    env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """Observations, tasks and admissible actions seen by a random policy in each environment
    (made with ``env_kwargs[env_id]``, if given), and the text an environment says its agent
    writes (``corpus_texts()``, e.g. the math environments' worked solutions)."""
    rng = random.Random(seed)
    texts: list[str] = []
    for env_id in env_ids:
        env = gym.make(env_id, **dict((env_kwargs or {}).get(env_id, {})))
        for episode in range(episodes):
            observation, info = env.reset(seed=seed + episode)
            texts.append(observation)
            texts.extend(getattr(env.unwrapped, "corpus_texts", list)())
            for _ in range(20):
                actions = info.get("admissible_actions") or ["look"]
                texts.extend(actions)
                observation, _, terminated, truncated, info = env.step(rng.choice(actions))
                texts.append(observation)
                if terminated or truncated:
                    break
        env.close()
    return texts


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Byte-level BPE (any string encodes; no unknown tokens) with ChatML special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
    )


def tiny_config(
    vocab_size: int,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 256,
    max_positions: int = 2048,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
) -> Qwen2Config:
    """A small Qwen2 with untied embeddings (vLLM's weight reload needs them untied)."""
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        bos_token_id=None,
    )


def build_tiny_model(
    output_dir: str | Path,
    env_ids: Iterable[str] | None = None,
    extra_corpus: Iterable[str] = (),
    env_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    vocab_size: int = 512,
    seed: int = 0,
    **model_kwargs,
) -> Path:
    """Train a tokenizer, initialize a tiny model, and ``save_pretrained`` both to ``output_dir``.

    Args:
        output_dir: folder to write (``AutoModelForCausalLM``/``AutoTokenizer`` load it).
        env_ids: environments whose text trains the tokenizer (default: every ``turngym/`` env
            whose construction needs no extra data).
        extra_corpus: more training text (e.g. the agent's prompt template).
        env_kwargs: ``gymnasium.make`` keyword arguments per environment id.
        model_kwargs: passed to :func:`tiny_config` (``hidden_size``, ``num_layers``, ...).
    """
    from turngym.agents.prompts import template_corpus

    if env_ids is None:
        env_ids = ["turngym/Household-v0"]
    corpus = (
        environment_corpus(env_ids, seed=seed, env_kwargs=env_kwargs)
        + template_corpus()
        + list(extra_corpus)
    )
    tokenizer = train_tokenizer(corpus, vocab_size=vocab_size)
    config = tiny_config(
        len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **model_kwargs,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir
