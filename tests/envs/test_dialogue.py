"""TwentyQuestions-v0 and GuessMyCity-v0: the rules, the rule answerers' grammar, the expert, and
the LLM answerers on the tiny model (in-process and through ``turngym serve``'s endpoint).
The registry-wide contract tests (check_env, determinism, make_vec, fuzz) cover both ids too."""

from __future__ import annotations

import gymnasium as gym
import pytest

import turngym.envs  # noqa: F401
from turngym.envs.dialogue.cities import CITIES, TOPIC_QUESTIONS, answer_about_city
from turngym.envs.dialogue.objects import ATTRIBUTES, OBJECTS, answer_question, attributes_named
from turngym.envs.dialogue.text import normalize

CAT = list(OBJECTS).index("cat")
TOKYO = [c.name for c in CITIES].index("Tokyo")


def play(env, actions):
    results = []
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        results.append((observation, reward, terminated, truncated, info))
    return results


@pytest.mark.parametrize(
    "guess", ["Is it a cat?", "cat", "a cat", "CAT.", "It's a cat!", "my guess is: cats", "kitten"]
)
def test_a_guess_is_recognised_in_many_forms(guess: str) -> None:
    env = gym.make("turngym/TwentyQuestions-v0")
    env.reset(options={"task_id": CAT})
    observation, reward, terminated, truncated, info = env.step(guess)
    assert (reward, terminated, info["won"]) == (0.0, True, True)
    assert observation.startswith("Yes! It is cat")


def test_lmrl_rules_minus_one_a_question_zero_on_the_guess_and_twenty_turns() -> None:
    env = gym.make("turngym/TwentyQuestions-v0")
    env.reset(options={"task_id": CAT})
    steps = play(env, ["Is it alive?", "Is it a dog?", "Can it fly?", "Is it a cat?"])
    assert [s[1] for s in steps] == [-1.0, -1.0, -1.0, 0.0]
    assert [s[0] for s in steps[:3]] == ["Yes.", "No.", "No."]
    assert steps[-1][2] and steps[-1][4]["won"] and steps[-1][4]["questions_asked"] == 4
    env.reset(options={"task_id": CAT})
    steps = play(env, ["Is it a plant?"] * 20)
    assert sum(s[1] for s in steps) == -20.0
    assert steps[-1][3] and not steps[-1][2] and not steps[-1][4]["won"]  # the cap truncates


def test_invalid_text_costs_nothing_and_changes_nothing() -> None:
    env = gym.make("turngym/TwentyQuestions-v0").unwrapped
    env.reset(options={"task_id": CAT})
    *_, before = env.step("Is it alive?")
    for action in ("go north", "spaceship", "", "<action>", "alive?"):
        observation, reward, terminated, info = env._act(action)
        assert observation == env.invalid_action_answer and reward == 0.0 and not terminated
        assert info["invalid_action"] and info["state_key"] == before["state_key"]


def test_every_suggested_question_names_exactly_its_attribute() -> None:
    for name, (question, _) in ATTRIBUTES.items():
        assert attributes_named(normalize(question)) == [name], question


def test_the_oracle_grammar() -> None:
    def ask(obj: str, question: str) -> str:
        return answer_question(obj, normalize(question))[0]

    assert ask("cat", "Is it a mammal?") == "Yes."
    assert ask("eagle", "Is it an animal that can fly?") == "Yes."  # conjunction
    assert ask("cat", "Is it an animal that can fly?") == "No."
    assert ask("carrot", "Is it a fruit or a vegetable?") == "Yes."  # disjunction
    assert ask("cat", "Isn't it alive?") == "No."  # negation
    assert ask("apple", "Is it found in a house?") == "Yes."  # kitchen things are indoors
    assert ask("cat", "What colour is it?") == "I don't know."
    env = gym.make("turngym/TwentyQuestions-v0")
    env.reset(options={"task_id": CAT})
    assert env.step("Is it a spaceship?")[0] == "No."  # not a thing of the game: no
    assert env.step("Does it have a favourite colour?")[0] == "I don't know."


def test_objects_and_cities_are_told_apart_by_the_suggested_questions() -> None:
    signatures = {tuple(answer_question(o, normalize(q))[0] for q, _ in ATTRIBUTES.values())
                  for o in OBJECTS}  # fmt: skip
    assert len(signatures) == len(OBJECTS) == 53
    for env_id, count in (("turngym/TwentyQuestions-v0", 53), ("turngym/GuessMyCity-v0", 42)):
        env = gym.make(env_id)
        assert env.unwrapped.num_tasks == count
        for task_id in range(count):  # the rule expert wins every game within the cap
            _, info = env.reset(options={"task_id": task_id})
            terminated = truncated = False
            while not (terminated or truncated):
                _, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
            assert info["won"], (env_id, task_id)
            assert info["questions_asked"] <= (8 if count == 53 else 2)


def test_city_answers_follow_the_table_and_never_name_the_city() -> None:
    tokyo = CITIES[TOKYO]

    def ask(question: str, city=tokyo) -> str:
        return answer_about_city(city, normalize(question))[0]

    assert ask("Is it in Japan?") == "Yes." and ask("Is it in China?") == "No."
    assert ask("Is it in Asia?") == "Yes." and ask("Is it in Europe?") == "No."
    assert ask("Which continent is it on?") == "It is in Asia."
    assert ask("Where is it located?") == ask("Where is it?") == "It is in Japan."
    assert ask("How many people live there?") == "About 14 million people live there."
    assert ask("Is it on the coast?") == "Yes, it is on the coast."
    assert ask("What language do they speak?") == "People there speak Japanese."
    assert ask("Is it in South America?", CITIES[[c.name for c in CITIES].index("Lima")]) == "Yes."
    assert ask("What about the moon?").startswith("I can't answer that.")
    for city in CITIES:
        for question in TOPIC_QUESTIONS.values():
            answer = normalize(ask(question, city))
            assert f" {normalize(city.name)} " not in f" {answer} ", (city.name, question)


def test_city_guesses_and_open_questions() -> None:
    env = gym.make("turngym/GuessMyCity-v0")
    env.reset(options={"task_id": TOKYO})
    steps = play(env, ["What is it famous for?", "Is it Kyoto?", "tokyo."])
    assert steps[0][0].startswith("It is known for") and steps[0][1] == -1.0
    assert steps[1][:2] == ("No.", -1.0)
    assert steps[2][1:3] == (0.0, True) and steps[2][4]["won"]
    env.reset(options={"task_id": [c.name for c in CITIES].index("New York")})
    assert env.step("Is it NYC?")[4]["won"]


def test_the_answerer_is_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="answerer"):
        gym.make("turngym/TwentyQuestions-v0", answerer="oracle")
    with pytest.raises(ValueError, match="chat="):
        gym.make("turngym/GuessMyCity-v0", answerer="llm")
    with pytest.raises(ValueError, match="base_url"):
        gym.make("turngym/GuessMyCity-v0", answerer="llm", chat={"model": "x"})


def test_llm_answerers_on_the_tiny_model_in_process(backend) -> None:
    from turngym.agents.simulators import BackendChat

    chat = BackendChat(backend, max_new_tokens=8)
    seen = []

    def recording(messages):
        seen.append(messages)
        return chat(messages)

    env = gym.make("turngym/TwentyQuestions-v0", answerer="llm", chat=recording)
    env.reset(options={"task_id": CAT})
    observation, reward, *_ = env.step("Is it alive?")
    assert observation in ("Yes.", "No.", "I don't know.") and reward == -1.0
    assert "cat" in seen[0][0]["content"] and seen[0][1]["content"] == "is it alive"
    assert env.step("Is it a cat?")[4]["won"]  # the guess is judged by the rules
    city = gym.make("turngym/GuessMyCity-v0", answerer="llm", chat=chat)
    city.reset(options={"task_id": TOKYO})
    observation, reward, *_, info = city.step("What is it famous for?")
    assert observation and reward == -1.0 and "tokyo" not in observation.lower()
    assert info["state_key"] != "nothing known yet"


def test_llm_answerer_through_the_served_endpoint(tiny_model_dir) -> None:
    from turngym.agents.serve import ModelServer
    from turngym.envs.dialogue.simulated_user import EndpointChat

    with ModelServer.from_checkpoint(tiny_model_dir, model_name="tiny") as server:
        chat = {"base_url": server.base_url, "model": "tiny", "max_tokens": 8}
        envs = gym.make_vec(
            "turngym/GuessMyCity-v0", num_envs=2, vectorization_mode="async",
            answerer="llm", chat=chat,
        )  # fmt: skip
        try:
            envs.reset(seed=0, options={"task_id": TOKYO})
            observations, rewards, *_ = envs.step(("Which continent is it on?",) * 2)
            assert list(rewards) == [-1.0, -1.0]
            assert observations[0] == observations[1]  # greedy: the same reply in both workers
            direct = EndpointChat(**chat)
            assert isinstance(direct([{"role": "user", "content": "hi"}]), str)
        finally:
            envs.close()
        assert sum(server.batcher.batch_sizes) >= 3


def test_whole_episodes_with_the_tiny_agent_and_the_tiny_answerer(backend) -> None:
    """The agent (choose mode) plays whole episodes against the LLM answerer, both the tiny
    model, through the rollout loop."""
    from turngym.agents.agent import Agent, AgentConfig
    from turngym.agents.env_pool import EnvPool
    from turngym.agents.rollout import group_episodes, run_episodes
    from turngym.agents.simulators import BackendChat

    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="choose"), seed=0)
    kwargs = {"answerer": "llm", "chat": BackendChat(backend, max_new_tokens=4),
              "max_episode_steps": 5}  # fmt: skip
    with EnvPool("turngym/TwentyQuestions-v0", kwargs, num_slots=2) as pool:
        episodes = run_episodes(agent, pool, group_episodes([CAT, 5], 1))
    for episode in episodes:
        assert episode.error is None and 1 <= episode.length <= 5
        assert all(turn.reward in (-1.0, 0.0) for turn in episode.turns)
        assert episode.won or episode.truncated


def test_an_llm_user_that_names_the_city_is_masked() -> None:
    def careless(messages):
        return "Tokyo! Everyone knows tokyo and its Sumida river."

    env = gym.make("turngym/GuessMyCity-v0", answerer="llm", chat=careless)
    env.reset(options={"task_id": TOKYO})
    observation = env.step("What is it famous for?")[0]
    assert observation == "[the city]! Everyone knows [the city] and its Sumida river."
