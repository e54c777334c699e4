"""The index folder's one owner: its layout, wipe, manifest stamp and the health helpers ingest and check share.

Layout of `index/` (docs/architecture.md "Identity and storage"):

- `chroma/`: the vector store (store.py), unless a Chroma server holds the vectors;
- `keyword/`: BM25 (keyword.py): `current` names the live `gen-NNNNNN-xxxx` generation folder;
- `manifest.json`: what the index holds (manifest.py), written last by every ingest;
- `ingest.lock`: one ingest at a time.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from newsrag.config import Settings
from newsrag.keyword import KEYWORD_SUBDIR, KeywordIndex
from newsrag.manifest import LOCK_NAME, MANIFEST_NAME, Manifest, manifest_stamp
from newsrag.scale_out import reset_server_index
from newsrag.store import CHROMA_SUBDIR, VectorStore

__all__ = [
    "BROKEN_MANIFEST_NAME",
    "CHROMA_SUBDIR",
    "KEYWORD_SUBDIR",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "IndexLayout",
    "generation_matches",
    "generation_number",
    "good_vectors",
    "incomplete_articles",
    "leftover_paths",
    "manifest_stamp",
    "remove_orphans",
    "wipe_index",
]

BROKEN_MANIFEST_NAME = MANIFEST_NAME + ".broken"
KEYWORD_CURRENT = "current"  # keyword.py's pointer to the live generation
KEYWORD_GENERATIONS = "gen-*"


@dataclass(frozen=True)
class IndexLayout:
    """The paths of one index folder: chroma, keyword (generations and `current`), manifest,
    broken_manifest (where `check --repair` moves an unreadable one) and lock."""

    root: Path
    chroma: Path = field(init=False)
    keyword: Path = field(init=False)
    manifest: Path = field(init=False)
    broken_manifest: Path = field(init=False)
    lock: Path = field(init=False)

    def __post_init__(self) -> None:
        parts = {
            "chroma": CHROMA_SUBDIR,
            "keyword": KEYWORD_SUBDIR,
            "manifest": MANIFEST_NAME,
            "broken_manifest": BROKEN_MANIFEST_NAME,
            "lock": LOCK_NAME,
        }
        for name, part in parts.items():
            object.__setattr__(self, name, Path(self.root) / part)

    @classmethod
    def of(cls, settings: Settings) -> IndexLayout:
        """The layout of the index folder settings name."""
        return cls(Path(settings.index_dir))


def wipe_index(*, settings: Settings) -> None:
    """Delete everything the index holds (for --rebuild)."""
    layout = IndexLayout.of(settings)
    if settings.chroma_host:
        VectorStore.open(settings=settings).drop_collection()
        reset_server_index(settings)  # the server's manifest records go with its vectors
    else:
        shutil.rmtree(layout.chroma, ignore_errors=True)
    shutil.rmtree(layout.keyword, ignore_errors=True)
    layout.manifest.unlink(missing_ok=True)


def leftover_paths(index_dir: Path) -> list[Path]:
    """Temporary files and unused BM25 generations that interrupted writes left behind."""
    root = Path(index_dir) / KEYWORD_SUBDIR
    found = [Path(index_dir) / (MANIFEST_NAME + ".tmp"), root / (KEYWORD_CURRENT + ".tmp")]
    found = [path for path in found if path.exists()]
    try:
        current = (root / KEYWORD_CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return found
    # The current generation and the one before it (readers may still load it) are in use.
    previous = generation_number(current) - 1
    return found + sorted(
        path
        for path in root.glob(KEYWORD_GENERATIONS)
        if path.name != current and generation_number(path.name) != previous
    )


def generation_number(name: str) -> int:
    """gen-000012[-suffix] -> 12; -1 for any other name."""
    parts = name.split("-")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


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
    for chunk_id, vector in store.vectors(chunk_ids).items():
        values = np.asarray(vector, dtype=np.float64).ravel()
        if dimension is not None and values.size != dimension:
            continue
        if values.size and np.isfinite(values).all() and abs(np.linalg.norm(values) - 1) < 0.01:
            good.add(chunk_id)
    return good
