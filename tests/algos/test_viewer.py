"""The trajectory viewer in a real headless Chromium (Debian's chromium and chromium-driver,
through Selenium): it loads without console errors, filters change the episodes shown, an
episode expands to its turns, and markup in observations is shown as text, never run."""

from __future__ import annotations

import os

import pytest

from turngym.agents.trajectory import Trajectory, Turn, save_trajectories
from turngym.algos.viewer import find_trajectories, render_viewer, write_viewer
from turngym.envs.webshop.browser_env import BROWSER_PATH, CHROMIUM_FLAGS, DRIVER_PATH

HOSTILE = '<script>window.injected = 1</script><img src=x onerror="window.injected=2"></pre>'


def episodes() -> list[Trajectory]:
    made = []
    plan = [("turngym/Household-v0", "pick_and_place_simple", True, None),
            ("turngym/Household-v0", "pick_and_place_simple", False, None),
            ("turngym/Household-v0", "pick_clean", False, None),
            ("turngym/WebShop-v0", "", True, None),
            ("turngym/WebShop-v0", "", False, "worker died")]  # fmt: skip
    for i, (env_id, task_type, won, error) in enumerate(plan):
        t = Trajectory(f"task{i}-sample0", f"task{i}", env_id, i, i, task=f"goal number {i}",
                       task_type=task_type, won=won, error=error,
                       score=1.0 if env_id.endswith("WebShop-v0") and won else None)  # fmt: skip
        t.turns = [
            Turn(f"You are in room {i}. {HOSTILE}" if i == 0 else f"room {i}, turn {j}", [], [],
                 [], f"go to desk {j}", 0.0, valid=j != 1, reward=float(won and j == 2),
                 response_text=f"<think>hmm & so</think><action>go to desk {j}</action>")
            for j in range(3)
        ]  # fmt: skip
        made.append(t)
    return made


def test_the_page_is_self_contained_and_escapes_markup():
    page = render_viewer(episodes(), "title <b>x</b>")
    assert "<title>title &lt;b&gt;x&lt;/b&gt;</title>" in page
    assert HOSTILE not in page and "window.injected" in page  # present, as escaped JSON
    assert page.count("</script>") == 2  # the data block and the page's own script
    assert "http://" not in page and "https://" not in page  # no CDN, nothing fetched


def test_sources_a_viewer_reads(tmp_path):
    save_trajectories(episodes(), tmp_path / "run" / "trajectories" / "iter_00001.parquet")
    found, origin = find_trajectories(tmp_path / "run")
    assert len(found) == 5 and found[0].episode_id == "iter_00001/task0-sample0"
    assert "1 iterations" in origin
    file = save_trajectories(episodes(), tmp_path / "t.jsonl")
    assert len(find_trajectories(file)[0]) == 5
    assert write_viewer(file).name == "viewer.html"


@pytest.mark.skipif(not os.path.exists(DRIVER_PATH), reason=f"no chromedriver at {DRIVER_PATH} "
                    "(make system-deps)")  # fmt: skip
def test_the_viewer_in_headless_chromium(tmp_path):
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    source = save_trajectories(episodes(), tmp_path / "episodes.jsonl")
    page = write_viewer(source, tmp_path / "viewer.html")
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    if os.path.exists(BROWSER_PATH):
        options.binary_location = BROWSER_PATH
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER_PATH), options=options)
    try:
        driver.get(page.as_uri())

        def shown() -> list[str]:
            return [e.get_attribute("data-index") for e in
                    driver.find_elements(By.CSS_SELECTOR, "#episodes .episode")]  # fmt: skip

        assert shown() == ["0", "1", "2", "3", "4"]
        assert driver.find_element(By.ID, "count").text == "showing 5 of 5 episodes (2 won)"
        driver.find_element(By.CSS_SELECTOR, '#filter-outcome [data-outcome="won"]').click()
        assert shown() == ["0", "3"]
        driver.find_element(By.CSS_SELECTOR, '#filter-outcome [data-outcome="error"]').click()
        assert shown() == ["4"]
        driver.find_element(By.CSS_SELECTOR, '#filter-outcome [data-outcome="all"]').click()
        Select(driver.find_element(By.ID, "filter-env")).select_by_value("turngym/Household-v0")
        assert shown() == ["0", "1", "2"]
        Select(driver.find_element(By.ID, "filter-type")).select_by_value("pick_clean")
        assert shown() == ["2"]
        assert driver.find_element(By.ID, "count").text == "showing 1 of 5 episodes (0 won)"
        Select(driver.find_element(By.ID, "filter-type")).select_by_value("")
        # expand episode 0: its turns, the hostile observation as plain text
        first = driver.find_element(By.CSS_SELECTOR, '.episode[data-index="0"]')
        assert not first.find_elements(By.CSS_SELECTOR, ".turn")
        first.find_element(By.CSS_SELECTOR, ".summary").click()
        turns = first.find_elements(By.CSS_SELECTOR, ".turn")
        assert len(turns) == 3
        assert HOSTILE in turns[0].text  # shown as text, not parsed
        assert "<action>go to desk 0</action>" in turns[0].text  # the raw output
        assert "go to desk 1   (invalid)" in turns[1].text
        assert "Won after 3 turns, return 1.000" in first.text
        assert driver.execute_script("return window.injected === undefined")
        driver.set_window_size(1280, 900)
        driver.save_screenshot(str(tmp_path / "viewer.png"))
        assert (tmp_path / "viewer.png").stat().st_size > 10_000
        first.find_element(By.CSS_SELECTOR, ".summary").click()  # collapses again
        assert not first.find_elements(By.CSS_SELECTOR, ".turn")
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
    finally:
        driver.quit()
