"""Run configurations: YAML validated into typed models before any work, without torch.

:mod:`turngym.config.run` holds the run configs (:class:`RunConfig` for ``turngym train``,
:class:`PreferenceRunConfig` for ``turngym preference``) and :func:`load_config`;
:mod:`turngym.config.algorithms` the options of every registered algorithm.
"""

from .run import ConfigError, PreferenceRunConfig, RunConfig, load_config

__all__ = ["ConfigError", "PreferenceRunConfig", "RunConfig", "load_config"]
