"""``turngym/MathTool-v0``: a math question the agent may work on with a Python tool.

A reply holding ``<python>...</python>`` (and no final answer) is a tool call: the code runs in
a fresh sandboxed process (:class:`~turngym.envs.math.sandbox.PythonSandbox`: CPU-time, memory
and file-size limits, no network, no subprocesses, no files outside its temporary folder) and
its output, truncated, is the next observation. Calls are independent: nothing carries over
from one call to the next (print what you need). A reply with a final answer (``<answer>``,
``\\boxed{}``, ``####``) ends the episode and is verified as in ``Math-v0``; a final answer wins
over code in the same reply. After ``max_tool_calls`` calls the tool refuses and asks for the
answer. Whatever the code does, the environment answers with a message and the next call
starts clean.
"""

from __future__ import annotations

import re
from typing import Any

from turngym.common.math import extract_answer

from .env import INSTRUCTION, MathEnv
from .sandbox import PythonSandbox, SandboxLimits

_PYTHON = re.compile(r"<python>(.*?)</python>", re.DOTALL | re.IGNORECASE)
TOOL_INSTRUCTION = (
    "You may run Python by writing <python>code</python>; you will see what it prints. "
    + INSTRUCTION
)
TOOL_TEMPLATE = "<python>...</python>"


class MathToolEnv(MathEnv):
    """Math with a sandboxed Python tool (see the module docstring).

    Args:
        max_tool_calls: tool calls allowed per episode.
        cpu_seconds, wall_seconds, memory_mb, max_output_chars: each call's limits.
        (the rest as :class:`~turngym.envs.math.env.MathEnv`)
    """

    def __init__(
        self,
        max_tool_calls: int = 4,
        cpu_seconds: int = 5,
        wall_seconds: float = 10.0,
        memory_mb: int = 1024,
        max_output_chars: int = 1000,
        instruction: str = TOOL_INSTRUCTION,
        **kwargs: Any,
    ):
        if max_tool_calls < 0:
            raise ValueError(f"max_tool_calls must be >= 0, got {max_tool_calls}")
        super().__init__(instruction=instruction, **kwargs)
        self.max_tool_calls = max_tool_calls
        self.limits = SandboxLimits(cpu_seconds=cpu_seconds, wall_seconds=wall_seconds,
                                    memory_bytes=memory_mb << 20,
                                    max_output_chars=max_output_chars)  # fmt: skip
        self._sandbox: PythonSandbox | None = None  # made on first use, in the worker
        self.tool_calls = 0

    @property
    def sandbox(self) -> PythonSandbox:
        if self._sandbox is None:
            self._sandbox = PythonSandbox(self.limits)
        return self._sandbox

    def _start(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.tool_calls = 0
        return super()._start(task_id)

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        answer = extract_answer(action, self.answer_formats)
        blocks = _PYTHON.findall(action)
        if self.done or answer.answer is not None or "several answers" in answer.reason:
            return super()._act(action)
        if not blocks:
            observation, info = self._invalid_answer()
            return observation, 0.0, False, info
        self.tool_calls += 1
        if self.tool_calls > self.max_tool_calls:
            observation = (
                f"The tool budget ({self.max_tool_calls} calls) is spent. "
                "Give your final answer inside <answer>...</answer>."
            )
            return observation, 0.0, False, {"tool_ok": False, **self.state_info()}
        result = self.sandbox.run("\n".join(blocks))
        info = {"tool_ok": result.ok, "tool_status": result.reason, **self.state_info()}
        return f"Output:\n{result.output}", 0.0, False, info

    def state_info(self) -> dict[str, Any]:
        info = super().state_info()
        if info:
            info["admissible_actions"] = [TOOL_TEMPLATE, info["admissible_actions"][0]]
            info["state_key"] += f"|tool_calls={self.tool_calls}"
            info["tool_calls"] = self.tool_calls
        return info

    def corpus_texts(self) -> list[str]:
        return [*super().corpus_texts(), TOOL_TEMPLATE, "Output:\n"]
