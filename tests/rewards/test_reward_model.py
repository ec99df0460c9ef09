"""The Bradley-Terry reward model: the loss, learning a rule from synthetic preferences (held-out
pairwise accuracy), save/load as a Hugging Face folder, the reward_model scorer, and
``turngym reward-model CONFIG`` from a JSONL file and from judged rollouts."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import yaml

from turngym.agents.tiny import build_tiny_model
from turngym.agents.trajectory import Trajectory, Turn
from turngym.algos.engine import TorchEngine
from turngym.algos.reward_model_training import (
    TextPair,
    bradley_terry_loss,
    load_jsonl_pairs,
    pairwise_accuracy,
    train_reward_model,
)
from turngym.rewards.reward_model import RewardModel, conversation_messages
from turngym.rewards.scorers import Rubric

#: the learnable rule: the chosen reply carries one word of GOOD, the rejected one of BAD, each
#: among five random NEUTRAL words at a random place
GOOD = "thanks great glad happy sure welcome gladly certainly".split()
BAD = "never angry awful refuse useless stupid whatever hopeless".split()
NEUTRAL = (
    "order box table window river paper green seven blue chair apple music street garden letter "
    "yellow number morning coffee train city forest metal stone"
).split()


def synthetic_pairs(count: int, seed: int) -> list[TextPair]:
    rng = random.Random(seed)

    def reply(word: str) -> str:
        words = [rng.choice(NEUTRAL) for _ in range(5)]
        words.insert(rng.randrange(6), word)
        return " ".join(words)

    return [
        TextPair(" ".join(rng.choice(NEUTRAL) for _ in range(4)) + "?",
                 reply(rng.choice(GOOD)), reply(rng.choice(BAD)))
        for _ in range(count)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    corpus = [" ".join(p.texts_raw()) for p in synthetic_pairs(200, 99)]
    return build_tiny_model(tmp_path_factory.mktemp("rm") / "base", env_ids=[], extra_corpus=corpus)


def test_bradley_terry_loss_hand_worked() -> None:
    # -(log sigma(2 - 1) + log sigma(0 - 1)) / 2 = (0.31326 + 1.31326) / 2
    loss = bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]))
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(1.0))) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6) and expected == pytest.approx(
        0.81326, abs=1e-5
    )


def test_learns_the_rule_well_above_chance_on_held_out_pairs(base_model, tmp_path) -> None:
    torch.manual_seed(0)
    model = RewardModel.from_pretrained(base_model)
    train, held_out = synthetic_pairs(400, seed=0), synthetic_pairs(200, seed=1)
    before = pairwise_accuracy(model, held_out)
    engine = TorchEngine(model.model, learning_rate=1e-3)
    history = train_reward_model(model, engine, train, epochs=2, batch_size=16)
    after = pairwise_accuracy(model, held_out)
    # measured: 52.7% before (chance), 100% after; the loss falls
    assert 0.35 < before < 0.65 and after >= 0.95
    assert history[-1]["loss"] < history[0]["loss"] and engine.steps == 2 * 25
    # saved and loaded as a Hugging Face folder: the same scores
    folder = model.save(tmp_path / "rm")
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    again = RewardModel.from_pretrained(folder)
    texts = [t for pair in held_out[:8] for t in pair.texts(model)]
    assert again.score_texts(texts) == pytest.approx(model.score_texts(texts), abs=1e-5)
    # padding does not change a score: one at a time equals batched
    assert [model.score_texts([t])[0] for t in texts[:4]] == pytest.approx(
        model.score_texts(texts[:4]), abs=1e-4
    )


def trajectory(words: list[str]) -> Trajectory:
    turns = [Turn(f"observation {k}", [], [], [], w, 0.0, True, response_text=w)
             for k, w in enumerate(words)]  # fmt: skip
    return Trajectory("e", "g", "turngym/TwentyQuestions-v0", 0, 0, turns=turns,
                      final_observation="the end")  # fmt: skip


def test_the_scorer_scores_episodes_and_turns(base_model, tmp_path) -> None:
    with pytest.raises(ValueError, match="not a reward model"):  # a causal LM: a random head
        Rubric.from_specs([SimpleNamespace(name="reward_model", weight=1.0,
                                           options={"path": str(base_model)})])  # fmt: skip
    saved = RewardModel.from_pretrained(base_model).save(tmp_path / "rm")
    model = RewardModel.from_pretrained(saved, trained=True)
    spec = SimpleNamespace(name="reward_model", weight=0.5,
                           options={"path": str(saved), "level": "episode"})  # fmt: skip
    episodes = [trajectory(["thanks a lot", "great"]), trajectory(["never"])]
    Rubric.from_specs([spec]).apply(episodes)
    for episode in episodes:
        expected = model.score_texts([model.text_of(conversation_messages(episode))])[0]
        assert episode.turns[-1].reward_terms["reward_model"] == pytest.approx(
            0.5 * expected, abs=1e-5
        )
        assert all(t.reward_terms["reward_model"] == 0.0 for t in episode.turns[:-1])
    spec.options["level"] = "turn"
    Rubric.from_specs([spec]).apply(episodes)
    first = episodes[0]
    prefix = model.text_of(conversation_messages(first, 1))
    assert first.turns[0].reward_terms["reward_model"] == pytest.approx(
        0.5 * model.score_texts([prefix])[0], abs=1e-5
    )
    assert "the end" not in prefix and "the end" in model.text_of(conversation_messages(first))
    wrong_level = {"path": str(saved), "level": "x"}
    with pytest.raises(ValueError, match="level"):
        Rubric.from_specs([SimpleNamespace(name="reward_model", weight=1.0, options=wrong_level)])


def test_jsonl_errors_name_the_line(tmp_path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"chosen": "a", "rejected": "b"}\n\n{"chosen": "a"}\n')
    with pytest.raises(ValueError, match=r"pairs.jsonl:3: 'rejected' must be a string"):
        load_jsonl_pairs(path)
    path.write_text('{"chosen": "a", "rejected": "b"}\n{oops\n')
    with pytest.raises(ValueError, match=r"pairs.jsonl:2: not valid JSON"):
        load_jsonl_pairs(path)
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    assert load_jsonl_pairs(path) == [TextPair("p", "a", "b")]
    with pytest.raises(FileNotFoundError):
        load_jsonl_pairs(tmp_path / "missing.jsonl")


def turngym(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "turngym.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)  # fmt: skip


def test_cli_trains_from_a_jsonl_file(tmp_path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected}
            for p in synthetic_pairs(300, seed=3)]  # fmt: skip
    pairs.write_text("\n".join(json.dumps(row) for row in rows))
    config = tmp_path / "rm.yaml"
    config.write_text(yaml.safe_dump({
        "pairs": {"source": "jsonl", "path": str(pairs), "eval_fraction": 0.2},
        "train": {"epochs": 3, "learning_rate": 1e-3, "output_dir": str(tmp_path / "rm"),
                  "torch_threads": 1},
    }))  # fmt: skip
    result = turngym("reward-model", str(config))
    assert result.returncode == 0, result.stderr
    assert "held-out pairwise accuracy on 60 pairs" in result.stdout
    saved = json.loads((tmp_path / "rm" / "result.json").read_text())
    assert saved["held_out_accuracy"]["after"] >= 0.9
    assert RewardModel.from_pretrained(tmp_path / "rm").model.config.num_labels == 1
    wrong = turngym("reward-model", str(config), "train.epoks=1")
    assert wrong.returncode == 2 and "train.epoks: unknown key" in wrong.stderr
    missing = turngym("reward-model", str(config), "pairs.path=null")
    assert missing.returncode == 2 and "needs path" in missing.stderr
    again = turngym("reward-model", str(config))  # the folder holds a reward model already
    assert again.returncode == 2 and "overwrite" in again.stderr


def test_cli_trains_from_judged_rollouts(tmp_path) -> None:
    config = tmp_path / "rm.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"name_or_path": "tiny"},
        "env": {"id": "turngym/Household-v0"},
        "agent": {"mode": "choose"},
        "pairs": {"source": "rollouts", "tasks": 12, "samples_per_task": 4, "eval_fraction": 0.25,
                  "judge": {"kind": "rule"}},
        "train": {"epochs": 1, "output_dir": str(tmp_path / "rm"), "torch_threads": 1},
    }))  # fmt: skip
    result = turngym("reward-model", str(config))
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "rm" / "result.json").read_text())
    assert saved["pairs"]["train"] + saved["pairs"]["held_out"] >= 2
    assert 0.0 <= saved["held_out_accuracy"]["after"] <= 1.0
