"""The chat-completions judge against ``turngym serve``'s server on 127.0.0.1, serving the tiny
model the local judge uses."""

from __future__ import annotations

import pytest
import torch

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.agents.serve import ModelServer
from turngym.rewards import LLMJudge
from turngym.rewards.chat_judge import ChatCompletionsJudge, log_odds_from_top_logprobs


@pytest.fixture(scope="module")
def local_judge(tiny_model_dir) -> LLMJudge:
    return LLMJudge.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def pairs(local_judge):
    backend = local_judge.backend
    agent = Agent(backend, backend.tokenizer, AgentConfig(mode="choose"), seed=1)
    with EnvPool("turngym/Household-v0", num_slots=4) as pool:
        rollouts = run_episodes(agent, pool, group_episodes([5, 6], 2))
    return [(rollouts[0], rollouts[1]), (rollouts[2], rollouts[3])]


@pytest.fixture()
def serve(local_judge):
    servers = []

    def start(**options) -> ModelServer:
        # every token's alternative may be asked for, so the letters' log-odds are exact
        server = ModelServer(local_judge.backend, "tiny", max_top_logprobs=10_000, **options)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def letter_log_odds(judge: LLMJudge, first, second) -> float:
    """log P(A) - log P(B) of the next token after the judge prompt, every token that strips to
    the letter counted ("A", " A", ...), from the model directly."""
    tokenizer = judge.tokenizer
    with torch.no_grad():
        logits = judge.backend.model(torch.tensor([judge.prompt_ids(first, second)])).logits
    logprobs = torch.log_softmax(logits[0, -1], -1)
    spelled = [tokenizer.decode([i]).strip() for i in range(logprobs.numel())]
    a, b = ([i for i, text in enumerate(spelled) if text == x] for x in ("A", "B"))
    return (logprobs[a].logsumexp(0) - logprobs[b].logsumexp(0)).item()


def test_http_judge_with_logprobs_is_the_letters_log_odds(serve, local_judge, pairs) -> None:
    server = serve(api_key="k")  # the server refuses requests without the key: the judge sends it
    remote = ChatCompletionsJudge(server.base_url, "tiny", api_key="k", top_logprobs=1000)
    for (a, b), verdict in zip(pairs, remote.compare(pairs), strict=True):
        expected = (letter_log_odds(local_judge, a, b), letter_log_odds(local_judge, b, a))
        assert verdict.log_odds == pytest.approx(expected, abs=1e-5)
        assert verdict.margin == pytest.approx(0.5 * (expected[0] - expected[1]), abs=1e-5)
    assert sum(server.batcher.batch_sizes) == 4  # two pairs, both orders


def test_http_judge_reads_the_letter_without_logprobs(serve, local_judge, pairs) -> None:
    server = serve()
    remote = ChatCompletionsJudge(  # no alternatives asked: the answer is read from the text
        server.base_url, "tiny", top_logprobs=0, extra_body={"guided_choice": ["A", "B"]}
    )
    for here, there in zip(local_judge.compare(pairs), remote.compare(pairs), strict=True):
        signs = [1.0 if lo > 0 else -1.0 for lo in here.log_odds]  # the letter each order picks
        assert there.log_odds == tuple(signs)
        assert there.margin == 0.5 * (signs[0] - signs[1])
    assert server.batcher.batch_sizes == []  # guided choices are scored, not generated


def test_free_text_without_a_letter_is_no_preference(serve, pairs) -> None:
    server = serve()
    verdicts = ChatCompletionsJudge(server.base_url, "tiny", top_logprobs=0).compare(pairs)
    for verdict in verdicts:  # the untrained model's free text names neither letter
        assert verdict.log_odds == (0.0, 0.0) and verdict.winner is None


def test_top_logprobs_sum_same_letters_and_bound_missing_ones() -> None:
    top = [
        {"token": "A", "logprob": -1.0},
        {"token": " A", "logprob": -2.0},
        {"token": "B", "logprob": -3.0},
        {"token": "x", "logprob": -4.0},
    ]
    log_a = torch.logsumexp(torch.tensor([-1.0, -2.0]), 0).item()
    assert log_odds_from_top_logprobs(top) == pytest.approx(log_a + 3.0)
    assert log_odds_from_top_logprobs(top[:2] + top[3:]) == pytest.approx(log_a + 4.0)
