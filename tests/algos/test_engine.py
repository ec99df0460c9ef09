"""The training engine: accumulation, clipping, reference copies, save/load, weight sync."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from turngym.agents.backends import load_pretrained, make_backend
from turngym.algos.engine import TorchEngine
from turngym.algos.trainer import Trainer
from turngym.config.run import load_config


def toy_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def batch_loss(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).square().mean()


def test_accumulating_two_halves_steps_like_the_whole_batch():
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    whole, halves = toy_model(), toy_model()
    TorchEngine(whole, 1e-2).backward_and_step(batch_loss(whole, x))
    engine = TorchEngine(halves, 1e-2, accumulation_steps=2)
    assert engine.backward_and_step(batch_loss(halves, x[:4])) == {"stepped": 0.0}
    assert engine.backward_and_step(batch_loss(halves, x[4:]))["stepped"] == 1.0
    for a, b in zip(whole.parameters(), halves.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert engine.steps == 1 and engine.micro_steps == 0


def test_gradients_are_clipped_to_max_grad_norm():
    model = toy_model()
    engine = TorchEngine(model, learning_rate=0.0, max_grad_norm=0.01)
    stats = engine.backward_and_step(1000 * batch_loss(model, torch.ones(2, 4)))
    assert stats["grad_norm"] > 0.01  # the norm before clipping is reported


def test_warmup_raises_the_learning_rate_linearly():
    engine = TorchEngine(toy_model(), learning_rate=1.0, warmup_steps=4)
    rates = []
    for _ in range(6):
        rates.append(engine.optimizer.param_groups[0]["lr"])
        engine.backward_and_step(batch_loss(engine.model, torch.ones(1, 4)))
    assert rates == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_frozen_copy_has_no_gradients_and_does_not_move():
    model = toy_model()
    engine = TorchEngine(model, 1e-1)
    reference = engine.frozen_copy()
    before = [p.clone() for p in reference.parameters()]
    engine.backward_and_step(batch_loss(model, torch.ones(3, 4)))
    assert not any(p.requires_grad for p in reference.parameters()) and not reference.training
    assert all(torch.equal(a, b) for a, b in zip(before, reference.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_save_then_load_continues_exactly(tiny_model_dir, tmp_path):
    model, _ = load_pretrained(tiny_model_dir)
    ids = torch.tensor([[5, 6, 7, 8]])

    def step(engine):
        engine.backward_and_step(engine.model(input_ids=ids).logits.square().mean())

    straight = TorchEngine(copy.deepcopy(model), 1e-2, warmup_steps=3)
    step(straight)
    straight.save(tmp_path / "ckpt")
    step(straight)
    loaded, _ = load_pretrained(tmp_path / "ckpt")
    resumed = TorchEngine(loaded, 1e-2, warmup_steps=3)
    resumed.load(tmp_path / "ckpt")
    step(resumed)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


SMALL = [
    "rollout.tasks_per_iteration=2",
    "rollout.group_size=4",
    "algo.epochs=1",
    "train.eval_every=0",
    "train.eval_episodes=2",
    "train.progress=false",
    "agent.mode=generate",
    "agent.max_new_tokens=6",
    "env.max_episode_steps=2",
    "algo.learning_rate=0.01",
    "algo.entropy_coef=0.5",
]  # fmt: skip  (moves the policy)


class UnsyncedTrainer(Trainer):
    def sync_weights(self) -> None:  # the update never reaches the backend
        pass


@pytest.mark.parametrize("trainer_class, synced", [(Trainer, True), (UnsyncedTrainer, False)])
def test_a_backend_with_its_own_weights_sees_updates_only_through_the_sync(
    tmp_path, trainer_class, synced
):
    trainer = trainer_class(load_config(None, [*SMALL, f"train.output_dir={tmp_path}"]))
    own = make_backend(model=trainer.model, tokenizer=trainer.tokenizer, share_weights=False)
    trainer.backend = trainer.agent.backend = own  # as a vLLM engine would: a copy of its own
    prompts, continuations = [[5, 6, 7, 8], [9, 10]], [[11, 12, 13], [14, 15]]
    before = own.score(prompts, continuations)
    trainer.train_iteration(0)
    with torch.no_grad():
        trainer_view = make_backend(model=trainer.model, tokenizer=trainer.tokenizer)
        expected = trainer_view.score(prompts, continuations)
    after = own.score(prompts, continuations)
    moved = not np.allclose(np.concatenate(before), np.concatenate(expected))
    assert moved, "the update must change the policy (the entropy bonus moves it)"
    matches = np.allclose(np.concatenate(after), np.concatenate(expected), atol=1e-6)
    assert matches is synced
    if not synced:
        assert np.allclose(np.concatenate(after), np.concatenate(before))
    trainer.close()
