"""WebShop (Yao et al., 2022): a web shop site, a text environment and a browser environment.

- :mod:`.data`, :mod:`.synthetic`, :mod:`.goals`: the original's data files, a seeded
  synthetic catalogue in their schema, and goals built the original's way.
- :mod:`.reward`: the original ``get_reward``.
- :mod:`.search`: BM25 over the original's search documents.
- :mod:`.shop`: pages, routes and sessions, shared by the site (:mod:`.app`) and the text env.
- :mod:`.text_env` (``turngym/WebShop-v0``), :mod:`.browser_env` (``turngym/WebShop-Browser-v0``).
"""
