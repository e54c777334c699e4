"""The BM25 generation built row by row from token ids scores exactly as bm25s on token lists."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import numpy as np

from newsrag.keyword import KeywordDocument, KeywordIndex


def test_rebuild_from_token_ids_matches_bm25s_on_token_lists(tmp_path: Path) -> None:
    rng = random.Random(7)
    words = [f"w{n}" for n in range(60)]
    documents = [
        KeywordDocument(
            f"c{n:03d}",
            f"a{n // 3}",
            20220101 + n,
            "wire",
            rng.choices(words, k=rng.randint(0, 40)),
        )
        for n in range(50)
    ]
    index = KeywordIndex(tmp_path, load=False)
    index.update(remove_articles=[], add=documents)
    loaded = KeywordIndex(tmp_path)
    reference = bm25s.BM25()
    ordered = sorted(documents, key=lambda document: document.chunk_id)
    reference.index([document.tokens or ["\x00"] for document in ordered], show_progress=False)
    assert loaded.generation_ids() == [document.chunk_id for document in ordered]
    for query in (["w1"], ["w2", "w3", "w3"], words[:10]):
        mine = np.asarray(loaded._bm25.get_scores(query))
        theirs = np.asarray(reference.get_scores(query))
        assert np.allclose(mine, theirs) and mine.any()
