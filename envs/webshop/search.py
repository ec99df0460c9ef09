"""Full-text product search: an embedded BM25 index (tantivy) over the original's documents.

Each product is indexed as the original's search document (``search_engine/
convert_product_file_format.py``): title, description, first bullet point and the option text
(``"size: s, m, and color: red, blue"``), joined and lower-cased. A query returns the ASINs of
the top :data:`SEARCH_RETURN_N` (50) products by BM25.

The analyzer is Lucene's English one as the original used it through pyserini: words of letters
and digits, lower-cased, Lucene's 33 English stop words removed, stemmed (tantivy's Snowball
English stemmer; Lucene's is Porter). The original's BM25 has k1 = 0.9, b = 0.4; tantivy's fixes
k1 = 1.2, b = 0.75, so rankings are close to, not identical with, the original's. Queries are
reduced to their words (other characters become spaces) before parsing, so no query text is
ever read as query syntax. Why tantivy rather than bm25s: measured in bench/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import tantivy

SEARCH_RETURN_N = 50
MAX_QUERY_WORDS = 64
ANALYZER = "webshop_english"
#: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``
LUCENE_STOP_WORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with"
).split()
_NON_WORD = re.compile(r"[\W_]+")
_SKIPPED = {"or"} | set(LUCENE_STOP_WORDS)  # stop words, and query-syntax words


def search_document(product: dict[str, Any]) -> str:
    """The text the original indexes for one product."""
    option_text = ", and ".join(
        f"{name}: {', '.join(values)}" for name, values in product["options"].items()
    )
    bullets = product["BulletPoints"]
    first_bullet = bullets[0] if bullets else ""
    return " ".join([product["Title"], product["Description"], first_bullet, option_text]).lower()


def query_words(query: str) -> list[str]:
    """The words of a query, lower-cased, stop words dropped, at most :data:`MAX_QUERY_WORDS`."""
    words = _NON_WORD.sub(" ", query.lower()).split()
    return [w for w in words if w not in _SKIPPED][:MAX_QUERY_WORDS]


def english_analyzer() -> tantivy.TextAnalyzer:
    """Words, lower-cased, without Lucene's stop words, stemmed."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.custom_stopword(LUCENE_STOP_WORDS))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class SearchIndex:
    """An in-memory tantivy BM25 index of products, queried by free text."""

    def __init__(self, products: Iterable[dict[str, Any]], threads: int = 1):
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("contents", stored=False, tokenizer_name=ANALYZER)
        builder.add_integer_field("row", stored=True, indexed=False)
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema)
        self.index.register_tokenizer(ANALYZER, english_analyzer())
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
        try:
            parsed = self.index.parse_query(" ".join(words), ["contents"])
        except ValueError:  # nothing left to search once analyzed
            return []
        hits = self.searcher.search(parsed, k).hits
        return [self.asins[self.searcher.doc(address)["row"][0]] for _, address in hits]
