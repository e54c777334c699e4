"""Shared fixtures: one real embedding model and one small real index over the seed corpus per session."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def free_port() -> int:
    """A localhost port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a server the test started; kill it if it has not exited within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real Chroma server (`chroma run`) on a free loopback port, stopped after the test."""
    executable = Path(sys.executable).with_name("chroma")
    port = free_port()
    process = subprocess.Popen(
        [
            str(executable),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    pytest.fail("chroma run exited before listening")
                time.sleep(0.3)
        else:
            pytest.fail("chroma run did not listen within 60 s")
        yield "127.0.0.1", port
    finally:
        stop_process(process)
