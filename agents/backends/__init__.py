"""Inference backends: one interface (:class:`InferenceBackend`), several engines."""

from .base import Generation, InferenceBackend
from .transformers_backend import TransformersBackend

__all__ = ["Generation", "InferenceBackend", "TransformersBackend"]
