"""Full-text product search: an embedded BM25 index (tantivy) over the original's documents.

Each product is indexed as the original's search document (``search_engine/
convert_product_file_format.py``): title, description, first bullet point and the option text
(``"size: s, m, and color: red, blue"``), joined and lower-cased. A query returns the ASINs of
the top :data:`SEARCH_RETURN_N` (50) products by BM25.

Why tantivy: measured on this machine (bench/README.md), a 100k-product index answers a query in
about 0.55 ms against 8 ms for bm25s, and builds in about the same time (8 s vs 10 s). The
original used Lucene through pyserini (BM25 with k1 = 0.9, b = 0.4, Porter stemming, English
stop words); tantivy's BM25 fixes k1 = 1.2, b = 0.75 and stems with Snowball English, so rankings
are close to, not identical with, the original's. Queries are reduced to their words
(characters other than letters and digits become spaces) before parsing, so no query text is
ever read as query syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import tantivy

SEARCH_RETURN_N = 50
MAX_QUERY_WORDS = 64
_NON_WORD = re.compile(r"[\W_]+")
_OPERATORS = {"and", "or", "not", "to"}


def search_document(product: dict[str, Any]) -> str:
    """The text the original indexes for one product."""
    option_text = ", and ".join(
        f"{name}: {', '.join(values)}" for name, values in product["options"].items()
    )
    bullets = product["BulletPoints"]
    first_bullet = bullets[0] if bullets else ""
    return " ".join([product["Title"], product["Description"], first_bullet, option_text]).lower()


def query_words(query: str) -> list[str]:
    """The words of a query, lower-cased, at most :data:`MAX_QUERY_WORDS`."""
    words = _NON_WORD.sub(" ", query.lower()).split()
    return [w for w in words if w not in _OPERATORS][:MAX_QUERY_WORDS]


class SearchIndex:
    """An in-memory tantivy BM25 index of products, queried by free text."""

    def __init__(self, products: Iterable[dict[str, Any]], threads: int = 1):
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("contents", stored=False, tokenizer_name="en_stem")
        builder.add_integer_field("row", stored=True, indexed=False)
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema)
        self.asins: list[str] = []
        writer = self.index.writer(heap_size=200_000_000, num_threads=threads)
        for product in products:
            writer.add_document(
                tantivy.Document(contents=search_document(product), row=len(self.asins))
            )
            self.asins.append(product["asin"])
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """ASINs of the top ``k`` products for ``query`` (best first; ties by index order)."""
        words = query_words(query)
        if not words:
            return []
        parsed = self.index.parse_query(" ".join(words), ["contents"])
        hits = self.searcher.search(parsed, k).hits
        return [self.asins[self.searcher.doc(address)["row"][0]] for _, address in hits]
