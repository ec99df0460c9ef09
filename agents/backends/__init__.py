"""Inference backends: one interface (:class:`InferenceBackend`), several engines."""

from .base import Generation, InferenceBackend
from .factory import BACKEND_KINDS, make_backend
from .loading import ModelLoadError, load_policy, load_pretrained
from .transformers_backend import TransformersBackend

__all__ = [
    "BACKEND_KINDS",
    "Generation",
    "InferenceBackend",
    "ModelLoadError",
    "TransformersBackend",
    "load_policy",
    "load_pretrained",
    "make_backend",
]
