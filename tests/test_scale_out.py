"""Server mode's parts on their own: the ingest lease and the worker's incremental BM25 cache.

The "server" here is a local Chroma collection opened through VectorStore (real Chroma, real
embeddings, real ingest): the cache and the lease only use VectorStore's record and passage
methods, which do the same over HTTP. tests/test_scale_out_e2e.py runs them over a real
`chroma run` server with separate processes.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from newsrag.config import Settings
from newsrag.ingest_lease import IngestLease
from newsrag.manifest import IngestLockedError, Manifest
from newsrag.server_manifest import ServerManifest
from newsrag.store import VectorStore
from newsrag.worker_cache import SYNC_STATE, WorkerCache
from tests.conftest import SEEDS_DIR

EXTRA_ARTICLE = """date 2021-03-04 Home › kurdistan 24 › Zarqa desalination plant opens in Basra

Zarqa desalination plant opens in Basra

The Zarqa desalination plant began pumping drinking water to southern Basra on Thursday, the
provincial water directorate said. Engineer Layla Hamdani, who led the project, said the plant
treats forty thousand cubic metres a day and will end the summer shortages that sent thousands
to hospital in 2018.
"""


def _docs(index_dir: Path) -> dict[str, tuple[str, int, str, str]]:
    """Every BM25 document of a folder: chunk id -> (article, date, source, tokens)."""
    with sqlite3.connect(index_dir / "keyword" / "docs.sqlite") as connection:
        rows = connection.execute(
            "SELECT chunk_id, article_id, date_int, source_key, tokens FROM docs"
        )
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


class Clock:
    """A settable wall clock: lease expiry without waiting a minute."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def record_store(tmp_path: Path) -> VectorStore:
    return VectorStore.open(settings=Settings(index_dir=tmp_path / "records"))


def test_a_second_owner_is_refused_with_the_holder_named(record_store: VectorStore) -> None:
    clock = Clock()
    first = IngestLease(record_store, seconds=60, owner="host-a pid 1", clock=clock, settle=0)
    second = IngestLease(record_store, seconds=60, owner="host-b pid 2", clock=clock, settle=0)
    first.acquire(renew=False)
    with pytest.raises(IngestLockedError, match=r"another ingest \(host-a pid 1\) holds"):
        second.acquire(renew=False)
    first.check()  # still the holder
    first.release()
    assert record_store.get_records(["lease"]) == {}
    assert second.acquire(renew=False) == []  # free again: no takeover note
    second.release()


def test_an_expired_lease_is_taken_over_and_its_owner_cannot_publish(
    record_store: VectorStore,
) -> None:
    clock = Clock()
    crashed = IngestLease(record_store, seconds=60, owner="host-a pid 1", clock=clock, settle=0)
    crashed.acquire(renew=False)
    clock.now += 59
    later = IngestLease(record_store, seconds=60, owner="host-b pid 2", clock=clock, settle=0)
    with pytest.raises(IngestLockedError):
        later.acquire(renew=False)
    clock.now += 2  # past the expiry: the first ingest stopped renewing
    notes = later.acquire(renew=False)
    assert "host-a pid 1" in notes[0] and "took it over" in notes[0]
    with pytest.raises(IngestLockedError, match="lost its lease"):
        crashed.check()
    assert crashed.renew() is False and crashed.lost
    crashed.release()  # not its lease any more: left alone
    assert record_store.get_records(["lease"])["lease"][1]["owner"] == "host-b pid 2"
    later.release()


def test_a_held_lease_is_renewed_while_the_ingest_runs(record_store: VectorStore) -> None:
    lease = IngestLease(record_store, seconds=0.6, owner="host-a pid 1", settle=0)
    lease.acquire()
    first = lease.holder()
    assert first is not None
    renewed = threading.Event()

    def watch() -> None:
        for _ in range(100):  # bounded: 5 s at most
            holder = lease.holder()
            if holder is not None and holder.expires > first.expires:
                renewed.set()
                return
            threading.Event().wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    watcher.join()
    lease.release()
    assert renewed.is_set()


@pytest.fixture
def published(tmp_path: Path, embedder) -> tuple[Settings, VectorStore, Path]:
    """The seeds ingested into a local index standing for the server, its manifest published."""
    from newsrag.ingest import ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    source = Settings(corpus_dir=corpus, index_dir=tmp_path / "server-index")
    ingest([corpus], settings=source, progress=False, embedder=embedder)
    return source, _publish(source), corpus


def _publish(source: Settings) -> VectorStore:
    """Publish the local index's manifest as an ingest in server mode does; a fresh store."""
    store = VectorStore.open(settings=source)
    ServerManifest(store).publish(Manifest.load(source.index_dir))
    return store


def test_the_cache_follows_the_server_incrementally(published, tmp_path: Path, embedder) -> None:
    from newsrag.ingest import ingest

    source, store, corpus = published
    worker = Settings(index_dir=tmp_path / "worker")
    cache = WorkerCache(worker, store=store)
    line = cache.sync(progress=False)
    assert "BM25 cache built" in line
    # Tokens equal the ingest's own BM25 documents: the keyword side ranks exactly as local mode.
    assert _docs(worker.index_dir) == _docs(source.index_dir)
    assert cache.state() is not None and cache.state().version == 1  # type: ignore[union-attr]

    (corpus / "zarqa.txt").write_text(EXTRA_ARTICLE, encoding="utf-8")
    ingest([corpus], settings=source, progress=False, embedder=embedder)
    cache = WorkerCache(worker, store=_publish(source))  # a restarted worker: state from disk
    line = cache.sync(progress=False)
    added = len(Manifest.load(source.index_dir).articles) - 2
    assert added == 1
    assert "from version 1 to 2: 1 articles changed" in line, line
    assert _docs(worker.index_dir) == _docs(source.index_dir)
    assert set(Manifest.load(worker.index_dir).articles) == set(
        Manifest.load(source.index_dir).articles
    )

    (corpus / "zarqa.txt").unlink()
    ingest([corpus], settings=source, prune=True, progress=False, embedder=embedder)
    cache = WorkerCache(worker, store=_publish(source))
    line = cache.sync(progress=False)
    assert "0 articles changed (0 passages fetched), 1 deleted" in line, line
    assert _docs(worker.index_dir) == _docs(source.index_dir)
    assert cache.sync(progress=False) == "up to date at version 3"
    assert cache.status()["behind"] == 0


def test_a_cache_of_another_index_is_rebuilt_not_served(published, tmp_path: Path) -> None:
    _, store, _ = published
    worker = Settings(index_dir=tmp_path / "worker")
    WorkerCache(worker, store=store).sync(progress=False)
    ServerManifest(store).reset()  # an `ingest --rebuild` started: a new index id
    cache = WorkerCache(worker, store=store)
    status = cache.status()
    assert status["same_index"] is False and status["behind"] is None
    assert "BM25 cache built: 0 passages" in cache.sync(progress=False)
    assert Manifest.load(worker.index_dir).articles == {}


def test_a_build_killed_while_switching_recovers(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import newsrag.worker_cache as worker_cache

    source, store, _ = published
    worker = Settings(index_dir=tmp_path / "worker")

    def crash(stage: str) -> None:
        if stage == "cache_switch":
            raise KeyboardInterrupt("killed between moving keyword/ and writing the state")

    monkeypatch.setattr(worker_cache, "pause_for_tests", crash)
    with pytest.raises(KeyboardInterrupt):
        WorkerCache(worker, store=store).sync(progress=False)
    assert not (worker.index_dir / SYNC_STATE).exists()  # invalid, so never served
    monkeypatch.undo()
    assert "BM25 cache built" in WorkerCache(worker, store=store).sync(progress=False)
    assert _docs(worker.index_dir) == _docs(source.index_dir)
    assert not list(worker.index_dir.glob(".cache-build-*"))
    assert not list(worker.index_dir.glob(".old-*"))


def test_a_worker_refuses_an_index_rebuilt_with_another_model(published, tmp_path: Path) -> None:
    from newsrag.keyword import KeywordIndexError

    source, store, _ = published
    worker = Settings(index_dir=tmp_path / "worker", cache_refresh_seconds=0)
    cache = WorkerCache(worker, store=store)
    cache.sync(progress=False)
    cache.refresh_if_due()  # same model: nothing to say
    manifest = Manifest.load(source.index_dir)
    manifest.model = "some-other-model"
    ServerManifest(store).publish(manifest)
    with pytest.raises(KeywordIndexError, match="'some-other-model' but this worker runs"):
        cache.refresh_if_due()


def test_a_busy_folder_with_another_index_refuses_searches_instead_of_queueing(
    published, tmp_path: Path
) -> None:
    """An ingest on this machine holds the folder's cache lock for its whole run: a search that
    finds the cache belongs to another index is refused at once, then served once it is rebuilt."""
    import fcntl

    from newsrag.keyword import KeywordIndexError
    from newsrag.worker_cache import CACHE_LOCK

    _, store, _ = published
    worker = Settings(index_dir=tmp_path / "worker", cache_refresh_seconds=60)
    cache = WorkerCache(worker, store=store)
    cache.sync(progress=False)
    ServerManifest(store).reset()  # an `ingest --rebuild` elsewhere: a new index id
    cache.checked = None
    with (worker.index_dir / CACHE_LOCK).open("a") as other_process:  # flock: per open file
        fcntl.flock(other_process.fileno(), fcntl.LOCK_EX)
        for _ in range(2):  # refused every time, not only within the first refresh interval
            with pytest.raises(KeywordIndexError, match="another process on this machine"):
                cache.refresh_if_due()
        fcntl.flock(other_process.fileno(), fcntl.LOCK_UN)
    cache.refresh_if_due()  # the folder is free: rebuilt for the new index and served
    status = cache.status()
    assert status["same_index"] is True and status["behind"] == 0
