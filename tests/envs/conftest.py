"""Fixtures shared by the environment tests."""

import pytest


@pytest.fixture(scope="session")
def engine_ready() -> None:
    """Skip unless the textworld/alfworld engine imports."""
    from turngym.envs.alfworld.textworld_engine import import_textworld

    try:
        import_textworld()
    except ImportError as error:
        pytest.skip(f"textworld/alfworld not installed: {error}")
