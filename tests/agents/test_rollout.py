import pytest

from turngym.agents import (
    Agent,
    AgentConfig,
    EnvPool,
    group_episodes,
    load_trajectories,
    run_episodes,
    save_trajectories,
)


@pytest.fixture()
def trajectories(backend):
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="choose"), seed=0)
    with EnvPool("turngym/Household-v0", num_slots=6) as pool:
        return run_episodes(agent, pool, group_episodes([11, 22, 33], group_size=4, seed=5))


def test_groups_share_the_initial_state(trajectories):
    assert len(trajectories) == 12
    for group in range(3):
        members = trajectories[group * 4 : group * 4 + 4]
        assert len({t.group_id for t in members}) == 1
        assert len({t.task_id for t in members}) == 1
        assert len({t.turns[0].observation for t in members}) == 1
        assert len({t.turns[0].state_key for t in members}) == 1
    assert len({t.group_id for t in trajectories}) == 3
    assert len({t.episode_id for t in trajectories}) == 12


def test_turns_carry_tokens_rewards_and_states(trajectories):
    for trajectory in trajectories:
        assert 1 <= trajectory.length <= 15
        assert trajectory.task.startswith("put the ")
        assert trajectory.won == (trajectory.return_ == 1.0)
        assert trajectory.truncated == (not trajectory.won)  # the only way to end is win or cap
        for turn in trajectory.turns:
            assert turn.action in turn.admissible_actions and turn.valid
            assert turn.candidate_ids[turn.chosen_index] == turn.response_ids
            assert turn.response_logprobs == [turn.action_logprob] and turn.action_logprob <= 0
            assert turn.prompt_ids and turn.state_key
        assert trajectory.turns[0].observation.startswith("-= Welcome")


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_trajectories_round_trip(trajectories, tmp_path, suffix):
    path = save_trajectories(trajectories, tmp_path / f"batch{suffix}")
    loaded = load_trajectories(path)
    assert loaded == trajectories
    assert loaded[0].return_ == trajectories[0].return_


def test_unknown_trajectory_file_type_is_refused(trajectories, tmp_path):
    with pytest.raises(ValueError, match=r"\.parquet or \.jsonl"):
        save_trajectories(trajectories, tmp_path / "batch.csv")


def test_generate_mode_rollout_sends_raw_text_and_env_answers(backend):
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="generate", max_new_tokens=6))
    with EnvPool("turngym/Household-v0", {"max_episode_steps": 3}, num_slots=2) as pool:
        (trajectory,) = run_episodes(agent, pool, group_episodes([7], group_size=1))
    assert trajectory.length == 3 and trajectory.truncated
    for turn in trajectory.turns:
        assert len(turn.response_ids) == len(turn.response_logprobs)
        if not turn.valid:  # the untrained model's text is not a command
            assert turn.reward == 0.0
