"""The run config's ``engine`` block: which training engine steps the optimizer, and the DeepSpeed
JSON passed through to ``deepspeed.initialize`` (checked here, without importing torch, so a
misspelled key fails at start with its name).

Example (``configs/household_deepspeed.yaml``)::

    engine:
      kind: deepspeed
      deepspeed:
        zero_optimization: {stage: 2, offload_optimizer: {device: cpu}}
        bf16: {enabled: true}

The key tables below are DeepSpeed 0.19's; ``tests/algos/test_deepspeed_config.py`` holds the
ZeRO tables to DeepSpeed's own pydantic models, so they cannot drift silently.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: top-level keys of a DeepSpeed config that turngym passes through
TOP_LEVEL_KEYS = frozenset({
    "train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
    "optimizer", "scheduler", "fp16", "bf16", "amp", "zero_optimization", "gradient_clipping",
    "prescale_gradients", "gradient_predivide_factor", "communication_data_type",
    "zero_allow_untested_optimizer", "zero_force_ds_cpu_optimizer", "activation_checkpointing",
    "checkpoint", "data_types", "steps_per_print", "wall_clock_breakdown", "memory_breakdown",
    "dump_state", "flops_profiler", "tensorboard", "wandb", "csv_monitor", "comms_logger",
    "seq_parallel_size", "compile", "torch_autocast",
})  # fmt: skip

#: keys of ``zero_optimization`` (DeepSpeedZeroConfig's fields and their aliases)
ZERO_KEYS = frozenset({
    "stage", "contiguous_gradients", "reduce_scatter", "reduce_bucket_size",
    "use_multi_rank_bucket_allreduce", "allgather_partitions", "allgather_bucket_size",
    "overlap_comm", "load_from_fp32_weights", "elastic_checkpoint", "offload_param",
    "offload_optimizer", "sub_group_size", "cpu_offload_param", "cpu_offload_use_pin_memory",
    "cpu_offload", "prefetch_bucket_size", "stage3_prefetch_bucket_size",
    "param_persistence_threshold", "stage3_param_persistence_threshold",
    "model_persistence_threshold", "stage3_model_persistence_threshold", "max_live_parameters",
    "stage3_max_live_parameters", "max_reuse_distance", "stage3_max_reuse_distance",
    "gather_16bit_weights_on_model_save", "stage3_gather_16bit_weights_on_model_save",
    "stage3_gather_fp16_weights_on_model_save", "module_granularity_threshold",
    "use_all_reduce_for_fetch_params", "stage3_use_all_reduce_for_fetch_params",
    "ignore_unused_parameters", "legacy_stage1", "round_robin_gradients",
    "zero_hpz_partition_size", "zero_quantized_weights", "zero_quantized_nontrainable_weights",
    "zero_quantized_gradients",
    "memory_efficient_linear", "pipeline_loading_checkpoint",
    "override_module_apply", "log_trace_cache_warnings", "save_muon_momentum_buffer_in_memory",
    "enable_sanity_checks", "allgather_sequential", "stage3_allgather_sequential",
    "compute_grad_norm", "leaf_module", "parameter_alignment",
    "stage3_module_granularity_threshold", "zenflow",
})  # fmt: skip

#: keys of ``offload_param`` and ``offload_optimizer``
OFFLOAD_KEYS = {
    "offload_param": frozenset(
        {"device", "nvme_path", "buffer_count", "buffer_size", "max_in_cpu", "pin_memory"}
    ),
    "offload_optimizer": frozenset(
        {
            "device",
            "nvme_path",
            "buffer_count",
            "pin_memory",
            "pipeline_read",
            "pipeline_write",
            "fast_init",
            "ratio",
            "cpuadam_cores_perc",
            "super_offload",
        }
    ),  # fmt: skip
}
OFFLOAD_DEVICES = ("none", "cpu", "nvme")
#: what turngym sets itself: a different value in the section would contradict the run
OWNED_ELSEWHERE = {"train_batch_size": "derived from the micro-batch, accumulation and ranks"}


def _unknown(given: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    stray = sorted(set(given) - allowed)
    if not stray:
        return
    close = difflib.get_close_matches(stray[0], allowed, n=3)
    hint = (
        f"did you mean {' or '.join(close)}?" if close else "allowed: " + ", ".join(sorted(allowed))
    )
    raise ValueError(f"{where}.{stray[0]}: not a DeepSpeed setting; {hint}")


def check_deepspeed_section(section: dict[str, Any]) -> dict[str, Any]:
    """Refuse keys DeepSpeed does not know and values it would reject later, naming the key
    (``engine.deepspeed.zero_optimization.stag``), so that a typo fails before any work."""
    where = "engine.deepspeed"
    _unknown(section, TOP_LEVEL_KEYS, where)
    for key, why in OWNED_ELSEWHERE.items():
        if key in section:
            raise ValueError(f"{where}.{key}: turngym sets it ({why}); remove it")
    zero = section.get("zero_optimization", {})
    if not isinstance(zero, dict):
        raise ValueError(f"{where}.zero_optimization: a mapping, got {zero!r}")
    _unknown(zero, ZERO_KEYS, f"{where}.zero_optimization")
    stage = zero.get("stage", 0)
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"{where}.zero_optimization.stage: 0, 1, 2 or 3, got {stage!r}")
    for name, keys in OFFLOAD_KEYS.items():
        offload = zero.get(name)
        if offload is None:
            continue
        if not isinstance(offload, dict):
            raise ValueError(f"{where}.zero_optimization.{name}: a mapping, got {offload!r}")
        _unknown(offload, keys, f"{where}.zero_optimization.{name}")
        device = offload.get("device", "none")
        if device not in OFFLOAD_DEVICES:
            raise ValueError(f"{where}.zero_optimization.{name}.device: one of "
                             f"{', '.join(OFFLOAD_DEVICES)}, got {device!r}")  # fmt: skip
        if name == "offload_param" and device != "none" and stage != 3:
            raise ValueError(f"{where}.zero_optimization.offload_param: parameter offload needs "
                             f"ZeRO stage 3 (stage is {stage})")  # fmt: skip
    for precision in ("bf16", "fp16"):
        block = section.get(precision, {})
        if not isinstance(block, dict) or not isinstance(block.get("enabled", False), bool):
            raise ValueError(f"{where}.{precision}: {{enabled: true|false}}, got {block!r}")
    if section.get("bf16", {}).get("enabled") and section.get("fp16", {}).get("enabled"):
        raise ValueError(f"{where}: bf16 and fp16 are both enabled; choose one")
    return section


class EngineConfig(BaseModel):
    """The training engine: ``torch`` (one process, plain PyTorch) or ``deepspeed`` (ZeRO,
    offload, bf16, several processes through the ``deepspeed`` launcher or ``torchrun``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: Literal["torch", "deepspeed"] = Field("torch", description="torch or deepspeed")
    deepspeed: dict[str, Any] = Field(
        default_factory=dict,
        description="DeepSpeed JSON passed to deepspeed.initialize (zero_optimization, bf16, "
        "optimizer, ...); turngym fills in batch sizes, gradient_clipping and AdamW",
    )
    accumulation_steps: int = Field(
        1, gt=0, description="mini-batches back-propagated per optimizer step"
    )

    @field_validator("deepspeed")
    @classmethod
    def _known_keys(cls, section: dict[str, Any]) -> dict[str, Any]:
        return check_deepspeed_section(section)

    @model_validator(mode="after")
    def _section_of_kind(self) -> EngineConfig:
        if self.kind == "torch" and self.deepspeed:
            raise ValueError("engine.deepspeed is read only with kind: deepspeed; set "
                             "engine.kind: deepspeed or remove the section")  # fmt: skip
        return self
