"""Dialogue environments: the agent talks with a simulated user (rule-based by default, or a
language model through an OpenAI-compatible endpoint or any chat function)."""
