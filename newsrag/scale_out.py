"""Server mode's hooks into ingest, retrieval and the API; each does nothing without a Chroma server."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from newsrag.config import Settings
from newsrag.ingest_lease import IngestLease
from newsrag.keyword import KeywordIndex
from newsrag.manifest import MANIFEST_NAME, Manifest, ingest_lock
from newsrag.server_manifest import ServerManifest
from newsrag.store import StoreMissingError, VectorStore
from newsrag.worker_cache import SYNC_STATE, ServerKeywordIndex, WorkerCache

__all__ = [
    "index_sync_status",
    "ingest_guard",
    "keyword_index",
    "publish_manifest",
    "reset_server_index",
    "sync_worker_cache",
]

_LEASE: contextvars.ContextVar[IngestLease | None] = contextvars.ContextVar("lease", default=None)
_CACHES: dict[tuple[str, str, int, str], WorkerCache] = {}


def _server_mode(settings: Settings) -> bool:
    return bool(settings.chroma_host)


@contextlib.contextmanager
def ingest_guard(settings: Settings) -> Iterator[list[str]]:
    """The ingest lock: the folder's flock, plus in server mode the server's lease, and the
    folder's cache brought to the server's version (the ingest diffs against it)."""
    index_dir = Path(settings.index_dir)
    if not _server_mode(settings):
        with ingest_lock(index_dir) as notes:
            yield notes
        return
    store = VectorStore.open(settings=settings)
    lease = IngestLease(store, seconds=settings.ingest_lease_seconds)
    notes = lease.acquire()
    token = _LEASE.set(lease)
    try:
        with ingest_lock(index_dir) as local_notes:
            cache = WorkerCache(settings, store=store)
            with cache.locked():
                cache.sync_locked(progress=True)
                yield [*notes, *local_notes]
    finally:
        _LEASE.reset(token)
        lease.release()


def publish_manifest(manifest: Manifest, *, settings: Settings) -> None:
    """Server mode: write the ingest's manifest to the server and raise its version (lease kept)."""
    if not _server_mode(settings):
        return
    lease = _LEASE.get()
    ServerManifest(VectorStore.open(settings=settings)).publish(
        manifest, before_write=lease.check if lease is not None else None
    )


def reset_server_index(settings: Settings) -> None:
    """Server mode, ingest --rebuild: the server forgets every article (a new index id)."""
    if not _server_mode(settings):
        return
    ServerManifest(VectorStore.open(settings=settings)).reset()
    (Path(settings.index_dir) / SYNC_STATE).unlink(missing_ok=True)


def _cache(settings: Settings) -> WorkerCache:
    key = (
        str(Path(settings.index_dir).resolve()),
        str(settings.chroma_host),
        settings.chroma_port,
        settings.collection,
    )
    if key not in _CACHES:
        _CACHES[key] = WorkerCache(
            settings, store=VectorStore.open(settings=settings, create=False)
        )
    return _CACHES[key]


def sync_worker_cache(settings: Settings) -> None:
    """Server mode, opening the index: build or update the local cache from the server first."""
    if not _server_mode(settings):
        return
    cache: WorkerCache | None = None
    try:
        cache = _cache(settings)
        cache.sync(progress=True)
    except StoreMissingError:
        pass  # no collection on the server: opening the index then says to run an ingest
    index_dir = Path(settings.index_dir)
    if (cache is None or cache.state() is None) and (index_dir / MANIFEST_NAME).exists():
        # Files left by the embedded mode or by another server: never served as this server's.
        raise StoreMissingError(
            f"the Chroma server {settings.chroma_host}:{settings.chroma_port} holds no newsrag "
            f"index in collection {settings.collection!r}, and the files in {index_dir} are not "
            "a copy of one: run `newsrag ingest` with NEWSRAG_CHROMA_HOST set"
        )


def keyword_index(settings: Settings) -> KeywordIndex:
    """The BM25 index to search: the folder's own, or in server mode the cache following the server."""
    if not _server_mode(settings):
        return KeywordIndex(Path(settings.index_dir))
    return ServerKeywordIndex(Path(settings.index_dir), cache=_cache(settings))


def index_sync_status(keyword: Any) -> dict[str, Any] | None:
    """For /api/health: the served and the server's version (None outside server mode)."""
    if isinstance(keyword, ServerKeywordIndex):
        return keyword.cache.status()
    return None
