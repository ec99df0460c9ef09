"""Inference backends: one interface (:class:`InferenceBackend`), several engines."""

from .base import Generation, InferenceBackend
from .loading import ModelLoadError, load_pretrained
from .transformers_backend import TransformersBackend

__all__ = [
    "Generation",
    "InferenceBackend",
    "ModelLoadError",
    "TransformersBackend",
    "load_pretrained",
]
