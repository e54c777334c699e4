"""The vector store: Chroma on disk under index/ or a Chroma server. The only module importing chromadb."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsrag.config import Settings
from newsrag.errors import IndexUnavailableError
from newsrag.manifest import manifest_stamp
from newsrag.models import ArticleMeta, Chunk, Filters, date_as_int, source_key

__all__ = [  # date_as_int and source_key live with Filters (models.py): re-exported for callers
    "CHROMA_SUBDIR",
    "StoreError",
    "StoreMissingError",
    "StoredChunk",
    "VectorStore",
    "chunk_metadata",
    "date_as_int",
    "source_key",
    "where_clause",
]

CHROMA_SUBDIR = "chroma"
CHROMA_DATABASE = "chroma.sqlite3"
# Every chunk carries its article's title: cut here (the manifest keeps the full one, once).
CHUNK_TITLE_CHARS = 300
logger = logging.getLogger(__name__)


class StoreError(IndexUnavailableError, RuntimeError):
    """The vector store cannot be reached or opened."""


class StoreMissingError(StoreError):
    """There is no vector store (folder or collection) yet: an ingest builds it."""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk read back from the store with its article metadata."""

    chunk: Chunk
    article: ArticleMeta


def chunk_metadata(chunk: Chunk, article: ArticleMeta) -> dict[str, str | int]:
    """The metadata stored beside every chunk (DESIGN.md: identity and storage)."""
    return {
        "article_id": article.id,
        "title": article.title[:CHUNK_TITLE_CHARS],
        "source": article.source,
        "source_key": source_key(article.source),
        "url": article.url,
        "date": article.date or "",
        "date_int": date_as_int(article.date),
        "place": article.place,
        "author": article.author,
        "editor": article.editor,
        "ordinal": chunk.ordinal,
        "start": chunk.start,
        "end": chunk.end,
    }


def where_clause(filters: Filters | None) -> dict[str, Any] | None:
    """Translate Filters into a Chroma `where` clause."""
    if filters is None or filters.is_empty():
        return None
    conditions: list[dict[str, Any]] = []
    since, until = filters.date_bounds()
    if since is not None:
        conditions.append({"date_int": {"$gte": since}})
    if until is not None:
        conditions.append({"date_int": {"$lte": until}})
    if since is None and until is not None:
        conditions.append({"date_int": {"$gt": 0}})  # undated articles never match a date filter
    if filters.sources:
        conditions.append({"source_key": {"$in": filters.source_keys()}})
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _from_record(
    chunk_id: str, document: str, metadata: dict[str, Any]
) -> tuple[Chunk, ArticleMeta]:
    article = ArticleMeta(
        id=str(metadata.get("article_id", "")),
        title=str(metadata.get("title", "")),
        date=str(metadata.get("date") or "") or None,
        source=str(metadata.get("source", "")),
        url=str(metadata.get("url", "")),
        place=str(metadata.get("place", "")),
        author=str(metadata.get("author", "")),
        editor=str(metadata.get("editor", "")),
    )
    chunk = Chunk(
        id=chunk_id,
        article_id=article.id,
        ordinal=int(metadata.get("ordinal", 0)),
        text=document,
        start=int(metadata.get("start", 0)),
        end=int(metadata.get("end", 0)),
    )
    return chunk, article


def _private_client(chromadb: Any, path: Path, chroma_settings: Any) -> Any:
    """A PersistentClient with a System of its own, reading what is on disk now."""
    from chromadb.api.shared_system_client import SharedSystemClient

    # Chroma shares one System per path in a process, and that System's in-memory vector index
    # never sees writes made by other processes: clear the shared cache (its public API; clients
    # already made keep the System they hold) so this store starts from the disk. It clears every
    # path, which costs nothing here: every VectorStore.open makes its own System anyway.
    SharedSystemClient.clear_system_cache()
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class _ServerCollection:
    """A collection on a Chroma server, found again by name when a call finds it gone.

    Chroma's HTTP client addresses a collection by its id: after an `ingest --rebuild` on another
    machine (drop, then create under the same name) every call through the old handle fails, so
    a long-running worker would serve errors until restarted. One retry through a fresh lookup.
    """

    def __init__(self, find: Any) -> None:
        self._find = find  # () -> the current collection of that name
        self._collection = find()

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._collection, attribute)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            from chromadb.errors import NotFoundError

            try:
                return getattr(self._collection, attribute)(*args, **kwargs)
            except NotFoundError:
                try:
                    self._collection = self._find()
                except NotFoundError as error:  # dropped and not created again (yet)
                    raise StoreMissingError(
                        "the collection is gone from the Chroma server (an ingest --rebuild is "
                        "under way, or it was deleted): retry shortly, or run `newsrag ingest`"
                    ) from error
                return getattr(self._collection, attribute)(*args, **kwargs)

        return call


class VectorStore:
    """One Chroma collection of chunk vectors (cosine), written and read with explicit embeddings."""

    def __init__(self, client: Any, collection: Any, *, settings: Settings) -> None:
        self.client = client
        self.collection = collection
        self.settings = settings
        self.max_batch = int(getattr(client, "get_max_batch_size", lambda: 5000)() or 5000)
        self._stamp = self._manifest_stamp()
        self._refresh_lock = threading.Lock()

    @classmethod
    def open(cls, *, settings: Settings, create: bool = True) -> VectorStore:
        """Open (or create) the collection locally under index_dir, or on the configured server."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from chromadb.errors import NotFoundError

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if settings.chroma_host:
                client = chromadb.HttpClient(
                    host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
                )
                client.heartbeat()
            else:
                path = Path(settings.index_dir) / CHROMA_SUBDIR
                if not create and not path.exists():
                    raise StoreMissingError(f"no index at {path}: run `newsrag ingest` first")
                if path.exists() and any(path.iterdir()) and not (path / CHROMA_DATABASE).exists():
                    raise StoreError(
                        f"the Chroma index in {path} is damaged ({CHROMA_DATABASE} is missing): "
                        "run `newsrag check --repair`, then `newsrag ingest`"
                    )
                path.mkdir(parents=True, exist_ok=True)
                client = _private_client(chromadb, path, chroma_settings)
            if create:
                # embedding_function=None: Chroma must never embed (its default downloads a model).
                collection: Any = client.get_or_create_collection(
                    name=settings.collection,
                    embedding_function=None,
                    metadata={"hnsw:space": "cosine"},
                )
                if settings.chroma_host:
                    collection = _ServerCollection(
                        lambda: client.get_collection(settings.collection, embedding_function=None)
                    )
            else:
                try:
                    collection = client.get_collection(settings.collection, embedding_function=None)
                    if settings.chroma_host:
                        collection = _ServerCollection(
                            lambda: client.get_collection(
                                settings.collection, embedding_function=None
                            )
                        )
                except NotFoundError as error:
                    raise StoreMissingError(
                        f"the vector store has no collection {settings.collection!r} "
                        "(deleted or never built): run `newsrag ingest`"
                    ) from error
        except StoreError:
            raise
        except Exception as error:
            where = (
                f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
                if settings.chroma_host
                else f"Chroma index in {settings.index_dir}"
            )
            raise StoreError(f"cannot open {where}: {error}") from error
        return cls(client, collection, settings=settings)

    def _manifest_stamp(self) -> int | None:
        if self.settings.chroma_host:
            return None  # a server keeps one up-to-date index for every client
        return manifest_stamp(Path(self.settings.index_dir))

    def refresh_if_changed(self) -> bool:
        """Reopen the local store when an ingest (any process) finished since it was opened."""
        stamp = self._manifest_stamp()
        if stamp is None or stamp == self._stamp:
            return False  # no manifest: an ingest --rebuild is under way, keep the old view
        with self._refresh_lock:
            if stamp == self._stamp:
                return False
            try:
                fresh = VectorStore.open(settings=self.settings, create=False)
            except StoreError as error:  # damaged meanwhile: keep serving the old view
                logger.warning("keeping the vectors loaded before: %s", error)
                return False
            self.client, self.collection, self._stamp = fresh.client, fresh.collection, stamp
        gc.collect()  # the replaced Chroma system sits in reference cycles: free its memory now
        return True

    def describe(self) -> str:
        """Where the vectors live, for messages and stats."""
        if self.settings.chroma_host:
            return f"chroma server {self.settings.chroma_host}:{self.settings.chroma_port}"
        return f"chroma dir {Path(self.settings.index_dir) / CHROMA_SUBDIR}"

    def count(self) -> int:
        """Number of chunks stored."""
        return int(self.collection.count())

    def upsert(
        self, chunks: Sequence[Chunk], articles: Sequence[ArticleMeta], vectors: np.ndarray
    ) -> None:
        """Write chunks with their vectors, in batches the server accepts."""
        for begin in range(0, len(chunks), self.max_batch):
            end = begin + self.max_batch
            batch = chunks[begin:end]
            self.collection.upsert(
                ids=[chunk.id for chunk in batch],
                embeddings=vectors[begin:end].astype(np.float32),
                documents=[chunk.text for chunk in batch],
                metadatas=[
                    chunk_metadata(chunk, article)
                    for chunk, article in zip(batch, articles[begin:end], strict=True)
                ],
            )

    def delete_articles(self, article_ids: Iterable[str]) -> None:
        """Delete every chunk of these articles (old versions and orphans included)."""
        ids = sorted(set(article_ids))
        for begin in range(0, len(ids), 500):
            self.collection.delete(where={"article_id": {"$in": ids[begin : begin + 500]}})

    def delete_chunks(self, chunk_ids: Sequence[str]) -> None:
        """Delete chunks by id."""
        for begin in range(0, len(chunk_ids), self.max_batch):
            self.collection.delete(ids=list(chunk_ids[begin : begin + self.max_batch]))

    def ids_for_articles(self, article_ids: Sequence[str]) -> list[str]:
        """Every stored chunk id of these articles."""
        ids: list[str] = []
        for begin in range(0, len(article_ids), 500):
            batch = list(article_ids[begin : begin + 500])
            result = self.collection.get(where={"article_id": {"$in": batch}}, include=[])
            ids.extend(result["ids"])
        return ids

    def existing_ids(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of these chunk ids are already stored (lets an interrupted ingest resume)."""
        found: set[str] = set()
        for begin in range(0, len(chunk_ids), self.max_batch):
            result = self.collection.get(
                ids=list(chunk_ids[begin : begin + self.max_batch]), include=[]
            )
            found.update(result["ids"])
        return found

    def all_ids(self) -> list[str]:
        """Every stored chunk id (for consistency checks)."""
        ids: list[str] = []
        total = self.count()
        for offset in range(0, total, self.max_batch):
            result = self.collection.get(include=[], limit=self.max_batch, offset=offset)
            ids.extend(result["ids"])
        return ids

    def drop_collection(self) -> None:
        """Delete the whole collection (ingest --rebuild on a Chroma server)."""
        self.client.delete_collection(self.settings.collection)

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these chunk ids (missing ids are left out)."""
        return {chunk_id: vector for chunk_id, (_, vector) in self._with_vectors(chunk_ids, [])}

    def get_with_vectors(
        self, chunk_ids: Sequence[str]
    ) -> dict[str, tuple[StoredChunk, np.ndarray]]:
        """Chunks, article metadata and vectors by id (ingest reuses stored vectors)."""
        return dict(self._with_vectors(chunk_ids, ["documents", "metadatas"]))

    def _with_vectors(
        self, chunk_ids: Sequence[str], include: list[str]
    ) -> Iterator[tuple[str, tuple[StoredChunk, np.ndarray]]]:
        for begin in range(0, len(chunk_ids), self.max_batch):
            result = self.collection.get(
                ids=list(chunk_ids[begin : begin + self.max_batch]),
                include=["embeddings", *include],
            )
            ids = result["ids"]
            embeddings = result["embeddings"] if result["embeddings"] is not None else []
            documents = result.get("documents") or [""] * len(ids)
            metadatas = result.get("metadatas") or [{}] * len(ids)
            for chunk_id, document, metadata, vector in zip(
                ids, documents, metadatas, embeddings, strict=False
            ):
                chunk, article = _from_record(chunk_id, document or "", dict(metadata or {}))
                yield chunk_id, (StoredChunk(chunk, article), np.asarray(vector, dtype=np.float32))

    def get(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        """Fetch chunks and their article metadata by id."""
        if not chunk_ids:
            return {}
        result = self.collection.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        found: dict[str, StoredChunk] = {}
        for chunk_id, document, metadata in zip(
            result["ids"], result["documents"] or [], result["metadatas"] or [], strict=False
        ):
            chunk, article = _from_record(chunk_id, document or "", dict(metadata or {}))
            found[chunk_id] = StoredChunk(chunk, article)
        return found

    def nearest(
        self, vector: np.ndarray, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the nearest chunks, best first (no text: get() it)."""
        self.refresh_if_changed()
        if limit <= 0 or self.count() == 0:
            return []
        result = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=limit,
            where=where_clause(filters),
            include=["distances"],
        )
        distances = (result["distances"] or [[]])[0]
        return [
            (chunk_id, 1.0 - float(distance))
            for chunk_id, distance in zip(result["ids"][0], distances, strict=False)
        ]

    # ---- scale-out: the server-side manifest collection and whole-passage reads (issue 17) -----
    def _manifest_collection(self) -> Any:
        """The small collection beside the chunks that holds the index's identity, version,
        article records and ingest lease (opened once; created on first use)."""
        collection = getattr(self, "_manifest_records", None)
        if collection is None:
            # A one-number fixed vector: Chroma never embeds (its default function downloads a model).
            name = f"{self.settings.collection}-manifest"
            client = self.client

            def find() -> Any:
                return client.get_or_create_collection(name=name, embedding_function=None)

            collection = _ServerCollection(find) if self.settings.chroma_host else find()
            self._manifest_records = collection
        return collection

    def put_records(self, records: Sequence[tuple[str, str, dict[str, str | int | float]]]) -> None:
        """Write manifest records (id, JSON document, metadata), each with the fixed vector [1.0]."""
        collection = self._manifest_collection()
        for begin in range(0, len(records), self.max_batch):
            batch = records[begin : begin + self.max_batch]
            collection.upsert(
                ids=[record_id for record_id, _, _ in batch],
                embeddings=np.ones((len(batch), 1), dtype=np.float32),
                documents=[document for _, document, _ in batch],
                metadatas=[dict(metadata) for _, _, metadata in batch],
            )

    def get_records(self, record_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Manifest records by id: id -> (document, metadata); absent ids are left out."""
        if not record_ids:
            return {}
        result = self._manifest_collection().get(
            ids=list(record_ids), include=["documents", "metadatas"]
        )
        return {
            record_id: (document or "", dict(metadata or {}))
            for record_id, document, metadata in zip(
                result["ids"], result["documents"] or [], result["metadatas"] or [], strict=False
            )
        }

    def find_records(self, where: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every manifest record whose metadata matches the `where` clause, read in pages."""
        collection = self._manifest_collection()
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        offset = 0
        while True:
            result = collection.get(
                where=where, include=["documents", "metadatas"], limit=self.max_batch, offset=offset
            )
            for record_id, document, metadata in zip(
                result["ids"], result["documents"] or [], result["metadatas"] or [], strict=False
            ):
                found[record_id] = (document or "", dict(metadata or {}))
            if len(result["ids"]) < self.max_batch:
                return found
            offset += self.max_batch

    def delete_records(self, record_ids: Sequence[str]) -> None:
        """Delete manifest records by id."""
        if record_ids:
            self._manifest_collection().delete(ids=list(record_ids))

    def passages(self, chunk_ids: Sequence[str]) -> list[StoredChunk]:
        """Stored chunks by id (texts and metadata, no vectors), in pages the server accepts."""
        found: list[StoredChunk] = []
        page = min(self.max_batch, 1000)
        for begin in range(0, len(chunk_ids), page):
            found.extend(self.get(chunk_ids[begin : begin + page]).values())
        return found
