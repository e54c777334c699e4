"""BM25 matrix built in two streaming passes over the stored documents (the same numbers as bm25s)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# bm25s.BM25()'s defaults (method "lucene"): the index is saved and loaded as a bm25s index.
K1 = 1.5
B = 0.75
EMPTY_DOCUMENT = "\x00"  # a document with no tokens still needs one so row numbers line up


@dataclass
class BM25Matrix:
    """The CSC score matrix (documents x tokens) and the vocabulary, as bm25s stores them."""

    data: np.ndarray  # float32 score of each (document, token) pair, column by column
    indices: np.ndarray  # int32 document row of each score
    indptr: np.ndarray  # int64: column t spans data[indptr[t]:indptr[t + 1]]
    vocabulary: dict[str, int]  # token -> column, in order of first appearance
    documents: int

    def save(self, folder: Path) -> None:
        """Write the matrix as a bm25s index folder (bm25s.BM25.load reads it)."""
        import bm25s

        retriever = bm25s.BM25()
        retriever.scores = {
            "data": self.data,
            "indices": self.indices,
            "indptr": self.indptr,
            "num_docs": self.documents,
        }
        # bm25s.index() adds the empty token after the corpus' own (it scores token-less queries).
        vocabulary = dict(self.vocabulary)
        vocabulary.setdefault("", len(self.vocabulary))
        retriever.vocab_dict = vocabulary
        retriever.nonoccurrence_array = None
        retriever.save(str(folder))


def _words(tokens: str) -> list[str]:
    return tokens.split() or [EMPTY_DOCUMENT]


def build_matrix(read_tokens: Callable[[], Iterable[str]]) -> BM25Matrix | None:
    """BM25 over the documents read_tokens yields (space-joined tokens, in row order); None if none.

    read_tokens is called twice: once to count (vocabulary, document frequencies, lengths), once
    to score each document straight into its place in the CSC arrays. Memory is the finished
    matrix and the vocabulary: bm25s.index() also holds every document's token ids and three
    coordinate arrays and sorts them, several times the matrix. Every number is computed with
    the same float32/float64 steps as bm25s.index((token_ids, vocabulary)), so the saved files
    are the same bytes (tests/test_keyword_build.py).
    """
    vocabulary: dict[str, int] = {}
    frequencies: list[int] = []  # documents holding each token
    lengths: list[int] = []
    for tokens in read_tokens():
        ids = [vocabulary.setdefault(word, len(vocabulary)) for word in _words(tokens)]
        frequencies.extend([0] * (len(vocabulary) - len(frequencies)))
        for token in set(ids):
            frequencies[token] += 1
        lengths.append(len(ids))
    if not lengths:
        return None
    documents = len(lengths)
    average_length = np.array(lengths).mean()
    del lengths
    # Lucene idf, as bm25s computes it: in float64, stored as float32.
    idf = np.array(
        [math.log(1 + (documents - count + 0.5) / (count + 0.5)) for count in frequencies],
        dtype=np.float32,
    )
    indptr = np.zeros(len(frequencies) + 1, dtype=np.int64)
    np.cumsum(np.asarray(frequencies, dtype=np.int64), out=indptr[1:])
    del frequencies
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    cursor = indptr[:-1].copy()  # next free slot of each column
    row = 0
    for row, tokens in enumerate(read_tokens()):
        # Counter keeps first-appearance order, as bm25s's own per-document count does.
        words = _words(tokens)
        counts = Counter(vocabulary[word] for word in words)
        columns = np.array(list(counts.keys()), dtype=np.int32)
        term_frequency = np.array(list(counts.values()), dtype=np.float32)
        length = len(words)
        saturation = term_frequency / (
            K1 * ((1 - B) + B * length / average_length) + term_frequency
        )
        slots = cursor[columns]
        data[slots] = idf[columns] * saturation
        indices[slots] = row
        cursor[columns] += 1
    if row + 1 != documents or not np.array_equal(cursor, indptr[1:]):
        raise RuntimeError("the keyword documents changed while the BM25 matrix was built")
    return BM25Matrix(data, indices, indptr, vocabulary, documents)
