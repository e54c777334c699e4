"""The index folder's owner: layout, wipe, and the store methods ingest and check read vectors with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsrag.config import Settings
from newsrag.index import IndexLayout, good_vectors, leftover_paths, wipe_index
from newsrag.models import ArticleMeta, Chunk
from newsrag.store import VectorStore


def _chunks(count: int) -> tuple[list[Chunk], list[ArticleMeta], np.ndarray]:
    article = ArticleMeta(id="a1", title="Title", date="2020-01-02", source="Outlet", url="")
    chunks = [
        Chunk(id=f"a1-{n:04d}-x", article_id="a1", ordinal=n, text=f"text {n}", start=n, end=n + 1)
        for n in range(count)
    ]
    vectors = np.eye(count, 8, dtype=np.float32)
    return chunks, [article] * count, vectors


def test_store_reads_vectors_and_metadata_back(tmp_path: Path) -> None:
    store = VectorStore.open(settings=Settings(index_dir=tmp_path))
    chunks, articles, vectors = _chunks(3)
    store.upsert(chunks, articles, vectors)
    found = store.vectors([chunk.id for chunk in chunks] + ["missing"])
    assert set(found) == {chunk.id for chunk in chunks}
    assert np.allclose(found["a1-0001-x"], vectors[1])
    stored, vector = store.get_with_vectors(["a1-0002-x"])["a1-0002-x"]
    assert stored.chunk.text == "text 2" and stored.article.source == "Outlet"
    assert stored.article.date == "2020-01-02" and np.allclose(vector, vectors[2])
    assert good_vectors(store, [chunk.id for chunk in chunks], 8) == set(found)
    assert good_vectors(store, [chunk.id for chunk in chunks], 9) == set()


def test_layout_and_wipe(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path)
    layout = IndexLayout.of(settings)
    store = VectorStore.open(settings=settings)
    store.upsert(*_chunks(1))
    layout.keyword.mkdir()
    layout.manifest.write_text("{}")
    assert layout.chroma.exists()
    wipe_index(settings=settings)
    assert not layout.chroma.exists() and not layout.keyword.exists()
    assert not layout.manifest.exists()


def test_leftovers_keep_the_current_and_previous_generation(tmp_path: Path) -> None:
    keyword = IndexLayout(tmp_path).keyword
    for name in ("gen-000001-aa", "gen-000002-bb", "gen-000003-cc"):
        (keyword / name).mkdir(parents=True)
    (keyword / "current").write_text("gen-000003-cc")
    (tmp_path / "manifest.json.tmp").write_text("")
    assert [path.name for path in leftover_paths(tmp_path)] == [
        "manifest.json.tmp",
        "gen-000001-aa",
    ]


def test_a_reopened_store_sees_another_process_writes(tmp_path: Path) -> None:
    """The public clear_system_cache() is enough for a new open to read what is on disk now."""
    settings = Settings(index_dir=tmp_path)
    first = VectorStore.open(settings=settings)
    first.upsert(*_chunks(1))
    code = (
        "import numpy as np, sys\n"
        "from newsrag.config import Settings\n"
        "from newsrag.models import ArticleMeta, Chunk\n"
        "from newsrag.store import VectorStore\n"
        "store = VectorStore.open(settings=Settings(index_dir=sys.argv[1]))\n"
        "meta = ArticleMeta(id='b1', title='T', date=None, source='S', url='')\n"
        "chunk = Chunk(id='b1-0000-y', article_id='b1', ordinal=0, text='t', start=0, end=1)\n"
        "store.upsert([chunk], [meta], np.ones((1, 8), dtype=np.float32) / np.sqrt(8))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    again = VectorStore.open(settings=settings)
    assert again.count() == 2
    assert set(again.vectors(["b1-0000-y"])) == {"b1-0000-y"}


@pytest.mark.server
def test_wipe_drops_the_collection_on_a_chroma_server(chroma_server, tmp_path: Path) -> None:
    host, port = chroma_server
    settings = Settings(index_dir=tmp_path / "index", chroma_host=host, chroma_port=port)
    store = VectorStore.open(settings=settings)
    store.upsert(*_chunks(2))
    assert store.count() == 2
    wipe_index(settings=settings)
    assert VectorStore.open(settings=settings).count() == 0  # get_or_create: a new, empty one
