"""The three shipped multi-stage recipes (configs/pipeline_r1.yaml, pipeline_rlhf.yaml,
pipeline_cai.yaml) run for real at a reduced size, plus the pieces they added: the scorers
judge, artifact references between stages, evaluation scorers and the critique prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turngym.agents.trajectory import Trajectory, Turn, load_trajectories
from turngym.algos.pipeline import Pipeline, markdown_table
from turngym.algos.pipeline_alignment import critique_messages
from turngym.config.pipeline import PipelineConfig, Principle, resolve_artifacts
from turngym.config.run import ConfigError, JudgeConfig, SectionError, load_config
from turngym.rewards.math_scorers import ThinkAnswerFormat
from turngym.rewards.rules import ScorersJudge
from turngym.rewards.scorers import Rubric

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SORRY = {"name": "regex_match", "options": {"pattern": r"\bsorry\b", "level": "any"}}


def episode(reply: str, won: bool, turns: int = 1) -> Trajectory:
    made = [Turn("customer", [1], [2], [0.0], reply, 0.0, True, response_text=reply)
            for _ in range(turns)]  # fmt: skip
    made[-1].reward = float(won)
    return Trajectory(f"{reply}-{won}", "g", "env", 0, 0, turns=made, won=won)


def test_scorers_judge_prefers_the_higher_rubric_total():
    # T = env + sorry: (won, sorry) 2 > (won) 1 = (sorry, lost) 1 > (lost) 0
    rubric = Rubric.from_specs([JudgeConfig(kind="scorers", scorers=[{"name": "env"}, SORRY])
                                .scorers[0], JudgeConfig(kind="scorers", scorers=[SORRY])
                                .scorers[0]])  # fmt: skip
    judge = ScorersJudge(rubric)
    both, won, polite, neither = (episode("I am sorry, refund issued", True),
                                  episode("refund issued", True),
                                  episode("so sorry", False), episode("hm", False))  # fmt: skip
    verdicts = judge.compare([(both, won), (won, polite), (neither, polite), (polite, polite)])
    assert [v.margin for v in verdicts] == [1.0, 0.0, -1.0, 0.0]
    assert [v.winner for v in verdicts] == ["A", None, "B", None]
    assert both.turns[0].reward_terms == {}  # judging writes nothing into the episodes


def test_a_scorers_judge_config_is_checked_at_start():
    with pytest.raises(ValueError, match="needs scorers"):
        JudgeConfig(kind="scorers")
    with pytest.raises(ValueError, match="turn_kl"):
        JudgeConfig(kind="scorers", scorers=[{"name": "kl"}])
    with pytest.raises(ValueError, match="unknown scorer"):
        JudgeConfig(kind="scorers", scorers=[{"name": "politeness"}])
    with pytest.raises(ValueError, match="does not read scorers"):
        JudgeConfig(kind="rule", scorers=[SORRY])


def test_artifact_references_resolve_to_an_earlier_stage_output():
    tree = {"reward": {"scorers": [{"name": "reward_model", "options": {"path": "${rm.folder}"}},
                                   {"name": "kl"}]}, "x": "${rm.folder}"}  # fmt: skip
    resolved = resolve_artifacts(tree, {"rm": {"folder": "/runs/rm"}})
    assert resolved["reward"]["scorers"][0]["options"]["path"] == "/runs/rm"
    assert resolved["x"] == "/runs/rm"
    # before any stage ran (the check at start) the entry holding a reference is left out
    assert resolve_artifacts(tree, None)["reward"]["scorers"] == [{"name": "kl"}]
    with pytest.raises(ValueError, match="produced no artifact 'folder'"):
        resolve_artifacts(tree, {"rm": {}})


def test_a_reference_to_a_later_or_unknown_stage_fails_at_start():
    with pytest.raises(ConfigError, match=r"\$\{critic.reward_model\} names no stage before"):
        load_config(CONFIGS / "pipeline_rlhf.yaml", ["stages.ppo.config.reward.scorers.0."
                    "options.path=${critic.reward_model}"], PipelineConfig)  # fmt: skip


@pytest.mark.parametrize("name", ["pipeline_r1", "pipeline_rlhf", "pipeline_cai"])
def test_the_shipped_recipes_load(name):
    config = load_config(CONFIGS / f"{name}.yaml", [], PipelineConfig)
    assert len(config.stages) >= 3


def test_critique_and_revision_requests_follow_the_principle():
    principle = Principle(critique="Find rudeness.", revision="Rewrite politely.")
    asked = critique_messages("Customer: hi", "go away", principle)
    assert [m["role"] for m in asked] == ["user", "assistant", "user"]
    assert asked[2]["content"] == "Critique request: Find rudeness."
    revise = critique_messages("Customer: hi", "go away", principle, "It is rude.")
    assert revise[3] == {"role": "assistant", "content": "It is rude."}
    assert revise[4]["content"] == "Revision request: Rewrite politely."


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def recipe_config(name: str, output: Path, overrides: list[str]) -> PipelineConfig:
    return load_config(CONFIGS / f"{name}.yaml", [f"run.output_dir={output}",
                       "run.progress=false", *overrides], PipelineConfig)  # fmt: skip


def run_recipe(name: str, tmp_path: Path, overrides: list[str]) -> tuple[dict, Path]:
    output = tmp_path / name
    report = Pipeline(recipe_config(name, output, overrides)).run()
    config = recipe_config(name, output, ["run.resume=true", *overrides])
    assert markdown_table(report) in (output / "report.md").read_text()
    assert [row["stage"] for row in report["stages"]] == [s.name for s in config.stages]
    assert Pipeline(config).run() == report  # resumed when finished: no stage runs again
    return report, output


@pytest.mark.slow
def test_r1_recipe_runs_every_stage_and_keeps_only_correct_well_formed_samples(tmp_path):
    report, output = run_recipe("pipeline_r1", tmp_path, [
        "run.eval_episodes=24", "stages.cold_start.expert_tasks=200",
        "stages.grpo.config.train.iterations=2", "stages.grpo2.config.train.iterations=1",
        "stages.grpo.config.rollout.tasks_per_iteration=4",
        "stages.grpo2.config.rollout.tasks_per_iteration=4", "stages.rejection.tasks=32",
    ])  # fmt: skip
    cold_start, grpo, rejection, _ = report["stages"]
    assert cold_start["success_after"] > report["initial"]["success_rate"] == 0.0
    kept = load_trajectories(output / "stages" / "03_rejection" / "kept.parquet")
    assert len(kept) == rejection["metrics"]["rejection/kept"] > 0
    assert all(t.won for t in kept)  # verified correct
    replies = [turn.response_text for t in kept for turn in t.turns]
    assert replies and all(ThinkAnswerFormat.formatted(reply) for reply in replies)
    assert grpo["checkpoint"].endswith("iter_00002")


@pytest.mark.slow
def test_rlhf_recipe_trains_a_reward_model_and_ppo_reads_it(tmp_path):
    report, output = run_recipe("pipeline_rlhf", tmp_path, [
        "run.eval_episodes=24", "stages.sft.expert_tasks=60",
        "stages.reward_model.pairs.tasks=200", "stages.reward_model.training.epochs=2",
        "stages.ppo.config.train.iterations=2", "stages.ppo.config.rollout.tasks_per_iteration=4",
    ])  # fmt: skip
    sft, reward_model, ppo = report["stages"]
    folder = output / "stages" / "02_reward_model" / "reward_model"
    state = json.loads((output / "pipeline_state.json").read_text())
    assert state["stages"]["reward_model"]["outcome"]["artifacts"] == {"reward_model": str(folder)}
    result = json.loads((folder / "result.json").read_text())
    accuracy = result["held_out_accuracy"]  # the hidden rule, learned from the labels alone
    assert result["pairs"]["held_out"] >= 10 and accuracy["after"] >= 0.8 > accuracy["before"]
    assert (
        reward_model["metrics"]["rm/held_out_accuracy_after"]
        == (result["held_out_accuracy"]["after"])
    )
    assert reward_model["checkpoint"] == sft["checkpoint"]  # the policy passes on unchanged
    # PPO's reward was the reward model's (and the KL penalty), read from the artifact
    rewards = jsonl(output / "stages" / "03_ppo" / "metrics.jsonl")
    assert any("reward/reward_model" in row for row in rewards)
    assert any("reward/kl" in row for row in rewards)
    # the hidden rule is measured on every checkpoint
    assert set(report["initial"]["reward_terms"]) == {"regex_match"}
    assert all("regex_match" in row["scores_after"] for row in report["stages"])


@pytest.mark.slow
def test_cai_recipe_revises_with_another_critic_and_trains_on_judged_pairs(tmp_path):
    # the critic is another model than the policy: the run's own random-init tiny model
    first = run_recipe("pipeline_cai", tmp_path / "a", [
        "run.eval_episodes=8", "stages.sft.expert_tasks=20",
        "stages.critique_revise.tasks=4", "stages.critique_revise.max_new_tokens=8",
        "stages.rlaif.config.online.iterations=2",
        "stages.rlaif.config.online.tasks_per_iteration=8",
    ])[1]  # fmt: skip
    report, output = run_recipe("pipeline_cai", tmp_path / "b", [
        "run.eval_episodes=8", "stages.sft.expert_tasks=20",
        f"stages.critique_revise.critic={first / 'base_model'}", "stages.critique_revise.tasks=4",
        "stages.critique_revise.max_new_tokens=8", "stages.critique_revise.rounds=2",
        "stages.rlaif.config.online.iterations=2",
        "stages.rlaif.config.online.tasks_per_iteration=8",
    ])  # fmt: skip
    log = jsonl(output / "stages" / "02_critique_revise" / "revisions.jsonl")
    config = load_config(CONFIGS / "pipeline_cai.yaml", [], PipelineConfig)
    principles = {p.critique for p in config.stages[1].constitution}
    assert log and all(len(entry["rounds"]) == 2 for entry in log)
    assert all(r["principle"] in principles for entry in log for r in entry["rounds"])
    revise = report["stages"][1]
    assert revise["metrics"]["cai/replies"] == len(log) and revise["metrics"]["sft/steps"] > 0
    assert revise["checkpoint"] != report["stages"][0]["checkpoint"]  # a new policy
    rlaif = jsonl(output / "stages" / "03_rlaif" / "metrics.jsonl")
    assert rlaif  # online DPO ran on the judge's labels


def test_a_reward_model_stage_trains_on_a_users_jsonl_of_comparisons(tmp_path):
    pairs = tmp_path / "comparisons.jsonl"
    lines = [{"prompt": f"Customer {k}: my order is late.", "chosen": "I am sorry, it ships today.",
              "rejected": "Not my problem."} for k in range(40)]  # fmt: skip
    pairs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = PipelineConfig.model_validate({
        "env": {"id": "turngym/CustomerService-v0", "eval_tasks": {"start": 8000, "stop": 10000}},
        "model": {"name_or_path": "tiny"},
        "agent": {"mode": "choose"},
        "run": {"output_dir": str(tmp_path / "run"), "eval_episodes": 2, "progress": False},
        "stages": [{"name": "rm", "kind": "reward_model", "training": {"epochs": 2},
                    "pairs": {"source": "jsonl", "path": str(pairs), "eval_fraction": 0.25}}],
    })  # fmt: skip
    (row,) = Pipeline(config).run()["stages"]
    assert row["metrics"]["rm/pairs_train"] == 30 and row["metrics"]["rm/pairs_held_out"] == 10
    assert row["metrics"]["rm/held_out_accuracy_after"] == 1.0
    with pytest.raises(
        SectionError, match=r"stages\[0\] \(rm\).pairs: source .jsonl. does not read tasks"
    ):
        PipelineConfig.model_validate({**config.model_dump(), "stages": [
            {"name": "rm", "kind": "reward_model",
             "pairs": {"source": "jsonl", "path": str(pairs), "tasks": 5}}]})  # fmt: skip
