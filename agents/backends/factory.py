"""The one place that builds an inference backend, for a policy, a judge or a user simulator.

``kind`` names the engine: ``transformers`` (the CPU default; also the trainer's own model) or
``vllm`` (vLLM's offline engine, :mod:`~turngym.agents.backends.vllm_backend`). A backend built
on a model the trainer owns may share its weights (``share_weights=True``, the transformers
default: nothing to copy after an update) or hold a copy of its own, as every other engine
does, which sees an update only through
:meth:`~turngym.agents.backends.base.InferenceBackend.load_weights`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .base import InferenceBackend

#: the engines ``make_backend`` knows (read by config validation, which imports no torch)
BACKEND_KINDS = ("transformers", "vllm")
#: ``vllm.LLM`` keywords turngym sets itself (``options`` may give any other)
VLLM_OWNED_OPTIONS = ("model", "tokenizer", "dtype", "seed", "logprobs_mode")


def make_backend(
    kind: str = "transformers",
    *,
    model: Any = None,
    tokenizer: Any = None,
    name_or_path: str | Path | None = None,
    dtype: str = "float32",
    share_weights: bool = True,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> InferenceBackend:
    """A backend of ``kind`` on ``model`` and ``tokenizer`` (objects in this process), or on a
    Hugging Face name or ``save_pretrained`` folder (``name_or_path``).

    ``vllm`` always holds a copy of its own (``share_weights`` is not read): for a ``model``
    given as an object the engine starts from its config and tokenizer (in a temporary folder)
    and receives its weights through ``load_weights``. ``seed`` and ``options`` (further
    ``vllm.LLM`` keywords) are read by ``vllm`` only.

    Raises:
        ValueError: an unknown ``kind``, or neither or both of ``model`` and ``name_or_path``.
        ModelLoadError: ``name_or_path`` does not load.
    """
    if kind not in BACKEND_KINDS:
        raise ValueError(f"unknown inference backend {kind!r}; available: {list(BACKEND_KINDS)}")
    if (model is None) == (name_or_path is None):
        raise ValueError("make_backend takes a model (with its tokenizer) or a name_or_path")
    if model is not None and tokenizer is None:
        raise ValueError("make_backend(model=...) needs the model's tokenizer too")
    if kind == "vllm":
        return _vllm_backend(model, tokenizer, name_or_path, dtype, seed, options)
    from .transformers_backend import TransformersBackend

    if name_or_path is not None:
        return TransformersBackend.from_pretrained(name_or_path, dtype)
    if not share_weights:
        model = copy.deepcopy(model).eval().requires_grad_(False)
    return TransformersBackend(model, tokenizer)


def policy_backend(
    model_config: Any, model: Any, tokenizer: Any, *, share_weights: bool = True, seed: int = 0
) -> InferenceBackend:
    """:func:`make_backend` for a run's policy, as its ``model`` section says: the engine
    (``model.backend``), its dtype (``model.dtype``) and further vLLM keywords (``model.vllm``,
    e.g. ``gpu_memory_utilization`` on a GPU shared with training)."""
    return make_backend(
        model_config.backend,
        model=model,
        tokenizer=tokenizer,
        dtype=model_config.dtype,
        share_weights=share_weights,
        seed=seed,
        options=model_config.vllm,
    )


def _vllm_backend(model, tokenizer, name_or_path, dtype, seed, options) -> InferenceBackend:
    import tempfile

    from .vllm_backend import VLLMBackend

    if name_or_path is not None:
        return VLLMBackend(name_or_path, dtype=dtype, seed=seed, options=options)
    # The engine starts from the model's config and tokenizer with placeholder weights, then
    # gets the model's own through the weight sync: nothing as big as the weights is written
    # (a 7B copy per rank would be 15 GB of disk), and every rank can do it (transformers'
    # ``model.save_pretrained`` writes on rank 0 only once torch.distributed is initialized).
    folder = tempfile.mkdtemp(prefix="turngym-vllm-")
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    options = {**(options or {}), "load_format": "dummy"}
    backend = VLLMBackend(folder, dtype=dtype, seed=seed, options=options)
    backend.load_weights(model.state_dict())
    return backend
