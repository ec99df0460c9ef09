"""The ``turngym`` command line (:mod:`turngym.cli.app`): the top layer, above the algorithms.

Environment families add their own sub-commands here (``turngym webshop serve``).
"""

from .app import app

__all__ = ["app"]
