"""Shared WebShop fixtures: the 1,000-product synthetic catalogue (cached per process)."""

from __future__ import annotations

import pytest

from turngym.envs.webshop.shop import Shop, load_catalogue


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue(None, 1000, 0)


@pytest.fixture
def shop(catalogue):
    return Shop(catalogue)
