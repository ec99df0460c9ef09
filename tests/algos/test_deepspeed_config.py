"""The run config's ``engine`` block: DeepSpeed keys checked at start, torch-free, and the key
tables held to DeepSpeed's own pydantic models."""

from __future__ import annotations

import pytest

from turngym.config.deepspeed import OFFLOAD_KEYS, ZERO_KEYS
from turngym.config.run import ConfigError, load_config

DS = "engine.kind=deepspeed"


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        ([DS, "engine.deepspeed={zero_optimization: {stag: 2}}"],
         ["engine.deepspeed.zero_optimization.stag", "did you mean stage"]),
        ([DS, "engine.deepspeed={optimzer: {type: AdamW}}"],
         ["engine.deepspeed.optimzer", "did you mean optimizer"]),
        ([DS, "engine.deepspeed={zero_optimization: {stage: 4}}"], ["stage: 0, 1, 2 or 3"]),
        ([DS, "engine.deepspeed={zero_optimization: {stage: 2, offload_param: {device: cpu}}}"],
         ["offload_param", "needs ZeRO stage 3"]),
        ([DS, "engine.deepspeed={zero_optimization: {stage: 3, offload_optimizer: {device: gpu}}}"],
         ["offload_optimizer.device", "none, cpu, nvme", "'gpu'"]),
        ([DS, "engine.deepspeed={zero_optimization: {offload_optimizer: {devcie: cpu}}}"],
         ["offload_optimizer.devcie", "did you mean device"]),
        ([DS, "engine.deepspeed={bf16: {enabled: true}, fp16: {enabled: true}}"],
         ["bf16 and fp16 are both enabled"]),
        ([DS, "engine.deepspeed={bf16: true}"], ["engine.deepspeed.bf16", "enabled"]),
        ([DS, "engine.deepspeed={train_batch_size: 64}"], ["train_batch_size", "turngym sets it"]),
        (["engine.deepspeed={zero_optimization: {stage: 2}}"],
         ["read only with kind: deepspeed"]),
        (["engine.kind=megatron"], ["engine.kind", "'torch' or 'deepspeed'"]),
        ([DS, "algo.advantage=gae"], ["gae", "critic"]),
        ([DS, "warm_start.expert_tasks=8"], ["warm_start.expert_tasks", "torch run first"]),
        ([DS, "engine.accumulation_steps=0"], ["engine.accumulation_steps"]),
    ],
)  # fmt: skip
def test_engine_mistakes_fail_at_start_naming_the_key(overrides, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_a_deepspeed_section_passes_through_unchanged():
    section = {
        "zero_optimization": {"stage": 3, "offload_optimizer": {"device": "cpu"},
                              "offload_param": {"device": "cpu", "pin_memory": False}},
        "bf16": {"enabled": True},
        "gradient_clipping": 0.5,
    }  # fmt: skip
    config = load_config(None, [DS, f"engine.deepspeed={section}"])
    assert config.engine.deepspeed == section
    assert load_config(None, []).engine.kind == "torch"


def test_the_config_package_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys; from turngym.config.run import load_config; "
        "load_config(None, ['engine.kind=deepspeed', "
        "'engine.deepspeed={zero_optimization: {stage: 2}}']); "
        "print('torch' in sys.modules, 'deepspeed' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False"], done.stderr


def _names(model) -> set[str]:
    return {
        name for key, field in model.model_fields.items() for name in (key, field.alias) if name
    }


def test_key_tables_are_deepspeeds_own():
    pytest.importorskip("deepspeed", reason="the [deepspeed] extra is not installed")
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig
    from deepspeed.runtime.zero.offload_config import (
        DeepSpeedZeroOffloadOptimizerConfig,
        DeepSpeedZeroOffloadParamConfig,
    )

    assert _names(DeepSpeedZeroConfig) == ZERO_KEYS
    assert _names(DeepSpeedZeroOffloadParamConfig) == OFFLOAD_KEYS["offload_param"]
    assert _names(DeepSpeedZeroOffloadOptimizerConfig) == OFFLOAD_KEYS["offload_optimizer"]
