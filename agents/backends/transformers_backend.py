"""Inference with Hugging Face transformers: the CPU default and the trainer's own model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..scoring import candidate_logprobs, continuation_logprobs
from .base import Generation
from .loading import load_pretrained


class TransformersBackend:
    """Batched sampling and scoring with a ``transformers`` causal LM.

    The trainer may hand its own model object in; then ``load_weights`` has nothing to copy.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any):
        self.model = model
        self.tokenizer = tokenizer
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_token_id
        )

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, dtype: str = "float32"
    ) -> TransformersBackend:
        model, tokenizer = load_pretrained(name_or_path, dtype)
        return cls(model.eval(), tokenizer)

    @torch.no_grad()
    def generate(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_logprobs: int = 0,
    ) -> list[Generation]:
        """Left-padded batched sampling; log-probs are of the temperature-scaled distribution
        (with ``top_logprobs`` > 0, also the k most likely tokens of it at every step)."""
        if not prompts:
            return []
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
            attention_mask[row, width - len(prompt) :] = 1
        device = next(self.model.parameters()).device
        greedy = temperature == 0
        output = self.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=not greedy,
            temperature=None if greedy else temperature,
            top_p=None if greedy else top_p,
            top_k=0,  # transformers samples from the top 50 by default
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
        new_tokens = output.sequences[:, width:]
        logits = torch.stack(output.logits, dim=1).float()
        logprobs = torch.log_softmax(logits / (temperature or 1.0), dim=-1)
        token_logprobs = logprobs.gather(2, new_tokens[..., None])[..., 0]
        top = logprobs.topk(min(top_logprobs, logprobs.shape[-1]), dim=-1) if top_logprobs else None
        generations = []
        for row in range(len(prompts)):
            ids = new_tokens[row].tolist()
            if self.eos_token_id in ids:
                end, reason = ids.index(self.eos_token_id) + 1, "stop"
            else:
                end, reason = len(ids), "length"
            alternatives = None
            if top is not None:
                values, indices = top.values[row, :end].tolist(), top.indices[row, :end].tolist()
                alternatives = [
                    list(zip(i, v, strict=True)) for i, v in zip(indices, values, strict=True)
                ]
            generations.append(
                Generation(ids[:end], token_logprobs[row, :end].tolist(), reason, alternatives)
            )
        return generations

    @torch.no_grad()
    def score(self, prompts: list[list[int]], continuations: list[list[int]]) -> list[list[float]]:
        values = continuation_logprobs(
            self.model, prompts, continuations, pad_token_id=self.pad_token_id
        )
        return [v.tolist() for v in values]

    @torch.no_grad()
    def score_candidates(
        self, prompts: list[list[int]], candidates: list[list[list[int]]]
    ) -> list[list[list[float]]]:
        values = candidate_logprobs(self.model, prompts, candidates, pad_token_id=self.pad_token_id)
        return [[v.tolist() for v in per_prompt] for per_prompt in values]

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        own = self.model.state_dict()
        if all(own[k].data_ptr() == v.data_ptr() for k, v in state_dict.items() if k in own):
            return  # the trainer's model is this backend's model
        self.model.load_state_dict(state_dict)
