"""The streamed BM25 build writes the very index bm25s.index() writes, and ranks the same."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

import bm25s
import numpy as np
import pytest

from newsrag.keyword import KeywordDocument, KeywordIndex
from newsrag.keyword_build import build_matrix

BM25_FILES = (
    "data.csc.index.npy",
    "indices.csc.index.npy",
    "indptr.csc.index.npy",
    "vocab.index.json",
    "params.index.json",
)


def _documents(seed: int, count: int) -> list[KeywordDocument]:
    """Zipf-like token lists of varied length, some empty, some with repeated tokens."""
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(300)]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    return [
        KeywordDocument(
            f"c{rng.randrange(10**9):09d}",
            f"a{n // 4}",
            20220101 + n % 300,
            rng.choice(["wire", "daily"]),
            rng.choices(words, weights=weights, k=rng.choice([0, 1, 5, 40, 200])),
        )
        for n in range(count)
    ]


def _direct_bm25s(documents: list[KeywordDocument], folder: Path) -> None:
    """What rebuild did before: every document's token ids at once, into bm25s.index()."""
    vocabulary: dict[str, int] = {}
    ids: list[array[int]] = []
    for document in sorted(documents, key=lambda item: item.chunk_id):
        words = document.tokens or ["\x00"]
        ids.append(array("i", [vocabulary.setdefault(word, len(vocabulary)) for word in words]))
    retriever = bm25s.BM25()
    retriever.index((ids, vocabulary), show_progress=False)
    retriever.save(str(folder))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streamed_build_writes_the_same_bytes_as_bm25s(tmp_path: Path, seed: int) -> None:
    documents = _documents(seed, 400)
    index = KeywordIndex(tmp_path / "mine", load=False)
    index.update(remove_articles=[], add=documents)
    generation = (index.root / "current").read_text(encoding="utf-8")
    _direct_bm25s(documents, tmp_path / "theirs")
    for name in BM25_FILES:
        mine = (index.root / generation / "bm25" / name).read_bytes()
        theirs = (tmp_path / "theirs" / name).read_bytes()
        assert mine == theirs, name


def test_streamed_build_ranks_as_bm25s(tmp_path: Path) -> None:
    documents = _documents(4, 300)
    index = KeywordIndex(tmp_path / "mine", load=False)
    index.update(remove_articles=[], add=documents)
    loaded = KeywordIndex(tmp_path / "mine")
    ordered = sorted(documents, key=lambda item: item.chunk_id)
    reference = bm25s.BM25()
    reference.index([document.tokens or ["\x00"] for document in ordered], show_progress=False)
    for query in (["w0"], ["w3", "w7", "w7"], ["w250", "w1"], [f"w{n}" for n in range(0, 300, 9)]):
        theirs = np.asarray(reference.get_scores(query), dtype=np.float32)
        assert np.array_equal(np.asarray(loaded._bm25.get_scores(query)), theirs)
        expected = sorted(
            (-float(theirs[row]), ordered[row].chunk_id) for row in np.flatnonzero(theirs > 0)
        )
        # Every document with a positive score, so ties cannot change which ones come back.
        found = loaded.search_weighted([(token, 1.0) for token in query], limit=len(ordered))
        assert [score for score, _ in expected] == [-score for _, score in found]
        assert expected == sorted((-score, chunk) for chunk, score in found)


def test_build_of_nothing_is_none_and_of_empty_documents_is_one_token() -> None:
    assert build_matrix(lambda: iter(())) is None
    matrix = build_matrix(lambda: iter(["", "", "a b a"]))
    assert matrix is not None
    assert matrix.vocabulary == {"\x00": 0, "a": 1, "b": 2}
    assert matrix.indptr.tolist() == [0, 2, 3, 4]
    assert matrix.indices.tolist() == [0, 1, 2, 2]
    assert matrix.documents == 3
