import numpy as np
import pytest

from turngym.agents.agent import Agent, AgentConfig, AgentInput, choice_logprobs
from turngym.agents.prompts import PromptTemplate, parse_action

STEP = AgentInput(
    task="put the apple 1 in the drawer 1.",
    observation="You arrive at cabinet 1. The cabinet 1 is closed.",
    admissible_actions=["go to drawer 1", "open cabinet 1", "go to shelf 1"],
    past=[("You are in the middle of a room.", "go to cabinet 1")],
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<action>go to desk 1</action>", "go to desk 1"),
        (
            "<think>maybe <action>x</action></think><action> open fridge 1 </action>",
            "open fridge 1",
        ),
        ("<ACTION>look</ACTION>", "look"),
        ("<action>a</action> then <action>b</action>", "b"),
        ("go to desk 1", None),
        ("<action></action>", None),
        ("<action>unclosed", None),
        ("", None),
    ],
)
def test_parse_action(text, expected):
    assert parse_action(text) == expected


def test_prompt_template_shows_task_history_observation_and_actions():
    messages = PromptTemplate(history=1, list_admissible=True).messages(
        STEP.task, STEP.observation, STEP.admissible_actions, STEP.past
    )
    user = messages[-1]["content"]
    assert user.splitlines() == [
        "Task: put the apple 1 in the drawer 1.",
        "Recent turns:",
        "Observation: You are in the middle of a room.",
        "Action: go to cabinet 1",
        "Observation: You arrive at cabinet 1. The cabinet 1 is closed.",
        "Admissible actions: go to drawer 1 | open cabinet 1 | go to shelf 1",
    ]
    assert messages[0]["role"] == "system"


def test_choice_logprobs_is_a_log_softmax_with_temperature():
    scores = np.array([-1.0, -2.0, -4.0])
    got = choice_logprobs(scores, temperature=2.0)
    expected = np.log(np.exp(scores / 2) / np.exp(scores / 2).sum())
    assert np.allclose(got, expected)
    assert np.isclose(np.exp(got).sum(), 1.0)


def test_choose_mode_samples_an_admissible_action_with_its_exact_logprob(backend):
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="choose"), seed=0)
    decision = agent.act([STEP])[0]
    assert decision.action in STEP.admissible_actions
    assert decision.chosen_index == STEP.admissible_actions.index(decision.action)
    assert decision.response_ids == agent.encode_action(decision.action)
    token_scores = backend.score(
        [decision.prompt_ids] * 3, [agent.encode_action(a) for a in STEP.admissible_actions]
    )
    expected = choice_logprobs(np.array([np.mean(s) for s in token_scores]), 1.0)
    assert decision.action_logprob == pytest.approx(expected[decision.chosen_index], abs=1e-5)


def test_generate_mode_records_tokens_and_marks_unparsable_output(backend):
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="generate", max_new_tokens=8))
    decision = agent.act([STEP])[0]
    assert decision.prompt_ids == agent.encode_prompt(STEP)
    assert len(decision.response_logprobs) == len(decision.response_ids) > 0
    assert decision.action_logprob == pytest.approx(sum(decision.response_logprobs))
    # an untrained model does not write <action> tags: the raw text goes to the environment
    assert decision.format_ok is (parse_action(decision.response_text) is not None)


def test_choose_mode_without_admissible_actions_says_what_to_do(backend):
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="choose"))
    with pytest.raises(ValueError, match="mode='generate'"):
        agent.act([AgentInput("task", "obs", [])])
