"""Preference pairs and the token shapes built from them."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.env_pool import EnvPool
from turngym.agents.trajectory import Trajectory, Turn
from turngym.algos.demonstrations import expert_trajectories
from turngym.algos.pairs import (
    conversation_tokens,
    expert_pairs,
    group_pairs,
    mismatched,
    step_pairs,
    turn_samples,
    user_turn_ids,
)

ENV_ID = "turngym/Household-v0"


def expert_demos(agent, task_ids, env_id=ENV_ID, **pool_options):
    """The environment's expert on ``task_ids``, through an expert pool."""
    with EnvPool(env_id, expert=True, **pool_options) as pool:
        return expert_trajectories(agent, pool, task_ids)


def trajectory(name: str, group: str, task_id: int, rewards: list[float]) -> Trajectory:
    turns = [
        Turn(f"obs {k}", [1, 2], [3 + k], [-1.0], f"act {k}", -1.0, True, reward)
        for k, reward in enumerate(rewards)
    ]
    return Trajectory(name, group, ENV_ID, task_id, 0, turns=turns, won=sum(rewards) > 0)


def test_group_pairs_best_vs_worst_and_ties_dropped() -> None:
    group_a = [
        trajectory("a-fail-short", "a", 1, [0, 0]),
        trajectory("a-win-long", "a", 1, [0, 0, 0, 1]),
        trajectory("a-win-short", "a", 1, [0, 1]),
        trajectory("a-fail-long", "a", 1, [0, 0, 0, 0]),
    ]
    all_fail = [trajectory(f"b{i}", "b", 2, [0, 0, 0]) for i in range(3)]
    all_win = [trajectory("c0", "c", 3, [0, 1]), trajectory("c1", "c", 3, [0, 0, 1])]
    pairs = group_pairs(group_a + all_fail + all_win)
    assert len(pairs) == 1  # groups b and c tie on return
    (pair,) = pairs
    assert (pair.chosen.episode_id, pair.rejected.episode_id) == ("a-win-short", "a-fail-long")
    assert pair.source == "group"


def test_expert_pairs_match_task_ids_and_drop_ties() -> None:
    experts = [trajectory("e1", "e1", 1, [0, 1]), trajectory("e2", "e2", 2, [1])]
    sampled = [
        trajectory("s1-fail", "g1", 1, [0, 0, 0]),
        trajectory("s1-win", "g1", 1, [0, 0, 1]),  # ties the expert's return: dropped
        trajectory("s2-fail", "g2", 2, [0]),
        trajectory("s3-fail", "g3", 3, [0]),  # no expert for task 3
    ]
    pairs = expert_pairs(experts, sampled)
    assert [(p.chosen.episode_id, p.rejected.episode_id) for p in pairs] == [
        ("e1", "s1-fail"),
        ("e2", "s2-fail"),
    ]
    assert all(p.source == "expert" for p in pairs)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def demonstrations(tokenizer) -> list[Trajectory]:
    agent = Agent(None, tokenizer, AgentConfig(mode="choose"))
    return expert_demos(agent, [0, 1, 2])


def test_turn_samples_are_the_turns(demonstrations) -> None:
    for demo in demonstrations:
        samples = turn_samples(demo)
        assert len(samples) == demo.length
        for sample, turn in zip(samples, demo.turns, strict=True):
            assert sample.prompt_ids == turn.prompt_ids
            assert sample.response_ids == turn.response_ids
            assert sample.candidate_ids == turn.candidate_ids
            assert sample.chosen_index == turn.chosen_index


def test_conversation_mask_covers_exactly_the_assistant_tokens(demonstrations, tokenizer) -> None:
    for demo in demonstrations:
        conversation = conversation_tokens(demo, tokenizer)
        ids, mask, turns = conversation.input_ids, conversation.loss_mask, conversation.turn_index
        assert len(ids) == len(mask) == len(turns)
        assert ids[: len(demo.turns[0].prompt_ids)] == demo.turns[0].prompt_ids
        labelled = [i for i, m in enumerate(mask) if m]
        assert [ids[i] for i in labelled] == [t for turn in demo.turns for t in turn.response_ids]
        assert [turns[i] for i in labelled] == [
            j for j, turn in enumerate(demo.turns) for _ in turn.response_ids
        ]
        assert all(turns[i] == -1 for i, m in enumerate(mask) if not m)
        # each turn's reply is one contiguous labelled block
        for j, turn in enumerate(demo.turns):
            at = [i for i in labelled if turns[i] == j]
            assert at == list(range(at[0], at[0] + len(turn.response_ids)))


def test_conversation_is_the_chat_template_of_the_episode(demonstrations, tokenizer) -> None:
    demo = demonstrations[0]
    first = tokenizer.decode(demo.turns[0].prompt_ids)
    messages = []
    for j, turn in enumerate(demo.turns):
        if j:
            messages.append({"role": "user", "content": turn.observation})
        messages.append({"role": "assistant", "content": turn.action})
    rendered = first + tokenizer.apply_chat_template(messages, tokenize=False).removeprefix(
        "<|im_start|>assistant\n"
    )
    assert tokenizer.decode(conversation_tokens(demo, tokenizer).input_ids) + "\n" == rendered
    assert tokenizer.decode(user_turn_ids(tokenizer, "Hi.")) == (
        "\n<|im_start|>user\nHi.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_step_pairs_keep_the_first_diverging_step() -> None:
    win = trajectory("win", "g", 1, [0, 0, 1])
    lose = trajectory("lose", "g", 1, [0, 0, 0, 0])
    lose.turns[1].action, lose.turns[1].response_ids = "other act", [99]  # diverges at step 1
    same = trajectory("same", "h", 2, [0, 1])
    same_loser = trajectory("same-loser", "h", 2, [0, 0])  # identical actions: no divergence
    pairs = step_pairs([win, lose, same, same_loser])
    assert len(pairs) == 1
    (pair,) = pairs
    assert pair.source == "step"
    assert [t.action for t in pair.chosen.turns] == ["act 1"]
    assert [t.action for t in pair.rejected.turns] == ["other act"]
    assert pair.chosen.turns[0].prompt_ids == pair.rejected.turns[0].prompt_ids
    assert len(win.turns) == 3  # the source trajectories are untouched


def test_mismatched_gives_responses_the_other_episodes_prompts() -> None:
    prompts_of = trajectory("x", "g", 1, [0, 1])
    responses_of = trajectory("y", "h", 2, [0, 0, 1])
    for k, turn in enumerate(prompts_of.turns):
        turn.prompt_ids = [50 + k]
    shifted = mismatched(prompts_of, responses_of)
    assert [t.prompt_ids for t in shifted.turns] == [[50], [51], [51]]  # past its end: last one
    assert [t.response_ids for t in shifted.turns] == [t.response_ids for t in responses_of.turns]
    assert responses_of.turns[0].prompt_ids == [1, 2]  # the source trajectory is untouched
