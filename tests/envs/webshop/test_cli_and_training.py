"""``turngym webshop serve | generate``, ``turngym play turngym/WebShop-v0``, and what training on
WebShop needs: the config's goal ranges, and a tokenizer corpus that covers every page."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import gymnasium as gym
from typer.testing import CliRunner

from turngym.agents.tiny import environment_corpus
from turngym.cli import app
from turngym.config.run import load_config
from turngym.envs.webshop.data import load_products
from turngym.envs.webshop.goals import SPLITS

runner = CliRunner()


def test_generate_writes_the_original_files(tmp_path) -> None:
    result = runner.invoke(app, ["webshop", "generate", str(tmp_path), "--num-products", "120"])
    assert result.exit_code == 0, result.output
    assert len(load_products(tmp_path)) == 120
    result = runner.invoke(app, ["webshop", "generate", str(tmp_path), "--num-products", "5"])
    assert result.exit_code == 2 and "num_products=5 is out of range [100, 100000]" in result.output


def test_serve_rejects_a_bad_data_path(tmp_path) -> None:
    result = runner.invoke(app, ["webshop", "serve", "--data-dir", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_serve_starts_the_site_and_stops_on_ctrl_c() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "turngym.cli", "webshop", "serve", "--port", str(port),
               "--num-products", "100"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/fixed_1") as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "Instruction:" in page
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0 and f"http://127.0.0.1:{port}/" in output


def test_play_in_the_terminal() -> None:
    result = runner.invoke(app, ["play", "turngym/WebShop-v0", "--task-id", "3"],
                           input="1\nclick[buy now]\nquit\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "WebShop [SEP] Instruction: [SEP]" in result.output  # shown as text, not markup
    assert "click[back to search]" in result.output and "search[" in result.output


def test_config_trains_on_train_goals_and_evaluates_on_test_goals() -> None:
    config = load_config("configs/webshop_gigpo.yaml")
    env = gym.make(config.env.id, **config.env.kwargs)
    count = env.unwrapped.num_tasks
    assert (
        config.env.train_tasks.start == SPLITS["train"][0] and config.env.train_tasks.stop == count
    )
    assert (config.env.eval_tasks.start, config.env.eval_tasks.stop) == SPLITS["test"]
    assert config.agent.mode == "choose" and config.algo.advantage == "gigpo"


def test_tokenizer_corpus_covers_every_page() -> None:
    corpus = "\n".join(environment_corpus(["turngym/WebShop-v0"], episodes=30))
    for shown in ("WebShop [SEP] Instruction:", "Total results", "Buy Now", "< Prev",
                  "Thank you for shopping with us!", "search[", "click[features]"):  # fmt: skip
        assert shown in corpus, shown
