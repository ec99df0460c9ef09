"""Reward scorers: rule-based verifiers, learned reward models and LLM judges (to come)."""
