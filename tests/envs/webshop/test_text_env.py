"""``turngym/WebShop-v0``: the original's pages, flow, actions and reward, in-process."""

from __future__ import annotations

import gymnasium as gym
import pytest

import turngym.envs  # noqa: F401
from turngym.envs.webshop.pages import parse_page
from turngym.envs.webshop.reward import get_reward
from turngym.envs.webshop.text_env import WebShopEnv, parse_action

TASK = 7


@pytest.fixture
def env():
    environment = WebShopEnv()
    yield environment
    environment.close()


def test_pages_and_flow(env: WebShopEnv) -> None:
    observation, info = env.reset(options={"task_id": TASK})
    goal = env.goal
    assert (
        observation == f"WebShop [SEP] Instruction: [SEP] {goal['instruction_text']} [SEP] Search"
    )
    assert info["task"] == goal["instruction_text"] and info["task_type"] == goal["category"]
    searches = [a for a in info["admissible_actions"] if a.startswith("search[")]
    assert (
        searches[0] == f"search[{goal['query']}]"
        and "click[search]" not in info["admissible_actions"]
    )

    observation, reward, terminated, _, info = env.step(
        f"search[{goal['instruction_text'].upper()}]"
    )
    parts = observation.split(" [SEP] ")
    assert parts[:5] == ["Instruction:", goal["instruction_text"], "Back to Search",
                         "Page 1 (Total results: 50)", "Next >"]  # fmt: skip
    assert len(parts) == 5 + 3 * 10 and (reward, terminated) == (0.0, False)  # asin, title, price
    assert not any(a.startswith("search[") for a in info["admissible_actions"])
    assert info["state_key"] == " [SEP] ".join(parts[2:])  # the page after the instruction
    first_page = observation

    observation, *_ = env.step("click[next >]")
    assert "Page 2 (Total results: 50) [SEP] < Prev [SEP] Next >" in observation
    observation, *_ = env.step("click[< prev]")
    assert observation == first_page

    asin = parts[5].lower()
    observation, *_, info = env.step(f"click[{asin}]")
    product = env.shop.catalogue.by_asin[asin.upper()]
    assert f"{product['Title']} [SEP] Price: {product['Price']} [SEP] Rating: " in observation
    assert observation.endswith("Description [SEP] Features [SEP] Reviews [SEP] Buy Now")
    for name, values in product["options"].items():
        assert f"{name} [SEP] " + " [SEP] ".join(values) in observation
    item_page = observation
    for sub_page, shown in [("description", product["Description"]),
                            ("features", product["BulletPoints"][0])]:  # fmt: skip
        observation, *_ = env.step(f"click[{sub_page}]")
        assert shown.strip() in observation and "< Prev" in observation
        observation, *_ = env.step("click[< prev]")
        assert observation == item_page

    name, values = next(iter(product["options"].items()))
    observation, *_, info = env.step(f"click[{values[-1]}]")
    assert observation == item_page  # the text mode does not show the choice ...
    assert info["state_key"] == env.page.after_instruction()
    observation, reward, terminated, _, info = env.step("click[buy now]")
    expected, _ = get_reward(
        product, goal, env.shop.catalogue.prices[product["asin"]], {name: values[-1]}
    )
    assert terminated and reward == info["score"] == expected
    assert info["won"] is (expected == 1.0) and info["admissible_actions"] == []
    assert observation.startswith("Thank you for shopping with us!")
    assert observation.endswith(f"Your score (min 0.0, max 1.0) [SEP] {expected}")


def test_back_to_search_and_text_rich() -> None:
    env = WebShopEnv(observation_mode="text_rich")
    env.reset(options={"task_id": TASK})
    env.step(f"search[{env.goal['query']}]")
    asin = next(n for n, c in env.page.clickables.items() if c.kind == "link")
    env.step(f"click[{asin}]")
    value = next(iter(env.shop.catalogue.by_asin[asin.upper()]["options"].values()))[0]
    observation, *_ = env.step(f"click[{value}]")
    assert observation.startswith(f"You have clicked {value}.\n")
    assert f"  [clicked button] {value} [clicked button_]" in observation
    assert "[button] Buy Now [button_]" in observation
    observation, *_ = env.step("click[< prev]")
    assert f"\n[clicked button] {asin.upper()} [clicked button_]" in observation  # visited
    observation, *_ = env.step("click[back to search]")
    assert "[button] Search [button_]" in observation


def test_html_mode_is_the_page() -> None:
    env = WebShopEnv(observation_mode="html")
    html, info = env.reset(options={"task_id": TASK})
    assert html.startswith("<!DOCTYPE html>") and 'id="search_input"' in html
    assert parse_page(html).text().endswith(" [SEP] Search")
    assert "https://" not in html and "http://" not in html  # nothing from a CDN


def test_invalid_actions_leave_the_page(env: WebShopEnv) -> None:
    start, info = env.reset(options={"task_id": TASK})
    for action in ["click[buy now]", "click[search]", "search[]", "Search[shoes]", "search shoes",
                   "click[]", "click[nope]", "<script>alert(1)</script>"]:  # fmt: skip
        observation, reward, terminated, truncated, after = env.step(action)
        assert observation == start and after["invalid_action"] is True, action
        assert after["state_key"] == info["state_key"] and (reward, terminated) == (0.0, False)
    env.step(f"search[{env.goal['query']}]")
    page, _ = env.observation(), None
    observation, *_, after = env.step("search[shoes]")  # no search box on a results page
    assert observation == page and after["invalid_action"] is True


def test_action_parsing_is_the_originals() -> None:
    assert parse_action("click[Buy Now]") == ("click", "Buy Now")
    assert parse_action("search[a [b] c]") == ("search[a ", "b] c")  # greedy, as the original
    assert parse_action("look") == ("look", None)


def test_expert_wins_and_is_admissible(env: WebShopEnv) -> None:
    scores = []
    for task_id in range(0, 40):
        _, info = env.reset(options={"task_id": task_id})
        for _ in range(15):
            action = env.expert_action()
            assert action in info["admissible_actions"]
            _, reward, terminated, _, info = env.step(action)
            if terminated:
                break
        scores.append(info.get("score", 0.0))
    assert sum(s == 1.0 for s in scores) >= 36 and min(scores) > 0.3


def test_unknown_goal_index_is_one_clear_error(env: WebShopEnv) -> None:
    count = env.num_tasks
    with pytest.raises(
        ValueError, match=rf"task_id: goal index {count} is out of range \[0, {count}\)"
    ):
        env.reset(options={"task_id": count})
    with pytest.raises(ValueError, match="observation_mode='xml' is unknown"):
        WebShopEnv(observation_mode="xml")
    bad = gym.make("turngym/WebShop-v0", data_dir="/no/such/folder")
    with pytest.raises(ValueError, match="WebShop data folder '/no/such/folder' does not exist"):
        bad.reset()


def test_fifteen_steps_by_default() -> None:
    env = gym.make("turngym/WebShop-v0")
    _, info = env.reset(options={"task_id": TASK})
    steps = 0
    truncated = False
    while not truncated:
        *_, terminated, truncated, info = env.step("click[nothing]")
        steps += 1
    assert steps == 15 and not terminated
