"""Index health shared by ingest and check: missing chunks, orphans, stored vectors worth keeping."""

from __future__ import annotations

import numpy as np

from newsrag.keyword import KeywordIndex
from newsrag.manifest import Manifest
from newsrag.store import VectorStore

__all__ = ["generation_matches", "good_vectors", "incomplete_articles", "remove_orphans"]


def incomplete_articles(
    manifest: Manifest, *, store: VectorStore | None, keyword: KeywordIndex
) -> list[str]:
    """Manifest articles with a chunk missing from Chroma or from the BM25 documents."""
    expected = [chunk for record in manifest.articles.values() for chunk in record.chunk_ids]
    in_store = store.existing_ids(expected) if store is not None and expected else set()
    in_keyword = keyword.document_ids()
    return sorted(
        article_id
        for article_id, record in manifest.articles.items()
        if any(chunk not in in_store or chunk not in in_keyword for chunk in record.chunk_ids)
    )


def remove_orphans(
    expected: set[str], *, store: VectorStore, keyword: KeywordIndex
) -> tuple[list[str], list[str], bool]:
    """Delete chunks no indexed article owns; rebuild a stale BM25 generation.

    Returns (chunks deleted from Chroma, chunks deleted from BM25, whether BM25 was rebuilt).
    The fast path trusts a matching count: callers make sure every expected chunk is stored.
    """
    store_orphans: list[str] = []
    if store.count() != len(expected):
        store_orphans = sorted(set(store.all_ids()) - expected)
        store.delete_chunks(store_orphans)
    documents = keyword.document_ids()
    keyword_orphans = sorted(documents - expected)
    if keyword_orphans:
        keyword.delete_chunks(keyword_orphans)  # rebuilds the generation
        return store_orphans, keyword_orphans, True
    if generation_matches(keyword, documents):
        return store_orphans, keyword_orphans, False
    keyword.rebuild()
    return store_orphans, keyword_orphans, True


def generation_matches(keyword: KeywordIndex, documents: set[str]) -> bool:
    """True when the built BM25 generation lists exactly these documents."""
    try:
        listed = keyword.generation_ids()
    except Exception:  # unreadable meta.json: a rebuild replaces it
        return False
    if listed is None:
        return not documents and not keyword.root.exists()
    return len(listed) == len(documents) and set(listed) == documents


def good_vectors(store: VectorStore, chunk_ids: list[str], dimension: int | None) -> set[str]:
    """The chunks among chunk_ids whose stored vector is whole: the right size, finite, unit length.

    `check --repair` keeps those instead of deleting them as orphans (an interrupted ingest's
    work): the next ingest reuses them rather than embedding again.
    """
    good: set[str] = set()
    for begin in range(0, len(chunk_ids), store.max_batch):
        result = store.collection.get(
            ids=chunk_ids[begin : begin + store.max_batch], include=["embeddings"]
        )
        embeddings = result["embeddings"] if result["embeddings"] is not None else []
        for chunk_id, vector in zip(result["ids"], embeddings, strict=False):
            values = np.asarray(vector, dtype=np.float64).ravel()
            if dimension is not None and values.size != dimension:
                continue
            if values.size and np.isfinite(values).all() and abs(np.linalg.norm(values) - 1) < 0.01:
                good.add(chunk_id)
    return good
