"""Tokenizer, inverted index and query-document text features, all as lazy Polars.

One concept per module:

* :mod:`~gbltr.features.text.tokens`: the one tokenizer of gbltr (:func:`tokenize`);
* :mod:`~gbltr.features.text.index`: per-field inverted index (:func:`build_index`,
  :class:`FieldIndex`) and its numba kernels, collection statistics;
* :mod:`~gbltr.features.text.scoring`: BM25, TF-IDF, Dirichlet and Jelinek-Mercer LM
  (:class:`TextParams`, formulas and sources);
* :mod:`~gbltr.features.text.match`: coverage, bigram and exact-phrase match;
* :mod:`~gbltr.features.text.features`: :func:`text_features`, which joins them per pair.

Everything public is importable from ``gbltr.features.text`` as before the split.
"""

from gbltr.features.text.features import SCORES, TEXT_FIELDS, text_features
from gbltr.features.text.index import FieldIndex, build_index, build_vocabulary, index_tokens, tokenize_fields
from gbltr.features.text.scoring import TextParams
from gbltr.features.text.tokens import TOKEN_PATTERN, token_count, tokenize, tokenize_texts

__all__ = [
    "SCORES", "TEXT_FIELDS", "TOKEN_PATTERN", "FieldIndex", "TextParams", "build_index", "build_vocabulary",
    "index_tokens", "text_features", "token_count", "tokenize", "tokenize_fields", "tokenize_texts",
]
