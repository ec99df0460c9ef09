"""``turngym serve``'s OpenAI-compatible server on 127.0.0.1, driven by the real ``openai`` client
(and by raw HTTP where a client cannot send the broken request), serving the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import torch

from turngym.agents.backends import make_backend
from turngym.agents.serve import ModelServer

MESSAGES = [{"role": "user", "content": "go to the desk and take the mug"}]


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with ModelServer.from_checkpoint(tiny_model_dir, model_name="tiny", batch_wait_s=0.02) as s:
        yield s


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=60)


def prompt_ids(server: ModelServer, messages: list[dict]) -> list[int]:
    text = server.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    return server.tokenizer.encode(text, add_special_tokens=False)


def test_models_lists_the_served_model(client, server) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == ["tiny"]
    assert client.models.retrieve("tiny").id == "tiny"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("other")


def test_greedy_chat_is_the_models_argmax_with_its_logprobs(client, server) -> None:
    reply = client.chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=6, temperature=0, logprobs=True, top_logprobs=5
    )
    choice = reply.choices[0]
    ids = prompt_ids(server, MESSAGES)
    model = server.backend.model
    expected_tokens = []
    with torch.no_grad():  # greedy decoding by hand, one token at a time
        for entry in choice.logprobs.content:
            logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1], -1)
            token = int(logprobs.argmax())
            assert entry.logprob == pytest.approx(logprobs[token].item(), abs=1e-4)
            top = logprobs.topk(5)
            assert [t.logprob for t in entry.top_logprobs] == pytest.approx(
                top.values.tolist(), abs=1e-4
            )
            assert entry.top_logprobs[0].token == entry.token
            expected_tokens.append(token)
            ids = ids + [token]
    assert choice.message.content == server.tokenizer.decode(expected_tokens)
    assert choice.finish_reason == "length" and len(choice.logprobs.content) == 6
    assert reply.usage.prompt_tokens == len(prompt_ids(server, MESSAGES))
    assert reply.usage.completion_tokens == 6


def test_completions_with_logprobs_n_and_token_prompts(client, server) -> None:
    reply = client.completions.create(
        model="tiny", prompt=["go to desk 1", "take mug"], max_tokens=3, temperature=0, logprobs=2,
        n=2,
    )  # fmt: skip
    assert len(reply.choices) == 4 and [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert reply.choices[0].text == reply.choices[1].text  # greedy: n copies agree
    logprobs = reply.choices[0].logprobs
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == 3
    assert all(len(alts) == 2 for alts in logprobs.top_logprobs)
    assert "".join(logprobs.tokens) == reply.choices[0].text
    ids = server.tokenizer.encode("go to desk 1", add_special_tokens=False)
    by_ids = client.completions.create(model="tiny", prompt=ids, max_tokens=3, temperature=0)
    assert by_ids.choices[0].text == reply.choices[0].text
    echoed = client.completions.create(
        model="tiny", prompt="take mug", max_tokens=3, temperature=0, echo=True
    )
    assert echoed.choices[0].text == "take mug" + reply.choices[2].text


def test_streaming_clients_get_the_same_answer_as_events(client) -> None:
    plain = client.chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=5, temperature=0, n=2
    )
    stream = client.chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=5, temperature=0, n=2, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    texts, finished, usage = {0: "", 1: ""}, {}, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished[choice.index] = choice.finish_reason
    assert texts == {c.index: c.message.content for c in plain.choices}
    assert finished == {0: "length", 1: "length"} and usage.completion_tokens == 10
    pieces = client.completions.create(
        model="tiny", prompt="go to", max_tokens=4, temperature=0, stream=True
    )
    whole = client.completions.create(model="tiny", prompt="go to", max_tokens=4, temperature=0)
    assert "".join(chunk.choices[0].text for chunk in pieces) == whole.choices[0].text


def test_stop_strings_cut_the_text(client) -> None:
    full = client.completions.create(model="tiny", prompt="go to", max_tokens=12, temperature=0)
    text = full.choices[0].text
    stop = text[3:5]
    assert stop and stop not in text[:3]
    cut = client.completions.create(
        model="tiny", prompt="go to", max_tokens=12, temperature=0, stop=[stop]
    )
    assert cut.choices[0].text == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_sampling_draws_from_the_model(client) -> None:
    replies = client.chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=8, temperature=1.0, n=4, logprobs=True
    )
    texts = {c.message.content for c in replies.choices}
    assert len(texts) > 1  # four samples from a near-uniform model differ
    for choice in replies.choices:
        assert all(e.logprob <= 0 for e in choice.logprobs.content)


def test_bad_requests_get_the_openai_error_and_a_4xx(client, server) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=10**9)
    assert caught.value.body["param"] == "max_tokens"
    assert caught.value.body["code"] == "context_length_exceeded"
    long_prompt = "desk " * 3000  # beyond the 2,048 positions on its own
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.completions.create(model="tiny", prompt=long_prompt, max_tokens=1)
    for bad in (
        {"temperature": 7},
        {"top_logprobs": 3},  # without logprobs
        {"logprobs": True, "top_logprobs": 21},
        {"n": 0},
        {"max_tokens": 0},
        {"stream_options": "usage"},
        {"messages": []},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            kwargs = {"model": "tiny", "messages": MESSAGES, "max_tokens": 2, **bad}
            client.chat.completions.create(**kwargs)
        assert caught.value.status_code == 400 and caught.value.body["message"], bad
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny", prompt=[10**7], max_tokens=2)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny", prompt="", max_tokens=2)


def raw_post(url: str, data: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_malformed_bodies_and_routes_get_json_errors(server, client) -> None:
    url = server.base_url + "/chat/completions"
    for data in (b"{not json", b"\xff\xfe", b"[1, 2]", b"null", b'{"model": "tiny"}', b""):
        status, body = raw_post(url, data)
        assert status == 400 and body["error"]["type"] == "invalid_request_error", data
    status, body = raw_post(url, b'{"model": "tiny", "messages": "' + b"x" * 9_000_000 + b'"}')
    assert status == 413 and "error" in body
    status, body = raw_post(server.base_url + "/nowhere", b"{}")
    assert status == 404 and "error" in body
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server.base_url + "/chat/completions", timeout=60)  # a GET
    assert caught.value.code == 405 and "error" in json.loads(caught.value.read())
    # the server is still serving
    reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=2)
    assert reply.choices[0].message.content is not None


def test_concurrent_clients_are_batched_and_get_their_own_answers(client, server) -> None:
    alone = client.chat.completions.create(
        model="tiny", messages=MESSAGES, max_tokens=5, temperature=0, logprobs=True
    )
    before = len(server.batcher.batch_sizes)

    def ask(k: int):
        budget = 3 + k % 3  # different budgets in one batch: each is cut to its own
        return client.chat.completions.create(
            model="tiny", messages=MESSAGES, max_tokens=budget, temperature=0, logprobs=True
        )

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(ask, range(16)))
    assert max(server.batcher.batch_sizes[before:]) > 1  # some requests shared a forward pass
    reference = [e.logprob for e in alone.choices[0].logprobs.content]
    tokens = [e.token for e in alone.choices[0].logprobs.content]
    for k, reply in enumerate(replies):
        budget = 3 + k % 3
        content = reply.choices[0].logprobs.content
        assert [e.token for e in content] == tokens[:budget]
        assert [e.logprob for e in content] == pytest.approx(reference[:budget], abs=1e-4)
        assert reply.usage.completion_tokens == budget


def test_api_key_is_required_when_set(tiny_model_dir) -> None:
    backend = make_backend(name_or_path=tiny_model_dir)
    with ModelServer(backend, "tiny", api_key="secret") as server:
        wrong = openai.OpenAI(base_url=server.base_url, api_key="guess", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        right = openai.OpenAI(base_url=server.base_url, api_key="secret", max_retries=0)
        assert right.models.list().data[0].id == "tiny"


def test_cli_serves_a_checkpoint(tiny_model_dir) -> None:
    command = [sys.executable, "-m", "turngym.cli", "serve", str(tiny_model_dir), "--port", "0",
               "--served-model-name", "tiny-cli"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert "serving 'tiny-cli' at http://127.0.0.1:" in line, process.stderr.read()
        base_url = line.split(" at ")[1].split()[0]
        client = openai.OpenAI(base_url=base_url, api_key="none", max_retries=0)
        reply = client.chat.completions.create(model="tiny-cli", messages=MESSAGES, max_tokens=3)
        assert reply.model == "tiny-cli" and reply.usage.completion_tokens == 3
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_cli_refuses_a_missing_checkpoint(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "turngym.cli", "serve", str(tmp_path / "none"), "--port", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "no such folder" in result.stderr


def test_a_backend_error_fails_the_request_not_the_server(tiny_model_dir) -> None:
    backend = make_backend(name_or_path=tiny_model_dir)
    failing = threading.Event()
    generate = backend.generate

    def sometimes_failing(*args, **kwargs):
        if failing.is_set():
            raise RuntimeError("out of memory")
        return generate(*args, **kwargs)

    backend.generate = sometimes_failing
    with ModelServer(backend, "tiny") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        failing.set()
        with pytest.raises(openai.InternalServerError, match="out of memory"):
            client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=2)
        failing.clear()
        reply = client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=2)
        assert reply.usage.completion_tokens == 2


def test_echo_scores_the_prompt_as_the_model_does(client, server) -> None:
    """``echo`` with ``logprobs`` and ``max_tokens=0`` (how evaluation harnesses ask for a
    continuation's log-likelihood): each prompt token's log p(x_t | x_<t) and alternatives."""
    text = "take the mug from the desk"
    ids = server.tokenizer.encode(text, add_special_tokens=False)
    reply = client.completions.create(
        model="tiny", prompt=text, max_tokens=0, echo=True, logprobs=3
    )
    choice = reply.choices[0]
    assert choice.text == text and reply.usage.completion_tokens == 0
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == text and logprobs.token_logprobs[0] is None
    with torch.no_grad():
        expected = torch.log_softmax(server.backend.model(torch.tensor([ids])).logits[0], -1)
    for t in range(1, len(ids)):
        assert logprobs.token_logprobs[t] == pytest.approx(expected[t - 1, ids[t]].item(), abs=1e-4)
        assert max(logprobs.top_logprobs[t].values()) == pytest.approx(
            expected[t - 1].max().item(), abs=1e-4
        )
    both = client.completions.create(
        model="tiny", prompt=text, max_tokens=2, echo=True, logprobs=1, temperature=0
    )
    assert len(both.choices[0].logprobs.tokens) == len(ids) + 2
    assert both.choices[0].logprobs.token_logprobs[1 : len(ids)] == pytest.approx(
        logprobs.token_logprobs[1:], abs=1e-4
    )
    with pytest.raises(openai.BadRequestError, match="needs echo"):
        client.completions.create(model="tiny", prompt=text, max_tokens=0)
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.completions.create(model="tiny", prompt="desk " * 3000, max_tokens=0, echo=True)
