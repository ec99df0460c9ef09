"""``python -m turngym.cli``: the same as the ``turngym`` command."""

from .app import app

app()
