"""Math environments with rule-based verifiers: ``Math-v0``, ``MathMultiTurn-v0`` (retries with
feedback) and ``MathTool-v0`` (a sandboxed Python tool). See :mod:`.env` and :mod:`.tool_env`."""
