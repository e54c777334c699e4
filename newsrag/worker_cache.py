"""A worker's local BM25 cache and manifest copy, derived from the Chroma server (server mode)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from newsrag.chunking import embed_text_for
from newsrag.config import Settings
from newsrag.embedding import model_identity
from newsrag.keyword import (
    KEYWORD_SUBDIR,
    KeywordDocument,
    KeywordIndex,
    KeywordIndexError,
    Tokenizer,
)
from newsrag.manifest import MANIFEST_NAME, ArticleRecord, Manifest, ManifestError, pause_for_tests
from newsrag.server_manifest import ServerIdentity, ServerManifest
from newsrag.store import StoredChunk, VectorStore, date_as_int, source_key

__all__ = ["CACHE_LOCK", "SYNC_STATE", "ServerKeywordIndex", "WorkerCache"]

SYNC_STATE = "server-sync.json"  # which server index and version the local cache holds
CACHE_LOCK = "cache.lock"
FOLDER_BUSY = "another process is updating this cache folder"
PAGE = 500  # passages fetched per request while building
PROGRESS_SECONDS = 5.0
logger = logging.getLogger(__name__)


def keyword_documents(stored: Sequence[StoredChunk], tokenizer: Tokenizer) -> list[KeywordDocument]:
    """BM25 documents of stored passages, tokenized exactly as ingest tokenizes them."""
    return [
        KeywordDocument(
            chunk_id=item.chunk.id,
            article_id=item.article.id,
            date_int=date_as_int(item.article.date),
            source_key=source_key(item.article.source),
            # The chunk's embed text is rebuilt from its stored title (cut at 300 characters, more
            # than the 160 the header keeps), outlet and date: the same tokens as at ingest.
            tokens=tokenizer.tokens(embed_text_for(item.article, item.chunk.text)),
        )
        for item in stored
    ]


class WorkerCache:
    """Keeps INDEX_DIR's manifest.json and keyword/ equal to the server's index at some version."""

    def __init__(self, settings: Settings, *, store: VectorStore | None = None) -> None:
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self.store = store if store is not None else VectorStore.open(settings=settings)
        self.server = ServerManifest(self.store)
        self.refresh_seconds = settings.cache_refresh_seconds
        self.checked: float | None = None  # monotonic time of the last version check
        self.waiting_for_folder = False  # the cache is another index's and the folder is busy
        self.server_version: int | None = None
        self.foreign_model: str | None = None  # the server's index needs another model than ours
        self._thread_lock = threading.Lock()

    # ---- state --------------------------------------------------------------------------------
    def state(self) -> ServerIdentity | None:
        """The server index and version this folder's cache holds (None: none, or unreadable)."""
        try:
            return ServerIdentity.from_dict(
                json.loads((self.index_dir / SYNC_STATE).read_text(encoding="utf-8"))
            )
        except (OSError, ValueError, ManifestError):
            return None

    def _write_state(self, identity: ServerIdentity) -> None:
        temporary = self.index_dir / (SYNC_STATE + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(identity.to_dict(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.index_dir / SYNC_STATE)

    @contextlib.contextmanager
    def locked(self, *, blocking: bool = True) -> Iterator[bool]:
        """Hold the folder's cache lock (processes sharing a folder take turns); yields False when
        blocking=False and another process holds it."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with (self.index_dir / CACHE_LOCK).open("a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True

    # ---- syncing ------------------------------------------------------------------------------
    def sync(self, *, progress: bool = True, blocking: bool = True) -> str:
        """Bring the cache to the server's current version; returns what was done (one line)."""
        with self.locked(blocking=blocking) as held:
            if not held:
                return FOLDER_BUSY
            return self.sync_locked(progress=progress)

    def sync_locked(self, *, progress: bool) -> str:
        """sync() for a caller that holds the folder's cache lock already (an ingest)."""
        identity = self.server.identity()
        self.checked = time.monotonic()
        if identity is None:
            return "the server holds no index yet"
        self.server_version = identity.version
        local = self.state()
        complete = (self.index_dir / KEYWORD_SUBDIR / "current").exists() and (
            self.index_dir / MANIFEST_NAME
        ).exists()
        if local is None or not local.same_index(identity) or not complete:
            return self.rebuild(identity, progress=progress)
        if local.version == identity.version:
            return f"up to date at version {identity.version}"
        if local.version > identity.version:  # the server was restored from an older copy
            return self.rebuild(identity, progress=progress)
        return self.update(local, identity)

    def rebuild(self, identity: ServerIdentity, *, progress: bool = True) -> str:
        """Build the whole cache from the server into a new folder, then switch to it."""
        started = time.perf_counter()
        for leftover in [*self.index_dir.glob(".cache-build-*"), *self.index_dir.glob(".old-*")]:
            shutil.rmtree(leftover, ignore_errors=True)  # a killed build's, under the lock
        articles = self.server.articles()
        chunk_ids = [chunk for record in articles.values() for chunk in record.chunk_ids]
        where = f"{self.store.describe()} (index {identity.index_id}, version {identity.version})"
        self._say(
            progress,
            f"building the BM25 cache in {self.index_dir} from {where}: "
            f"{len(articles)} articles, {len(chunk_ids)} passages",
        )
        build = self.index_dir / f".cache-build-{secrets.token_hex(4)}"
        keyword = KeywordIndex(build, load=False)
        done, shown = 0, time.monotonic()
        for begin in range(0, len(chunk_ids), PAGE):
            stored = self.store.passages(chunk_ids[begin : begin + PAGE])
            keyword.stage(keyword_documents(stored, keyword.tokenizer))
            done += len(stored)
            if time.monotonic() - shown >= PROGRESS_SECONDS:
                self._say(progress, f"  … {done}/{len(chunk_ids)} passages")
                shown = time.monotonic()
            pause_for_tests("cache_build")  # test-only: a worker killed mid-build
        keyword.update(remove_articles=[])  # applies the staged documents and builds BM25
        self._manifest(identity, articles).save(build)
        # Invalidate first: a process killed while switching restarts into a clean rebuild.
        (self.index_dir / SYNC_STATE).unlink(missing_ok=True)
        old = self.index_dir / f".old-{secrets.token_hex(4)}"
        if (self.index_dir / KEYWORD_SUBDIR).exists():
            os.replace(self.index_dir / KEYWORD_SUBDIR, old)
        os.replace(build / KEYWORD_SUBDIR, self.index_dir / KEYWORD_SUBDIR)
        pause_for_tests("cache_switch")
        os.replace(build / MANIFEST_NAME, self.index_dir / MANIFEST_NAME)
        self._write_state(identity)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(build, ignore_errors=True)
        seconds = time.perf_counter() - started
        line = f"BM25 cache built: {done} passages of {len(articles)} articles in {seconds:.1f} s"
        self._say(progress, line)
        return line

    def update(self, local: ServerIdentity, identity: ServerIdentity) -> str:
        """Apply the articles changed after the cached version: only their passages are fetched."""
        started = time.perf_counter()
        changed, deleted = self.server.changes(after=local.version, upto=identity.version)
        try:
            manifest = Manifest.load(self.index_dir)
        except ManifestError:
            return self.rebuild(identity)
        keyword = KeywordIndex(self.index_dir, load=False)
        chunk_ids = [chunk for record in changed.values() for chunk in record.chunk_ids]
        stored = self.store.passages(chunk_ids)
        # Re-applying the same change is harmless: a process killed here redoes it on restart.
        keyword.update(
            remove_articles=[*changed, *deleted], add=keyword_documents(stored, keyword.tokenizer)
        )
        manifest.articles.update(changed)
        for article_id in deleted:
            manifest.articles.pop(article_id, None)
        self._manifest(identity, manifest.articles).save(self.index_dir)
        self._write_state(identity)
        seconds = time.perf_counter() - started
        return (
            f"BM25 cache moved from version {local.version} to {identity.version}: "
            f"{len(changed)} articles changed ({len(stored)} passages fetched), "
            f"{len(deleted)} deleted, in {seconds:.2f} s"
        )

    def _manifest(self, identity: ServerIdentity, articles: dict[str, ArticleRecord]) -> Manifest:
        return Manifest(
            model=identity.model,
            dimension=identity.dimension,
            chunk_size=identity.chunk_size,
            chunk_overlap=identity.chunk_overlap,
            articles=dict(articles),
            last_ingest=dict(identity.last_ingest or {}),
        )

    def _say(self, progress: bool, line: str) -> None:
        logger.info(line)
        if progress:
            print(f"newsrag: {line}", file=sys.stderr, flush=True)

    # ---- serving ------------------------------------------------------------------------------
    def refresh_if_due(self) -> None:
        """On a search: ask the server for its version at most every refresh_seconds; follow it."""
        if self.checked is not None and time.monotonic() - self.checked < self.refresh_seconds:
            return
        with self._thread_lock:
            if self.checked is not None and time.monotonic() - self.checked < self.refresh_seconds:
                return  # another thread checked while this one waited
            self.waiting_for_folder = False
            try:
                self._refresh()
            except Exception as error:  # server unreachable: keep serving what is cached
                logger.warning("could not refresh the BM25 cache from the server: %s", error)
            # While the folder is busy with another index, check again on every search.
            self.checked = None if self.waiting_for_folder else time.monotonic()
        if self.waiting_for_folder:
            raise KeywordIndexError(
                f"the BM25 cache in {self.index_dir} belongs to an index the server no longer "
                "holds and another process on this machine (an ingest) is rebuilding it: "
                "retry when it finishes"
            )
        if self.foreign_model is not None:  # dense search would compare vectors of two models
            raise KeywordIndexError(
                f"the server's index was rebuilt with embedding model {self.foreign_model!r} but "
                f"this worker runs {model_identity(self.settings)!r}: restart it with "
                "NEWSRAG_EMBEDDING_MODEL set to match"
            )

    def _refresh(self) -> None:
        identity = self.server.identity()
        if identity is None:
            return
        self.server_version = identity.version
        mine = model_identity(self.settings)
        self.foreign_model = identity.model if identity.model not in (None, mine) else None
        local = self.state()
        if local is not None and local.same_index(identity) and local.version == identity.version:
            return  # another process on this folder may have moved it: KeywordIndex reloads
        foreign = local is None or not local.same_index(identity)
        # The folder busy (an ingest on this machine holds its lock for the whole ingest): merely
        # behind, serve and retry later; another index's cache is never served, and searches are
        # refused (not queued behind the ingest) until the folder is free to rebuild.
        line = self.sync(progress=False, blocking=False)
        self.waiting_for_folder = foreign and line == FOLDER_BUSY
        logger.info(line)

    def status(self) -> dict[str, Any]:
        """For /api/health: the version served, the server's (asked now), how far behind."""
        local = self.state()
        try:
            identity = self.server.identity()
            self.server_version = identity.version if identity is not None else None
            same = identity is not None and local is not None and local.same_index(identity)
        except Exception as error:  # the health answer still says what is served
            logger.warning("cannot read the server's index version: %s", error)
            same = local is not None
        served = local.version if local is not None else None
        behind = (
            self.server_version - served
            if served is not None and self.server_version is not None and same
            else None
        )
        return {
            "index_id": local.index_id if local is not None else None,
            "served_version": served,
            "server_version": self.server_version,
            "behind": behind,
            "same_index": same,
            "checked_seconds_ago": (
                round(time.monotonic() - self.checked, 1) if self.checked is not None else None
            ),
            "refresh_seconds": self.refresh_seconds,
        }


class ServerKeywordIndex(KeywordIndex):
    """The worker's BM25 index: every read first lets the cache follow the server (throttled)."""

    def __init__(self, index_dir: Path, *, cache: WorkerCache) -> None:
        self.cache = cache
        super().__init__(index_dir)

    def __len__(self) -> int:
        self.cache.refresh_if_due()
        return super().__len__()

    def search(self, *args: Any, **keywords: Any) -> list[tuple[str, float]]:
        """KeywordIndex.search after a due refresh."""
        self.cache.refresh_if_due()
        return super().search(*args, **keywords)

    def search_weighted(self, *args: Any, **keywords: Any) -> list[tuple[str, float]]:
        """KeywordIndex.search_weighted after a due refresh."""
        self.cache.refresh_if_due()
        return super().search_weighted(*args, **keywords)

    def document_frequencies(self, tokens: Sequence[str]) -> tuple[dict[str, int], int]:
        """KeywordIndex.document_frequencies after a due refresh."""
        self.cache.refresh_if_due()
        return super().document_frequencies(tokens)
