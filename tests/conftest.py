"""Shared fixtures: one real embedding model and one small real index over the seed corpus per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsrag.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO_ROOT / "corpus"
SHARED_BENCH = REPO_ROOT.parent / "shared" / "bench"


@pytest.fixture(scope="session")
def embedder():
    """The real packaged all-MiniLM-L6-v2, loaded once."""
    from newsrag.embedding import Embedder

    return Embedder.load(settings=Settings())


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample corpus (the two Kurdistan 24 seed articles)."""
    folder = tmp_path_factory.mktemp("seed-corpus")
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, seed_corpus: Path) -> Settings:
    """Settings pointing at a session-wide index of the seed corpus."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    return Settings(corpus_dir=seed_corpus, index_dir=index_dir)


@pytest.fixture(scope="session")
def seed_index(seed_settings: Settings, seed_corpus: Path, embedder):
    """The seed corpus ingested once into a real Chroma + BM25 index; returns its settings."""
    from newsrag.ingest import ingest

    report = ingest([seed_corpus], settings=seed_settings, progress=False, embedder=embedder)
    assert report.added == 2, report.summary()
    return seed_settings


@pytest.fixture(scope="session")
def seed_retriever(seed_index: Settings, embedder):
    """A Retriever over the seed index (shares the session's model)."""
    from newsrag.retrieval import Retriever

    return Retriever.open(seed_index, embedder=embedder)


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings with an empty index folder of the test's own."""
    yield Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
