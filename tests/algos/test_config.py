from pathlib import Path

import pytest
import torch
import yaml

from turngym.algos.losses import aggregation_denominator, per_sample_terms
from turngym.config.pipeline import PipelineConfig
from turngym.config.reward_model import RewardModelRunConfig
from turngym.config.run import ConfigError, PreferenceRunConfig, RunConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_config_validates():
    paths = sorted((ROOT / "configs").glob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:  # a reward-model config's pairs have a source; a preference config has
        tree = yaml.safe_load(path.read_text())  # another pairs block or a mode; a pipeline, stages
        keys = set(tree)
        if "source" in (tree.get("pairs") or {}):
            schema = RewardModelRunConfig
        else:
            schema = PreferenceRunConfig if {"pairs", "mode"} & keys else RunConfig
        schema = PipelineConfig if "stages" in keys else schema
        assert isinstance(load_config(path, schema=schema), schema)


def test_dotted_overrides_are_parsed_as_yaml():
    config = load_config(
        None, ["algo.learning_rate=3e-4", "train.resume=true", "env.kwargs.num_distractors=[1]"]
    )
    assert config.algo.learning_rate == 3e-4
    assert config.train.resume is True
    assert config.env.kwargs == {"num_distractors": [1]}


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("algo.lerning_rate=1", ["algo.lerning_rate", "unknown key", "learning_rate"]),
        ("algo.learning_rate=fast", ["algo.learning_rate", "valid number", "'fast'"]),
        ("env.id=turngym/Nope-v0", ["env.id", "turngym/Nope-v0", "turngym/Household-v0"]),
        ("env.kwargs.num_distractor=1", ["env.kwargs", "'num_distractor'", "num_distractors"]),
        ("algo.advantage=ppg", ["algo.advantage", "'ppg'", "grpo"]),
        ("agent.mode=shout", ["agent.mode", "'generate' or 'choose'", "'shout'"]),
        ("rollout.group_size=0", ["rollout.group_size", "greater than 0"]),
        ("algo.grpo.epsilon=-1", ["algo.grpo.epsilon", "greater than or equal to 0"]),
        ("algo.remax.greedy_episode_suffix=null", ["algo.remax", "greedy_episode_suffix=None"]),
        ("algo.remax.greedy_episode_suffix=''", ["algo.remax", "non-empty string"]),
        ("nonsense=1", ["nonsense", "unknown key", "algo"]),
    ],
)
def test_config_mistakes_name_the_field_the_value_and_what_is_allowed(override, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    for fragment in fragments:
        assert fragment in str(error.value)


def test_malformed_override_and_files(tmp_path):
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config(None, ["algo.learning_rate"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        load_config(None, ["algo.epochs=2", "algo.epochs.x=1"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("algo: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(scalar)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("algo.dmpo.gama=1", ["algo.dmpo.gama", "unknown key", "beta, gamma"]),
        ("algo.dmpo.gamma=2", ["algo.dmpo.gamma", "less than or equal to 1", "2"]),
        ("algo.loss=dpoo", ["algo.loss", "'dpoo'", "kto", "tdpo1"]),
        ("pairs.sources=[best]", ["pairs.sources.0", "'best_vs_worst'", "'best'"]),
        ("pairs.samples_per_task=1", ["pairs", "best_vs_worst", "samples_per_task >= 2"]),
        ("pairs.tasks=200000", ["warm_start.expert_tasks + pairs.tasks", "env.train_tasks"]),
        ("algo.reference_update.alpha=0", ["algo.reference_update.alpha", "greater than 0"]),
        ("train.iterations=3", ["train.iterations", "unknown key", "eval_episodes"]),
    ],
)
def test_preference_config_mistakes_name_the_field(override, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(ROOT / "configs" / "dmpo.yaml", [override], PreferenceRunConfig)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_preference_config_reads_each_losses_block():
    config = load_config(
        None, ["algo.loss=tdpo2", "algo.tdpo.alpha=0.3", "pairs.sources=step"], PreferenceRunConfig
    )
    assert config.algo.settings_of(config.algo.loss).alpha == 0.3
    assert config.pairs.sources == ["step"]
    assert config.train.output_dir == "runs/preference"


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("online.judge.kind=chat", ["online.judge", "needs base_url", "and model"]),
        ("online.judge.model=policy", ["online.judge", "'rule' does not read model", "llm"]),
        ("online.judge.tie_threshold=-1", ["online.judge.tie_threshold", "greater than or equal"]),
        ("online.judge.kind=judge", ["online.judge.kind", "'rule', 'llm', 'chat' or 'scorers'"]),
        ("algo.epochs=3", ["algo.epochs is read only in offline mode"]),
        ("online.tasks_per_iteration=100001", ["online.tasks_per_iteration = 100001"]),
    ],
)
def test_online_preference_config_mistakes_name_the_field(override, fragments):
    with pytest.raises(ConfigError) as error:
        load_config(ROOT / "configs" / "online_dpo.yaml", [override], PreferenceRunConfig)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_online_chat_judge_needs_its_api_key_in_the_environment(monkeypatch):
    chat = ["online.judge.kind=chat", "online.judge.base_url=http://localhost:8000/v1",
            "online.judge.model=judge", "online.judge.api_key_env=TURNGYM_TEST_KEY"]  # fmt: skip
    monkeypatch.delenv("TURNGYM_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="online.judge: api_key_env='TURNGYM_TEST_KEY'.*not set"):
        load_config(ROOT / "configs" / "online_dpo.yaml", chat, PreferenceRunConfig)
    monkeypatch.setenv("TURNGYM_TEST_KEY", "secret")
    config = load_config(ROOT / "configs" / "online_dpo.yaml", chat, PreferenceRunConfig)
    assert config.mode == "online" and config.online.judge.api_key_env == "TURNGYM_TEST_KEY"


def test_gspo_aggregates_seq_mean_token_mean_whatever_the_default():
    mode = load_config(None, ["algo.policy_loss=gspo"]).algo.loss_aggregation
    # what the trainer computes: sequences of 1 and 3 tokens, per-token losses 1 and 0
    loss = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    denominator = aggregation_denominator([1, 3], [1.0, 1.0], mode)
    assert per_sample_terms(loss, mask, mode).sum().item() / denominator == 0.5  # token-mean: 1/4
    explicit = load_config(None, ["algo.policy_loss=gspo", f"algo.loss_aggregation={mode}"])
    assert explicit.algo.loss_aggregation == "seq-mean-token-mean"
    with pytest.raises(ConfigError, match="loss_aggregation='token-mean' with policy_loss='gspo'"):
        load_config(None, ["algo.policy_loss=gspo", "algo.loss_aggregation=token-mean"])


@pytest.mark.parametrize(("mode", "expected"), [("generate", 48.0), ("choose", 1.0)])
def test_seq_mean_token_sum_norm_constant_is_written_into_the_config(mode, expected):
    overrides = ["algo.loss_aggregation=seq-mean-token-sum-norm", f"agent.mode={mode}",
                 "agent.max_new_tokens=48"]  # fmt: skip
    assert load_config(None, overrides).algo.loss_norm_constant == expected
    given = load_config(None, [*overrides, "algo.loss_norm_constant=7"])
    assert given.algo.loss_norm_constant == 7.0


def test_kl_estimator_names_the_registered_ones():
    assert load_config(None, ["algo.kl_estimator=abs"]).algo.kl_estimator == "abs"
    with pytest.raises(ConfigError, match=r"algo.kl_estimator: unknown KL estimator.*'abs'"):
        load_config(None, ["algo.kl_estimator=k4"])


def test_the_config_tables_name_exactly_the_registered_functions():
    import turngym.algos.advantages
    import turngym.algos.losses
    import turngym.algos.preference  # noqa: F401  (registering is importing; alone, nothing else does)
    from turngym.algos.registry import (
        ADVANTAGE_ESTIMATORS,
        KL_ESTIMATORS,
        POLICY_LOSSES,
        PREFERENCE_LOSSES,
    )
    from turngym.config.algorithms import (
        ESTIMATOR_BLOCKS,
        KL_ESTIMATOR_NAMES,
        POLICY_LOSS_BLOCKS,
        PREFERENCE_LOSS_BLOCKS,
    )
    from turngym.config.run import AlgoConfig, PreferenceAlgoConfig

    assert set(ESTIMATOR_BLOCKS) == set(ADVANTAGE_ESTIMATORS)
    assert set(POLICY_LOSS_BLOCKS) == set(POLICY_LOSSES)
    assert set(KL_ESTIMATOR_NAMES) == set(KL_ESTIMATORS)
    assert set(PREFERENCE_LOSS_BLOCKS) == set(PREFERENCE_LOSSES)
    for table, config in ((ESTIMATOR_BLOCKS, AlgoConfig), (POLICY_LOSS_BLOCKS, AlgoConfig),
                          (PREFERENCE_LOSS_BLOCKS, PreferenceAlgoConfig)):  # fmt: skip
        assert set(table.values()) <= set(config.model_fields)


def test_a_config_validates_without_importing_torch(tmp_path):
    """A typo costs well under a second: the schema imports neither torch nor transformers."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom turngym.config.run import ConfigError, load_config\n"
        "try:\n    load_config('configs/household.yaml', ['algo.lerning_rate=1'])\n"
        "except ConfigError as error:\n    print(error)\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert "algo.lerning_rate" in out and out.strip().endswith("[]")
