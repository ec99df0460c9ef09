"""The chat-completions judge against a real local HTTP server that serves the tiny model."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from turngym.agents.agent import Agent, AgentConfig
from turngym.agents.env_pool import EnvPool
from turngym.agents.rollout import group_episodes, run_episodes
from turngym.rewards import LLMJudge
from turngym.rewards.chat_judge import ChatCompletionsJudge, log_odds_from_top_logprobs


class TinyChatServer(ThreadingHTTPServer):
    """A minimal OpenAI-compatible ``/v1/chat/completions``: greedy decoding with the tiny model,
    ``logprobs``/``top_logprobs`` of each generated token, and vLLM's ``guided_choice``."""

    daemon_threads = True

    def __init__(self, model, tokenizer, with_logprobs: bool = True):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model, self.tokenizer, self.with_logprobs = model, tokenizer, with_logprobs
        self.lock = threading.Lock()
        self.requests: list[dict] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def complete(self, body: dict) -> dict:
        text = self.tokenizer.apply_chat_template(
            body["messages"], add_generation_prompt=True, tokenize=False
        )
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        with self.lock, torch.no_grad():
            if "guided_choice" in body:  # the choice with the highest log-probability
                choices = body["guided_choice"]
                scores = [self._sequence_logprob(ids, choice) for choice in choices]
                return self._response(choices[scores.index(max(scores))], None)
            tokens, entries = [], []
            for _ in range(body.get("max_tokens", 16)):
                logprobs = torch.log_softmax(self.model(torch.tensor([ids])).logits[0, -1], -1)
                token = int(logprobs.argmax())
                k = min(int(body.get("top_logprobs", 0)), logprobs.numel())
                values, indices = logprobs.topk(k)
                entries.append(
                    {
                        "token": self.tokenizer.decode([token]),
                        "logprob": logprobs[token].item(),
                        "top_logprobs": [
                            {"token": self.tokenizer.decode([int(i)]), "logprob": v.item()}
                            for v, i in zip(values, indices, strict=True)
                        ],
                    }
                )
                tokens.append(token)
                ids = ids + [token]
            logprobs_field = {"content": entries} if body.get("logprobs") else None
            return self._response(self.tokenizer.decode(tokens), logprobs_field)

    def _sequence_logprob(self, ids: list[int], text: str) -> float:
        answer = self.tokenizer.encode(text, add_special_tokens=False)
        logits = self.model(torch.tensor([ids + answer])).logits[0, len(ids) - 1 : -1]
        return torch.log_softmax(logits, -1).gather(1, torch.tensor(answer)[:, None]).sum().item()

    def _response(self, content: str, logprobs: dict | None) -> dict:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "length",
            "logprobs": logprobs if self.with_logprobs else None,
        }
        return {"id": "tiny", "object": "chat.completion", "model": "tiny", "choices": [choice]}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"auth": self.headers.get("Authorization"), **body})
        payload = json.dumps(self.server.complete(body)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


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

    def start(with_logprobs: bool = True) -> TinyChatServer:
        server = TinyChatServer(local_judge.backend.model, local_judge.tokenizer, with_logprobs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


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
    server = serve()
    remote = ChatCompletionsJudge(server.base_url, "tiny", api_key="k", top_logprobs=1000)
    for (a, b), verdict in zip(pairs, remote.compare(pairs), strict=True):
        expected = (letter_log_odds(local_judge, a, b), letter_log_odds(local_judge, b, a))
        assert verdict.log_odds == pytest.approx(expected, abs=1e-5)
        assert verdict.margin == pytest.approx(0.5 * (expected[0] - expected[1]), abs=1e-5)
    assert len(server.requests) == 4  # two pairs, both orders
    assert all(r["auth"] == "Bearer k" and r["logprobs"] is True for r in server.requests)


def test_http_judge_reads_the_letter_without_logprobs(serve, local_judge, pairs) -> None:
    server = serve(with_logprobs=False)
    remote = ChatCompletionsJudge(server.base_url, "tiny", extra_body={"guided_choice": ["A", "B"]})
    for here, there in zip(local_judge.compare(pairs), remote.compare(pairs), strict=True):
        signs = [1.0 if lo > 0 else -1.0 for lo in here.log_odds]  # the letter each order picks
        assert there.log_odds == tuple(signs)
        assert there.margin == 0.5 * (signs[0] - signs[1])
    assert all(r["guided_choice"] == ["A", "B"] for r in server.requests)


def test_free_text_without_a_letter_is_no_preference(serve, pairs) -> None:
    server = serve(with_logprobs=False)
    verdicts = ChatCompletionsJudge(server.base_url, "tiny").compare(pairs)
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
