"""CustomerService-v0: the customer's rules, the expert, the LLM-worded customer on the tiny
model, and RL with the rubric judge in the reward stage (training and evaluation)."""

from __future__ import annotations

import json

import gymnasium as gym

import turngym.envs  # noqa: F401
from turngym.envs.dialogue.customer_service import GOALS, make_scenario


def reset(task_id: int):
    env = gym.make("turngym/CustomerService-v0")
    observation, info = env.reset(options={"task_id": task_id})
    return env, observation, info


def test_the_opening_shows_the_console_and_the_customer() -> None:
    env, observation, info = reset(0)
    scenario = env.unwrapped.scenario
    assert info["task"] in observation and info["task_type"] == scenario.goal == GOALS[0]
    for order in scenario.orders:
        assert f"order {order.number}: {order.product}" in observation
    assert scenario.email not in observation  # what the customer holds is not on the console


def test_the_right_resolution_satisfies_the_customer() -> None:
    env, _, _ = reset(0)  # a refund
    target = env.unwrapped.scenario.target
    observation, reward, terminated, _, info = env.step(
        f"I'm sorry! I have issued a refund for order {target.number}."
    )
    assert (reward, terminated, info["won"]) == (1.0, True, True)
    assert "solves it" in observation


def test_wrong_orders_rudeness_and_patience() -> None:
    env, _, info = reset(0)
    scenario = env.unwrapped.scenario
    other = next(o for o in scenario.orders if o is not scenario.target)
    patience = env.unwrapped.patience
    _, reward, terminated, _, info = env.step(f"I have issued a refund for order {other.number}.")
    assert (reward, terminated, info["won"]) == (0.0, False, False)
    assert env.unwrapped.patience == patience - 1
    both = f"Refund for order {other.number} and order {scenario.target.number}."
    assert env.step(both)[1] == 0.0  # naming another order as well does not count
    env, _, _ = reset(6)  # a refund again, another customer
    start = env.unwrapped.patience
    observation, *_ = env.step("Whatever, that is not my problem, you are stupid.")
    assert "rude" in observation and env.unwrapped.patience == start - 2
    while True:
        observation, reward, terminated, truncated, info = env.step("Please hold on.")
        if terminated or truncated:
            break
    assert terminated and "give up" in observation and not info["won"] and reward == 0.0


def test_the_customer_gives_what_is_asked_for() -> None:
    env, _, info = reset(4)  # a password reset needs the email
    assert make_scenario(4).goal == "password"
    email = env.unwrapped.scenario.email
    assert not any(email in a for a in info["admissible_actions"])
    observation, reward, _, _, info = env.step("Could you give me your e-mail address please?")
    assert email in observation and reward == 0.0 and "email" in info["state_key"]
    assert f"I have sent a password reset link to {email}." in info["admissible_actions"]
    patience = env.unwrapped.patience
    observation, *_ = env.step("What is your email address?")  # asked again: it costs patience
    assert "already told you" in observation and env.unwrapped.patience == patience - 1
    assert env.step(f"Done: a reset link went to {email}.")[4]["won"]


def test_invalid_replies_change_nothing() -> None:
    env, _, info = reset(1)
    raw = env.unwrapped
    for action in ("go to desk 1", "xyzzy", "", "12345"):
        observation, reward, terminated, after = raw._act(action)
        assert observation == raw.invalid_action_answer and after["invalid_action"]
        assert after["state_key"] == info["state_key"] and reward == 0.0


def test_the_expert_helps_every_customer() -> None:
    env = gym.make("turngym/CustomerService-v0")
    for task_id in range(300):
        env.reset(options={"task_id": task_id})
        terminated = truncated = False
        while not (terminated or truncated):
            *_, terminated, truncated, info = env.step(env.unwrapped.expert_action())
        assert info["won"], task_id
    assert len({make_scenario(t).goal for t in range(12)}) == len(GOALS)


def test_llm_worded_customer_on_the_tiny_model(backend) -> None:
    from turngym.agents.simulators import BackendChat

    env = gym.make("turngym/CustomerService-v0", answerer="llm",
                   chat=BackendChat(backend, max_new_tokens=12))  # fmt: skip
    env.reset(options={"task_id": 4})
    observation, reward, terminated, _, info = env.step("What is your email address?")
    assert observation.startswith("Customer: ") and reward == 0.0 and not terminated
    assert "email" in info["state_key"]  # the rules still decide what was revealed
    email = env.unwrapped.scenario.email
    assert env.step(f"I have sent a password reset link to {email}.")[4]["won"]


def test_rl_with_the_rubric_judge_and_a_reward_model_in_the_reward_stage(
    tmp_path, tiny_model_dir
) -> None:
    from turngym.algos.trainer import Trainer
    from turngym.config.run import load_config
    from turngym.rewards.reward_model import RewardModel

    judge = {"name": "rubric_judge", "weight": 0.5,
             "options": {"rubric": "customer_service", "model": str(tiny_model_dir)}}  # fmt: skip
    reward_model = RewardModel.from_pretrained(tiny_model_dir).save(tmp_path / "rm")
    learned = {"name": "reward_model", "weight": 0.1,
               "options": {"path": str(reward_model), "level": "turn"}}  # fmt: skip
    config = load_config("configs/customer_service.yaml", [
        "train.iterations=1", "train.eval_every=1", "train.eval_episodes=4",
        "train.checkpoint_every=1", "rollout.tasks_per_iteration=2", "rollout.group_size=2",
        f"train.output_dir={tmp_path / 'run'}", "train.progress=false",
        f"reward.scorers={json.dumps([{'name': 'env'}, judge, learned])}",
    ])  # fmt: skip
    Trainer(config).train()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    trained = next(r for r in rows if "reward/rubric_judge" in r)
    assert 0.0 <= trained["reward/rubric_judge_per_episode"] <= 0.5
    evaluated = [r for r in rows if "eval/reward/rubric_judge" in r]
    assert evaluated and all(0.0 <= r["eval/reward/rubric_judge"] <= 0.5 for r in evaluated)
    assert "reward/reward_model" in trained and all("eval/reward/reward_model" in r
                                                    for r in evaluated)  # fmt: skip
