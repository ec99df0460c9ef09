"""The leaf layer: what environments, agents, scorers and trainers all use, importing nothing of
turngym. Rule-based text verifiers that environments call inside their workers live here, and
the OpenAI-compatible chat client that judges and LLM user simulators share
(:class:`~turngym.common.chat_client.ChatClient`)."""
