"""Shared fixtures: the tiny offline model, built once per test session."""

from __future__ import annotations

import pytest

from turngym.agents.backends import make_backend
from turngym.agents.tiny import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture()
def backend(tiny_model_dir):
    return make_backend(name_or_path=tiny_model_dir)
