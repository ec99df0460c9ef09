"""``turngym/WebShop-Browser-v0`` in a real headless Chromium: the same observations, rewards
and info as the text env for the same goals and actions, every step; a clean stop, also after
an error. Needs Debian's chromium and chromium-driver (``make system-deps``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from turngym.envs.webshop import browser_env
from turngym.envs.webshop.app import ShopServer
from turngym.envs.webshop.browser_env import DRIVER_PATH, WebShopBrowserEnv
from turngym.envs.webshop.pages import parse_page
from turngym.envs.webshop.shop import Shop
from turngym.envs.webshop.text_env import WebShopEnv

pytestmark = pytest.mark.skipif(
    not os.path.exists(DRIVER_PATH), reason=f"no chromedriver at {DRIVER_PATH} (make system-deps)"
)


@pytest.fixture(scope="module")
def envs():
    browser, text = WebShopBrowserEnv(), WebShopEnv()
    yield browser, text
    browser.close()
    assert browser_env._servers == {}  # the site stopped with the last browser env


def play_both(browser, text, task_id: int, seed: int, steps: int = 12) -> int:
    """Play the same actions in both (the expert's, mixed with seeded random admissible and
    invalid ones) and compare every step; returns the steps played."""
    rng = np.random.default_rng(seed)
    first, second = (
        browser.reset(options={"task_id": task_id}),
        text.reset(options={"task_id": task_id}),
    )
    assert first == second
    info = first[1]
    for step in range(steps):
        draw = rng.random()
        if draw < 0.55:
            action = text.expert_action()
        elif draw < 0.9:
            action = str(rng.choice(info["admissible_actions"]))
        else:
            action = str(rng.choice(["click[nope]", "search[x]", "oops"]))
        a, b = browser.step(action), text.step(action)
        where = (task_id, step, action, browser.url, text.url)
        assert a[0] == b[0], where
        assert a[1:4] == b[1:4] and a[4] == b[4], where
        info = a[4]
        if a[2]:
            return step + 1
    return steps


def test_same_steps_as_the_text_env(envs) -> None:
    browser, text = envs
    played = [play_both(browser, text, task_id, seed) for seed, task_id in enumerate((0, 5, 11))]
    assert sum(played) >= 12
    for mode in ("text_rich", "html"):
        browser.observation_mode = text.observation_mode = mode
        try:
            if mode == "text_rich":
                play_both(browser, text, 21, seed=7)
            else:  # the browser's serialization of the page: the same page text
                page, _ = browser.reset(options={"task_id": 21})
                assert (
                    parse_page(page).text()
                    == parse_page(text.reset(options={"task_id": 21})[0]).text()
                )
        finally:
            browser.observation_mode = text.observation_mode = "text"


def test_a_given_url_and_a_clean_stop_after_an_error(catalogue) -> None:
    with ShopServer(Shop(catalogue)) as server:
        env = WebShopBrowserEnv(url=server.url)
        observation, info = env.reset(options={"task_id": 2})
        assert info["task"] in observation
        env.step(info["admissible_actions"][0])
        driver = env.driver
        driver.get("about:blank")  # the page vanishes under the env ...
        with pytest.raises(RuntimeError, match="the page changed under the environment"):
            env.step("click[next >]")  # ... so acting in it fails
        env.close()
        assert driver.service.process.poll() is not None  # the browser is gone
        assert env._state == {"driver": None, "server_key": None, "profile": None}
        observation, info = WebShopEnv().reset(options={"task_id": 2})  # the site still serves
        env.close()  # twice is fine


def test_a_missing_driver_frees_the_site() -> None:
    env = WebShopBrowserEnv(driver_path="/no/chromedriver", seed=1)  # a site of its own
    with pytest.raises(FileNotFoundError, match="apt-get install chromium chromium-driver"):
        env.reset(options={"task_id": 0})
    assert not any(key[0][2] == 1 for key in browser_env._servers)
