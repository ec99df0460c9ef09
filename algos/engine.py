"""Training engines: the one place that steps an optimizer, copies a model for reference and
saves or loads a model with its optimizer state.

A :class:`TrainEngine` owns a model, its optimizer and its learning-rate schedule. Loops hand it
a loss; they never touch an optimizer themselves. :class:`TorchEngine` is plain PyTorch on one
process (AdamW, gradient clipping, accumulation, linear warm-up); an engine on DeepSpeed
implements the same interface. After each update a loop gives the inference backend
``engine.state_dict_for_inference()`` (:meth:`InferenceBackend.load_weights`), which matters as
soon as the backend holds its own copy of the weights (vLLM, another process).

Example:
    >>> engine = TorchEngine(model, learning_rate=1e-4, max_grad_norm=1.0)
    >>> stats = engine.backward_and_step(loss)       # {"grad_norm": ..., "stepped": 1.0}
    >>> reference = engine.frozen_copy()
    >>> engine.save("runs/x/checkpoints/iter_00010")  # save_pretrained + engine_state.pt
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Protocol

import torch

ENGINE_STATE_FILE = "engine_state.pt"


class TrainEngine(Protocol):
    """What every training engine offers the loops."""

    model: torch.nn.Module

    def backward_and_step(self, loss: torch.Tensor) -> dict[str, float]:
        """Back-propagate ``loss``; every ``accumulation_steps`` calls, clip and step."""
        ...

    def frozen_copy(self) -> torch.nn.Module:
        """A copy of the model in eval mode without gradients (a reference policy)."""
        ...

    def state_dict_for_inference(self) -> dict[str, torch.Tensor]:
        """The weights an inference backend loads after an update."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Optimizer and schedule state (not the weights), for exact resume."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def save(self, folder: str | Path) -> Path:
        """The model as a ``save_pretrained`` folder, plus :data:`ENGINE_STATE_FILE`."""
        ...

    def load(self, folder: str | Path) -> None:
        """Optimizer and schedule state from a folder :meth:`save` wrote (the weights are
        loaded with the model, :func:`~turngym.agents.backends.load_pretrained`)."""
        ...


class TorchEngine:
    """A :class:`TrainEngine` on plain PyTorch, in this process.

    Args:
        model: the module to train (a ``transformers`` model or any ``nn.Module``).
        learning_rate: AdamW's step size after warm-up.
        weight_decay: AdamW's decoupled weight decay.
        max_grad_norm: clip the global gradient norm to this before each step (None: no clip).
        accumulation_steps: losses back-propagated per optimizer step; each is divided by it,
            so k calls on k equal micro-batches step like one call on the whole batch.
        warmup_steps: the learning rate rises linearly over this many steps, then stays.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        learning_rate: float = 1e-4,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = 1.0,
        accumulation_steps: int = 1,
        warmup_steps: int = 0,
    ):
        if accumulation_steps < 1:
            raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps}")
        self.model = model
        self.max_grad_norm = max_grad_norm
        self.accumulation_steps = accumulation_steps
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=learning_rate,
            weight_decay=weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0,
        )
        self.micro_steps = 0  # losses back-propagated since the last optimizer step
        self.steps = 0  # optimizer steps taken

    def backward_and_step(self, loss: torch.Tensor) -> dict[str, float]:
        (loss / self.accumulation_steps).backward()
        self.micro_steps += 1
        if self.micro_steps < self.accumulation_steps:
            return {"stepped": 0.0}
        parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        if self.max_grad_norm is None:
            grads = [p.grad.norm() for p in parameters if p.grad is not None]
            grad_norm = torch.linalg.vector_norm(torch.stack(grads)) if grads else torch.zeros(())
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(parameters, self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.micro_steps = 0
        self.steps += 1
        return {"stepped": 1.0, "grad_norm": float(grad_norm)}

    def frozen_copy(self) -> torch.nn.Module:
        return copy.deepcopy(self.model).eval().requires_grad_(False)

    def state_dict_for_inference(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "micro_steps": self.micro_steps,
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.micro_steps, self.steps = state["micro_steps"], state["steps"]

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        self.model.save_pretrained(folder)
        torch.save(self.state_dict(), folder / ENGINE_STATE_FILE)
        return folder

    def load(self, folder: str | Path) -> None:
        self.load_state_dict(torch.load(Path(folder) / ENGINE_STATE_FILE, map_location="cpu",
                                        weights_only=False))  # fmt: skip

    def train(self) -> None:
        self.model.train()

    def eval(self) -> None:
        self.model.eval()


def make_engine(
    kind: str,
    model: torch.nn.Module,
    *,
    learning_rate: float,
    weight_decay: float = 0.0,
    max_grad_norm: float | None = 1.0,
    accumulation_steps: int = 1,
    deepspeed_config: dict[str, Any] | None = None,
) -> TrainEngine:
    """The one place that builds the policy's training engine: ``torch`` (:class:`TorchEngine`)
    or ``deepspeed`` (:class:`~turngym.algos.deepspeed_engine.DeepSpeedEngine`, given the run
    config's ``engine.deepspeed`` JSON)."""
    if kind == "deepspeed":
        from .deepspeed_engine import DeepSpeedEngine

        return DeepSpeedEngine(model, deepspeed_config, learning_rate, weight_decay,
                               max_grad_norm, accumulation_steps)  # fmt: skip
    if kind != "torch":
        raise ValueError(f"unknown training engine {kind!r}; available: torch, deepspeed")
    return TorchEngine(model, learning_rate, weight_decay, max_grad_norm, accumulation_steps)


def is_main_rank(engine: Any = None) -> bool:
    """Whether this process writes the run's files: rank 0, or the only process."""
    return getattr(engine, "rank", 0) == 0


def save_checkpoint(
    folder: str | Path,
    engine: TrainEngine,
    tokenizer: Any,
    agent_config: Any,
    *,
    run_config: dict[str, Any] | None = None,
    trainer_state: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """The one checkpoint writer: the engine's folder (``save_pretrained`` model and its
    optimizer state), the tokenizer, ``turngym_agent.json``, and when given the run's config
    (``run_config.yaml``), the loop's state (``trainer_state.pt``) and its metrics
    (``training_metrics.json``). ``turngym eval``, transformers and vLLM load the folder.
    With several ranks, every rank calls it and rank 0 writes.

    Crash-safe for resuming: ``trainer_state.pt`` marks a complete checkpoint (resume looks
    only at folders that hold it), so it is removed first when a folder is written again and
    written last, to a temporary name renamed into place. A run killed mid-write leaves a
    folder without it, which resume passes over."""
    import yaml

    from turngym.common.run_folder import METRICS_FILE, STATE_FILE

    from .metrics import write_json

    state_path = Path(folder) / STATE_FILE
    if is_main_rank(engine):
        state_path.unlink(missing_ok=True)
    folder = engine.save(folder)  # on every rank: DeepSpeed gathers the partitions
    if not is_main_rank(engine):
        return folder
    tokenizer.save_pretrained(folder)
    agent_config.save(folder)
    if run_config is not None:
        (folder / "run_config.yaml").write_text(yaml.safe_dump(run_config))
    if metrics is not None:
        write_json(folder / METRICS_FILE, metrics)
    if trainer_state is not None:
        partial = state_path.with_name(STATE_FILE + ".partial")
        torch.save(trainer_state, partial)
        os.replace(partial, state_path)
    return folder
