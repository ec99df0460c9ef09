"""Inference backends: one interface (:class:`InferenceBackend`), several engines.

:func:`make_backend` builds them. Importing this package does not import torch: the engines
load when first used.
"""

from .base import Generation, InferenceBackend
from .factory import BACKEND_KINDS, make_backend, policy_backend
from .loading import ModelLoadError, load_policy, load_pretrained

__all__ = [
    "BACKEND_KINDS",
    "Generation",
    "InferenceBackend",
    "ModelLoadError",
    "TransformersBackend",
    "load_policy",
    "load_pretrained",
    "make_backend",
    "policy_backend",
]


def __getattr__(name: str):
    if name == "TransformersBackend":  # torch and transformers, only when asked for
        from .transformers_backend import TransformersBackend

        return TransformersBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
