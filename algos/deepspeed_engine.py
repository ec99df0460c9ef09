"""A :class:`~turngym.algos.engine.TrainEngine` on DeepSpeed: ZeRO stages 0-3, optimizer and
parameter offload, bf16, gradient accumulation, data parallel over ``torch.distributed``.

The loops see the same interface as :class:`~turngym.algos.engine.TorchEngine`; what changes is
underneath. ``deepspeed.initialize`` wraps the model; each rank back-propagates the loss of its
own share of a mini-batch and DeepSpeed averages the gradients over ranks (all-reduce or, with
ZeRO, reduce-scatter into each rank's partition), so ``k`` ranks that each take the mean loss of
``B / k`` samples step exactly like one rank on the mean loss of all ``B``:

    g = (1 / k) sum_r grad L_r,   L_r = mean of rank r's B / k sample losses  =  grad L_B.

The DeepSpeed JSON (the run config's ``engine.deepspeed`` section) is passed through; turngym
fills in only what it owns when the section leaves it out (batch sizes, the accumulation
steps, ``gradient_clipping`` from ``algo.max_grad_norm``, and AdamW at ``algo.learning_rate``).

Checkpoints do not depend on the number of ranks: :meth:`DeepSpeedEngine.state_dict` gathers
each parameter's full fp32 master copy and Adam moments through DeepSpeed's own accessors
(``deepspeed.utils.safe_get_full_fp32_param`` / ``safe_get_full_optimizer_state``), and
:meth:`load_state_dict` scatters them back with the ``safe_set_*`` twins; so a run saved by two
ranks resumes on one and vice versa, at any ZeRO stage, and the model folder is an ordinary
``save_pretrained`` folder (vLLM and ``turngym eval`` load it).

Example:
    >>> engine = DeepSpeedEngine(model, {"zero_optimization": {"stage": 2}}, learning_rate=1e-4)
    >>> engine.backward_and_step(loss)   # on every rank, each with its own micro-batch
    >>> backend.load_weights(engine.state_dict_for_inference())   # gathered under ZeRO-3
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch

from .engine import ENGINE_STATE_FILE

#: Adam's per-parameter moments, saved and restored by name
ADAM_MOMENTS = ("exp_avg", "exp_avg_sq")


def init_distributed() -> None:
    """Join the process group the launcher (``deepspeed``, ``torchrun``) describes in the
    environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...), or a group of one when it is
    absent; gloo on CPU, NCCL on GPUs (DeepSpeed's accelerator picks)."""
    import deepspeed

    if "RANK" not in os.environ:  # a plain `python` run: one rank
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    if torch.distributed.is_initialized():  # e.g. by a vLLM engine in this process
        return
    backend = None if torch.cuda.is_available() else "gloo"
    deepspeed.init_distributed(dist_backend=backend, verbose=False)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def collective_device() -> torch.device:
    """Where a tensor for a torch.distributed collective lives: NCCL takes only GPU tensors (this
    rank's GPU), gloo CPU ones."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of ranks (0 and 1 without a process group)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def deepspeed_settings(
    section: dict[str, Any],
    *,
    learning_rate: float,
    weight_decay: float,
    max_grad_norm: float | None,
    accumulation_steps: int,
    world_size: int,
) -> dict[str, Any]:
    """The JSON given to ``deepspeed.initialize``: ``section`` as written, plus what turngym
    owns where the section leaves it out. One backward call is one micro-batch per rank."""
    settings = copy.deepcopy(section)
    settings.setdefault("train_micro_batch_size_per_gpu", 1)
    settings.setdefault("gradient_accumulation_steps", accumulation_steps)
    settings.setdefault(
        "train_batch_size",
        settings["train_micro_batch_size_per_gpu"]
        * settings["gradient_accumulation_steps"]
        * world_size,
    )
    settings.setdefault("gradient_clipping", max_grad_norm or 0.0)
    settings.setdefault("steps_per_print", 10**9)  # turngym logs its own metrics
    settings.setdefault("wall_clock_breakdown", False)
    if "optimizer" not in settings:
        params = {"lr": learning_rate, "weight_decay": weight_decay, "torch_adam": True}
        settings["optimizer"] = {"type": "AdamW", "params": params}
    offload = settings.get("zero_optimization", {}).get("offload_optimizer", {})
    if offload.get("device", "none") != "none" and settings.get(
        "zero_force_ds_cpu_optimizer", True
    ):
        # ZeRO-Offload steps with DeepSpeedCPUAdam (compiled with ninja on first use), unless
        # the section sets zero_force_ds_cpu_optimizer: false (torch's AdamW on the CPU)
        settings["optimizer"].get("params", {}).pop("torch_adam", None)
    return settings


class DeepSpeedEngine:
    """A :class:`~turngym.algos.engine.TrainEngine` on DeepSpeed (see the module docstring).

    Args:
        model: the module to train (a ``transformers`` model; ZeRO-3 partitions its weights).
        deepspeed_config: the DeepSpeed JSON section (``zero_optimization``, ``bf16``, ...).
        learning_rate, weight_decay, max_grad_norm, accumulation_steps: as
            :class:`~turngym.algos.engine.TorchEngine`; used where ``deepspeed_config`` does not
            set the optimizer, ``gradient_clipping`` or ``gradient_accumulation_steps``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        deepspeed_config: dict[str, Any] | None = None,
        learning_rate: float = 1e-4,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = 1.0,
        accumulation_steps: int = 1,
    ):
        import deepspeed

        init_distributed()
        self.rank, self.world_size = rank_and_world()
        self.settings = deepspeed_settings(
            deepspeed_config or {},
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
            accumulation_steps=accumulation_steps,
            world_size=self.world_size,
        )
        self.zero_stage = int(self.settings.get("zero_optimization", {}).get("stage", 0))
        self.ds, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model,
            model_parameters=[p for p in model.parameters() if p.requires_grad],
            config=self.settings,
        )
        self.model = self.ds.module
        self.steps = 0

    @property
    def accumulation_steps(self) -> int:
        return self.ds.gradient_accumulation_steps()

    def _named_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def backward_and_step(self, loss: torch.Tensor) -> dict[str, float]:
        """DeepSpeed scales ``loss`` by 1 / accumulation steps, reduces the gradients over ranks
        and steps at the accumulation boundary (clipping to ``gradient_clipping`` first)."""
        boundary = self.ds.is_gradient_accumulation_boundary()
        self.ds.backward(loss)
        self.ds.step()
        if not boundary:
            return {"stepped": 0.0}
        self.steps += 1
        grad_norm = self.ds.get_global_grad_norm()
        return {"stepped": 1.0, "grad_norm": float(grad_norm if grad_norm is not None else 0.0)}

    def state_dict_for_inference(self) -> dict[str, torch.Tensor]:
        """The full weights on every rank (gathered from the partitions under ZeRO-3)."""
        import deepspeed

        parameters = list(self.model.parameters()) if self.zero_stage == 3 else []
        with deepspeed.zero.GatheredParameters(parameters, modifier_rank=None):
            return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def frozen_copy(self) -> torch.nn.Module:
        """A full, unpartitioned copy in eval mode (a reference policy)."""
        if self.zero_stage < 3:
            return copy.deepcopy(self.model).eval().requires_grad_(False)
        from transformers import AutoModelForCausalLM

        state = self.state_dict_for_inference()
        clone = AutoModelForCausalLM.from_config(self.model.config)
        clone.load_state_dict(state)
        first = next(iter(state.values()))
        return clone.to(first.device, first.dtype).eval().requires_grad_(False)

    def state_dict(self) -> dict[str, Any]:
        """Rank-count-free state: every trainable parameter's fp32 master copy and Adam
        moments, whole (gathered over ranks), by name; the same on every rank."""
        from deepspeed.utils import safe_get_full_fp32_param, safe_get_full_optimizer_state

        master, moments = {}, {}
        for name, parameter in self._named_parameters():
            master[name] = safe_get_full_fp32_param(parameter).detach().cpu().clone()
            moments[name] = {
                key: safe_get_full_optimizer_state(parameter, key).detach().cpu().clone()
                for key in ADAM_MOMENTS
            }
        return {
            "fp32_master": master,
            "adam_moments": moments,
            "optimizer_steps": self._optimizer_step_count(),
            "steps": self.steps,
            "global_steps": self.ds.global_steps,
            "global_samples": self.ds.global_samples,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from deepspeed.utils import safe_set_full_fp32_param, safe_set_full_optimizer_state

        self._materialize_optimizer_state()
        for name, parameter in self._named_parameters():
            safe_set_full_fp32_param(parameter, state["fp32_master"][name])
            for key in ADAM_MOMENTS:
                safe_set_full_optimizer_state(parameter, state["adam_moments"][name][key], key)
        self._set_optimizer_step_count(state["optimizer_steps"])
        self.steps = state["steps"]
        self.ds.global_steps = state["global_steps"]
        self.ds.global_samples = state["global_samples"]

    def _materialize_optimizer_state(self) -> None:
        """Adam creates its moments at the first step; before one (a resumed run), take a step
        of the inner optimizer at learning rate 0 on zero gradients, which changes no weight,
        so that there are moments to load into; then let DeepSpeed link its views of them."""
        zero = self.optimizer
        inner = getattr(zero, "optimizer", zero)
        if hasattr(zero, "fp32_partitioned_groups_flat"):  # ZeRO-3 hands the inner optimizer
            tensors = list(zero.fp32_partitioned_groups_flat)  # one sub-group at a time

            def step() -> None:
                for sub_group in range(len(tensors)):
                    zero._optimizer_step(sub_group)
        else:
            tensors = [p for group in inner.param_groups for p in group["params"]]
            step = inner.step
        if all(ADAM_MOMENTS[0] in inner.state.get(p, {}) for p in tensors):
            return
        rates = [group["lr"] for group in inner.param_groups]
        grads = [p.grad for p in tensors]
        for group in inner.param_groups:
            group["lr"] = 0.0
        for tensor in tensors:
            tensor.grad = torch.zeros_like(tensor)
        step()
        for group, rate in zip(inner.param_groups, rates, strict=True):
            group["lr"] = rate
        for tensor, grad in zip(tensors, grads, strict=True):
            tensor.grad = grad
        link = getattr(self.optimizer, "_lazy_init_hp_params_optimizer_state", None)
        if link is not None:  # ZeRO 1/2 and bf16: views of the moments per parameter
            link()

    def _inner_states(self) -> list[dict[str, Any]]:
        """The torch optimizer's per-tensor states (on ZeRO's flat partitions, or per
        parameter without ZeRO): where Adam keeps its step count for bias correction."""
        inner = getattr(self.optimizer, "optimizer", self.optimizer)
        return [s for s in inner.state.values() if ADAM_MOMENTS[0] in s]

    def _optimizer_step_count(self) -> int:
        states = self._inner_states()
        return int(states[0]["step"]) if states else 0

    def _set_optimizer_step_count(self, count: int) -> None:
        for state in self._inner_states():
            step = state["step"]
            state["step"] = (
                torch.full_like(step, count) if isinstance(step, torch.Tensor) else count
            )

    def save(self, folder: str | Path) -> Path:
        """On every rank (gathering is collective); rank 0 writes the ``save_pretrained``
        folder and :data:`ENGINE_STATE_FILE`."""
        folder = Path(folder)
        weights = self.state_dict_for_inference()
        state = self.state_dict()
        if self.rank == 0:
            self.model.save_pretrained(folder, state_dict=weights)
            torch.save(state, folder / ENGINE_STATE_FILE)
        self.barrier()
        return folder

    def load(self, folder: str | Path) -> None:
        self.load_state_dict(torch.load(Path(folder) / ENGINE_STATE_FILE, map_location="cpu",
                                        weights_only=False))  # fmt: skip

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def train(self) -> None:
        self.ds.train()

    def eval(self) -> None:
        self.ds.eval()
