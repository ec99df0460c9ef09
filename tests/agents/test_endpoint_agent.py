"""The endpoint agent against ``turngym serve``'s server on 127.0.0.1 (the real ``openai``
client): same prompts as the in-process agent, the server's greedy text, clear errors."""

from __future__ import annotations

import pytest

from turngym.agents.agent import Agent, AgentConfig, AgentInput
from turngym.agents.backends import make_backend
from turngym.agents.endpoint_agent import EndpointAgent
from turngym.agents.serve import ModelServer
from turngym.common.chat_client import ChatClient

STEPS = [
    AgentInput("put a mug on the desk", "You are in a room. You see a desk 1 and a shelf 1.",
               ["go to desk 1", "go to shelf 1"]),
    AgentInput("put a pen in the drawer", "You arrive at drawer 1. It is closed.",
               ["open drawer 1", "go to desk 1"], past=[("You are in a room.", "go to drawer 1")]),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with ModelServer.from_checkpoint(tiny_model_dir, model_name="tiny", batch_wait_s=0.02) as s:
        yield s


def test_greedy_replies_are_the_in_process_agents(server, tiny_model_dir):
    config = AgentConfig(mode="generate", temperature=0.0, max_new_tokens=12)
    remote = EndpointAgent(ChatClient(server.base_url, "tiny"), config, seed=3)
    backend = make_backend(name_or_path=tiny_model_dir)
    local = Agent(backend, backend.tokenizer, config)
    got, expected = remote.act(STEPS), local.act(STEPS)
    assert [d.response_text for d in got] == [d.response_text for d in expected]
    assert [d.action for d in got] == [d.action for d in expected]
    assert all(d.prompt_ids == [] and d.response_logprobs == [] for d in got)  # text only


def test_choose_mode_is_refused():
    with pytest.raises(ValueError, match="acts in generate mode"):
        EndpointAgent(ChatClient("http://127.0.0.1:9/v1", "m"), AgentConfig(mode="choose"))


def test_a_server_that_stops_or_refuses_gives_one_clear_error(tiny_model_dir):
    config = AgentConfig(mode="generate", max_new_tokens=4)
    with ModelServer.from_checkpoint(tiny_model_dir, model_name="tiny") as server:
        url = server.base_url
        wrong_model = EndpointAgent(ChatClient(url, "other", max_retries=0), config)
        with pytest.raises(ValueError, match=r"refused a request with 404"):
            wrong_model.act(STEPS[:1])
        agent = EndpointAgent(ChatClient(url, "tiny", max_retries=0), config)
        assert len(agent.act(STEPS)) == 2
    with pytest.raises(ConnectionError, match=r"stopped answering"):
        agent.act(STEPS[:1])
