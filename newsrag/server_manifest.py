"""The index's identity, version and article records kept in the Chroma server (server mode)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from newsrag.config import Settings
from newsrag.manifest import ArticleRecord, Manifest, ManifestError
from newsrag.store import VectorStore

__all__ = ["IDENTITY_ID", "ServerIdentity", "ServerManifest"]

IDENTITY_ID = "identity"
ARTICLE_PREFIX = "article:"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ServerIdentity:
    """Which index the server holds (index_id, model, chunking) and its ingest version."""

    index_id: str
    version: int
    model: str | None = None
    dimension: int | None = None
    chunk_size: int | None = None
    chunk_overlap: int | None = None
    last_ingest: dict[str, Any] | None = None

    def same_index(self, other: ServerIdentity) -> bool:
        """True when both describe one index (versions aside): a cache of one serves the other."""
        return (self.index_id, self.model, self.dimension, self.chunk_size, self.chunk_overlap) == (
            other.index_id,
            other.model,
            other.dimension,
            other.chunk_size,
            other.chunk_overlap,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the identity record's document, and the worker cache's state)."""
        return {
            "format": FORMAT_VERSION,
            "index_id": self.index_id,
            "version": self.version,
            "model": self.model,
            "dimension": self.dimension,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "last_ingest": self.last_ingest or {},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerIdentity:
        """Inverse of to_dict; ManifestError when it is not one."""
        try:
            if data.get("format") != FORMAT_VERSION:
                raise ValueError(
                    f"format {data.get('format')!r}, this newsrag reads {FORMAT_VERSION}"
                )
            return cls(
                index_id=str(data["index_id"]),
                version=int(data["version"]),
                model=data.get("model"),
                dimension=data.get("dimension"),
                chunk_size=data.get("chunk_size"),
                chunk_overlap=data.get("chunk_overlap"),
                last_ingest=dict(data.get("last_ingest") or {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ManifestError(
                f"the server's index identity record is unreadable ({error}): "
                "run `newsrag ingest --rebuild`"
            ) from error


class ServerManifest:
    """Reads and publishes the manifest records of one collection on a Chroma server.

    Records (in `<collection>-manifest`): `identity` (index id, model, chunking, the ingest
    version that every publish raises by one) and one `article:<id>` per article ever indexed,
    holding its ArticleRecord and the version at which it last changed; a deleted article keeps
    a tombstone (state "deleted") so a worker that is behind learns to drop it.
    """

    def __init__(self, store: VectorStore) -> None:
        self.store = store

    def identity(self) -> ServerIdentity | None:
        """The identity record; None when nothing was ever published to this collection."""
        found = self.store.get_records([IDENTITY_ID])
        if IDENTITY_ID not in found:
            return None
        document, _ = found[IDENTITY_ID]
        try:
            data = json.loads(document)
        except ValueError as error:
            raise ManifestError(
                f"the server's index identity record is not JSON ({error}): "
                "run `newsrag ingest --rebuild`"
            ) from error
        return ServerIdentity.from_dict(data)

    def changes(self, *, after: int, upto: int) -> tuple[dict[str, ArticleRecord], list[str]]:
        """Articles changed in versions after..upto: (live records by id, deleted ids)."""
        where: dict[str, Any] = {
            "$and": [{"kind": "article"}, {"version": {"$gt": after}}, {"version": {"$lte": upto}}]
        }
        return self._split(self.store.find_records(where))

    def articles(self) -> dict[str, ArticleRecord]:
        """Every live article record."""
        live, _ = self._split(
            self.store.find_records({"$and": [{"kind": "article"}, {"state": "live"}]})
        )
        return live

    def _split(
        self, found: dict[str, tuple[str, dict[str, Any]]]
    ) -> tuple[dict[str, ArticleRecord], list[str]]:
        live: dict[str, ArticleRecord] = {}
        deleted: list[str] = []
        for record_id, (document, metadata) in found.items():
            article_id = str(metadata.get("article_id") or record_id[len(ARTICLE_PREFIX) :])
            if metadata.get("state") == "deleted":
                deleted.append(article_id)
                continue
            try:
                live[article_id] = ArticleRecord.from_dict(json.loads(document))
            except (ValueError, KeyError, TypeError) as error:
                raise ManifestError(
                    f"the server's manifest record {record_id!r} is unreadable ({error}): "
                    "run `newsrag ingest` to write it again"
                ) from error
        return live, sorted(deleted)

    def load(self) -> tuple[Manifest, ServerIdentity | None]:
        """The whole manifest as the server holds it (empty when never published)."""
        identity = self.identity()
        if identity is None:
            return Manifest(), None
        manifest = Manifest(
            model=identity.model,
            dimension=identity.dimension,
            chunk_size=identity.chunk_size,
            chunk_overlap=identity.chunk_overlap,
            articles=self.articles(),
            last_ingest=dict(identity.last_ingest or {}),
        )
        return manifest, identity

    def publish(
        self, manifest: Manifest, *, before_write: Callable[[], None] | None = None
    ) -> ServerIdentity:
        """Write the articles that differ from the server's, tombstones, then the raised version.

        The identity goes last: a worker that reads the new version finds every record of it.
        before_write runs just before the first write (the ingest checks it still holds the lease).
        """
        current = self.identity()
        previous = self.articles()
        version = (current.version if current else 0) + 1
        records: list[tuple[str, str, dict[str, str | int | float]]] = []
        for article_id, record in sorted(manifest.articles.items()):
            old = previous.get(article_id)
            if old is not None and (old.content_hash, old.chunk_ids) == (
                record.content_hash,
                record.chunk_ids,
            ):
                continue
            records.append(
                (
                    ARTICLE_PREFIX + article_id,
                    json.dumps(record.to_dict(), ensure_ascii=False),
                    {
                        "kind": "article",
                        "article_id": article_id,
                        "state": "live",
                        "version": version,
                    },
                )
            )
        for article_id in sorted(set(previous) - set(manifest.articles)):
            records.append(
                (
                    ARTICLE_PREFIX + article_id,
                    "",
                    {
                        "kind": "article",
                        "article_id": article_id,
                        "state": "deleted",
                        "version": version,
                    },
                )
            )
        identity = ServerIdentity(
            index_id=current.index_id if current else secrets.token_hex(8),
            version=version,
            model=manifest.model,
            dimension=manifest.dimension,
            chunk_size=manifest.chunk_size,
            chunk_overlap=manifest.chunk_overlap,
            last_ingest={
                **manifest.last_ingest,
                "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "changed_articles": len(records),
            },
        )
        if before_write is not None:
            before_write()
        self.store.put_records(records)
        self.store.put_records(
            [
                (
                    IDENTITY_ID,
                    json.dumps(identity.to_dict()),
                    {"kind": "identity", "version": version},
                )
            ]
        )
        return identity

    def reset(self) -> None:
        """Forget every article (ingest --rebuild): a new index id, the version still rises."""
        current = self.identity()
        records = self.store.find_records({"kind": "article"})
        self.store.delete_records(sorted(records))
        version = (current.version if current else 0) + 1
        identity = ServerIdentity(index_id=secrets.token_hex(8), version=version)
        self.store.put_records(
            [
                (
                    IDENTITY_ID,
                    json.dumps(identity.to_dict()),
                    {"kind": "identity", "version": version},
                )
            ]
        )


def open_server_manifest(settings: Settings) -> ServerManifest:
    """The manifest records of the configured server's collection."""
    return ServerManifest(VectorStore.open(settings=settings))
