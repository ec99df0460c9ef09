"""The one place that loads a Hugging Face model and tokenizer from a name or a folder.

Every failure (a folder that does not exist, one with only ``config.json``, a truncated
``model.safetensors``, a name that is neither a folder nor reachable on the hub) becomes one
:class:`ModelLoadError` whose message names the source and the cause in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ModelLoadError(ValueError):
    """A model or tokenizer that could not be loaded (one line: the source and the cause)."""


def _looks_local(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return (
        Path(text).expanduser().exists() or text.startswith((".", "/", "~")) or text.count("/") > 1
    )


def load_pretrained(name_or_path: str | Path, dtype: str = "float32") -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a Hugging Face name or a ``save_pretrained`` folder; the
    tokenizer pads on the left (transformers 5 does not save ``padding_side``)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = str(name_or_path)
    folder = Path(source).expanduser()
    if _looks_local(source):
        if not folder.is_dir():
            raise ModelLoadError(f"model {source!r}: no such folder")
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"model {source!r}: not a save_pretrained folder (no config.json)")
        if not any((folder / name).is_file() for name in WEIGHT_FILES):
            raise ModelLoadError(
                f"model {source!r}: no weights in the folder (looked for {', '.join(WEIGHT_FILES)})"
            )
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, dtype))
        tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as error:  # OSError, SafetensorError, ValueError, ... : one line each
        cause = " ".join(str(error).split()) or type(error).__name__
        raise ModelLoadError(f"cannot load model {source!r}: {cause[:400]}") from error
    tokenizer.padding_side = "left"
    return model, tokenizer


def load_policy(
    model: Any, build_dir: str | Path, env_id: str, env_kwargs: dict[str, Any], seed: int = 0
) -> tuple[Any, Any]:
    """The policy a run starts from: ``model.name_or_path`` loaded, or for ``"tiny"`` the tiny
    model built offline into ``build_dir`` (once), its tokenizer trained on ``env_id``'s text.

    Args:
        model: the run's model settings (``name_or_path``, ``dtype``, ``tiny``: the tiny
            model's ``vocab_size``, ``hidden_size``, ``num_layers``, ``num_heads``,
            ``intermediate_size``).
    """
    source = model.name_or_path
    if source == "tiny":
        from turngym.agents.tiny import build_tiny_model

        folder = Path(build_dir)
        if not (folder / "config.json").exists():
            tiny = model.tiny
            build_tiny_model(
                folder,
                env_ids=[env_id],
                env_kwargs={env_id: env_kwargs},
                vocab_size=tiny.vocab_size,
                seed=seed,
                hidden_size=tiny.hidden_size,
                num_layers=tiny.num_layers,
                num_heads=tiny.num_heads,
                intermediate_size=tiny.intermediate_size,
            )
        source = str(folder)
    return load_pretrained(source, model.dtype)
