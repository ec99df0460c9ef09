"""``turngym serve``: an OpenAI-compatible HTTP server for a local checkpoint
(:class:`ModelServer`), with a batching queue in front of the transformers backend."""

from .batching import BatchingGenerator, GenerationJob
from .protocol import ApiError
from .server import ModelServer

__all__ = ["ApiError", "BatchingGenerator", "GenerationJob", "ModelServer"]
