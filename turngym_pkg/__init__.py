"""turngym: a multi-turn RL gym for LLM agents.

The four parts live in top-level folders of the repository and install under this namespace:
``turngym.envs``, ``turngym.agents``, ``turngym.algos`` and ``turngym.rewards``.
"""

__version__ = "0.1.0"
