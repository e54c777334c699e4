"""Incremental ingest: read, hash, diff against the manifest, chunk, embed, write Chroma and BM25."""

from __future__ import annotations

import ctypes
import gc
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsrag.articles import Skipped, iter_corpus
from newsrag.chunking import Chunker, PassageSignature, chunk_stream, embed_text_for
from newsrag.config import Settings
from newsrag.embedding import Embedder, GroupEmbedder, StoredVector, model_identity
from newsrag.index import incomplete_articles, remove_orphans, wipe_index
from newsrag.keyword import KeywordDocument, KeywordIndex
from newsrag.manifest import (
    ArticleRecord,
    Manifest,
    pause_for_tests,
)
from newsrag.models import Article, ArticleMeta, Chunk
from newsrag.scale_out import ingest_guard, publish_manifest
from newsrag.store import VectorStore, date_as_int, source_key

# Chunks embedded and written per store round trip: big enough to sort by length, small enough to
# make progress durable (an interrupted ingest resumes from what was written).
WRITE_GROUP = 1024
# New or changed articles read, chunked and written at a time (and at most this much text):
# what bounds an ingest's memory, whatever the size of the corpus.
ARTICLE_GROUP = 512
GROUP_CHARACTERS = 32_000_000


@dataclass
class IngestReport:
    """What one ingest did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)
    files: int = 0
    chunks_written: int = 0  # chunks of added/updated articles
    chunks_embedded: int = 0  # distinct texts that went through the model
    chunks_reused: int = 0  # already in the store (resumed ingest) or duplicate text
    chunks_known: int = 0  # of those reused: same text as a chunk already in the index
    chunks_near_duplicate: int = 0  # of those reused: passage nearly repeats an earlier one
    total_articles: int = 0
    total_chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ingested(self) -> int:
        """Articles that are now in the index from this corpus (new, updated or unchanged)."""
        return self.added + self.updated + self.unchanged

    @property
    def chunks_per_second(self) -> float:
        """Embedding throughput of this run."""
        return self.chunks_embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def summary(self) -> str:
        """The one-line summary printed after an ingest."""
        rate = f" ({self.chunks_per_second:.1f} chunks/s embedding)" if self.chunks_embedded else ""
        return (
            f"ingest: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.skipped)} skipped; {self.chunks_written} chunks "
            f"written{rate}; index holds {self.total_articles} articles, {self.total_chunks} chunks; "
            f"{self.seconds:.1f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [item.message() for item in self.skipped],
            "warnings": [item.message() for item in self.warnings],
            "files": self.files,
            "chunks_written": self.chunks_written,
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "chunks_known": self.chunks_known,
            "chunks_near_duplicate": self.chunks_near_duplicate,
            "total_articles": self.total_articles,
            "total_chunks": self.total_chunks,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "chunks_per_second": round(self.chunks_per_second, 2),
        }


def ingest(
    paths: Sequence[Path],
    *,
    settings: Settings,
    prune: bool = False,
    rebuild: bool = False,
    progress: bool = True,
    embedder: Embedder | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Bring the index in line with the corpus files; safe to re-run, resumes after a crash.

    The corpus is read, chunked, embedded and written in groups of at most ARTICLE_GROUP new or
    changed articles: memory holds one group, whatever the size of the corpus.
    on_progress(done, total) is called per model batch and group written (the browser's bar);
    total is the chunks made so far, so it grows while the streamed corpus is read.
    """
    started = time.perf_counter()
    index_dir = Path(settings.index_dir)
    with ingest_guard(settings) as lock_notes:  # server mode: the server's lease too
        if rebuild:
            wipe_index(settings=settings)
        manifest = Manifest.load(index_dir)
        # Before loading the model: another model's index is refused in a second, not a minute.
        manifest.check_model(embedder.identity if embedder else model_identity(settings))
        store = VectorStore.open(settings=settings)
        embedder = embedder or Embedder.load(settings=settings)
        keyword = KeywordIndex(index_dir, load=False)
        keyword.clear_staged()  # documents of a killed run are made again
        report = IngestReport()
        report.warnings += [Skipped(str(index_dir), None, note) for note in lock_notes]
        # Articles whose chunks an interrupted run or a damaged index lost are indexed again.
        incomplete = incomplete_articles(manifest, store=store, keyword=keyword)
        for key in incomplete:
            del manifest.articles[key]
        if incomplete:
            report.warnings.append(
                Skipped(
                    str(index_dir),
                    None,
                    f"{len(incomplete)} indexed articles had chunks missing from the index "
                    "(interrupted or damaged): indexing them again",
                )
            )

        writer = _GroupWriter(
            settings=settings,
            manifest=manifest,
            store=store,
            embedder=embedder,
            keyword=keyword,
            report=report,
            progress=progress,
            on_progress=on_progress,
        )
        seen: set[str] = set()
        try:
            groups = _pending_groups(
                paths, settings=settings, manifest=manifest, report=report, seen=seen
            )
            for group in groups:
                writer.write_articles(group)
                _release_free_memory()
        finally:
            writer.close()
        removed_ids = [key for key in manifest.articles if key not in seen] if prune else []
        report.removed = len(removed_ids)
        if removed_ids:
            store.delete_articles(removed_ids)
        pause_for_tests("after_store")
        if writer.records or removed_ids or not keyword.exists():
            # Changed articles' old documents go even when the new version has no chunk.
            keyword.update(remove_articles=[*removed_ids, *writer.records])
        pause_for_tests("after_keyword")

        manifest.articles.update(writer.records)
        for key in removed_ids:
            del manifest.articles[key]
        # Chunks no article owns (left by interrupted runs) leave both indexes.
        expected = {chunk for record in manifest.articles.values() for chunk in record.chunk_ids}
        store_orphans, keyword_orphans, _ = remove_orphans(expected, store=store, keyword=keyword)
        manifest.spare_chunks = ()  # reused above or removed as orphans
        if store_orphans or keyword_orphans:
            report.warnings.append(
                Skipped(
                    str(index_dir),
                    None,
                    f"removed {len(store_orphans)} Chroma and {len(keyword_orphans)} BM25 chunks "
                    "that no indexed article owns (left by an interrupted run)",
                )
            )
        manifest.model = embedder.identity
        manifest.dimension = embedder.dimension
        manifest.chunk_size = settings.chunk_size
        manifest.chunk_overlap = settings.chunk_overlap
        report.total_articles = len(manifest.articles)
        report.total_chunks = manifest.chunk_count
        report.seconds = time.perf_counter() - started
        manifest.last_ingest = {
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **{
                key: value
                for key, value in report.to_dict().items()
                if key not in ("skipped", "warnings")
            },
            "skipped_count": len(report.skipped),
        }
        publish_manifest(manifest, settings=settings)  # server mode: before the local copy
        manifest.save(index_dir)  # last: until here a re-run redoes (and resumes) this work
    return report


def _pending_groups(
    paths: Sequence[Path],
    *,
    settings: Settings,
    manifest: Manifest,
    report: IngestReport,
    seen: set[str],
) -> Iterator[list[Article]]:
    """Read the files; yield the new or changed articles in bounded groups, note every id seen."""
    group: list[Article] = []
    characters, previous = 0, None
    for path, result in iter_corpus(paths, settings=settings, batch_size=ARTICLE_GROUP):
        report.files += path != previous  # a big JSONL/CSV file comes in several parts
        previous = path
        report.skipped.extend(result.skipped)
        report.warnings.extend(result.warnings)
        for article in result.articles:  # iter_corpus has dropped duplicate ids, naming them
            seen.add(article.id)
            record = manifest.articles.get(article.id)
            if record is not None and record.content_hash == article.content_hash:
                report.unchanged += 1
                continue
            if record is None:
                report.added += 1
            else:
                report.updated += 1
            group.append(article)
            characters += len(article.text)
            if len(group) >= ARTICLE_GROUP or characters >= GROUP_CHARACTERS:
                yield group
                group, characters = [], 0
    if group:
        yield group


class _GroupWriter:
    """Chunks, embeds and writes groups of articles; remembers their manifest records."""

    def __init__(
        self,
        *,
        settings: Settings,
        manifest: Manifest,
        store: VectorStore,
        embedder: Embedder,
        keyword: KeywordIndex,
        report: IngestReport,
        progress: bool,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        from tqdm import tqdm

        self.settings, self.store, self.keyword, self.report = settings, store, keyword, report
        self.chunker = Chunker(settings=settings, tokenizer=embedder.tokenizer_function())
        self.records: dict[str, ArticleRecord] = {}
        self.writes = 0
        self.embedder = GroupEmbedder(
            embedder,
            fetch=lambda chunk_ids: _stored_vectors(store, chunk_ids),
            indexed={
                chunk_id.rsplit("-", 1)[-1]: chunk_id
                for record in manifest.articles.values()
                for chunk_id in record.chunk_ids
            },
            near_threshold=settings.near_duplicate_threshold or None,
            near_folder=Path(settings.index_dir),  # the run's passage signatures, on disk
        )
        self.bar = tqdm(
            unit="chunk",
            desc="embedding",
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
            delay=1e-9,  # drawn at the first update, once there is a total: no empty "0chunk" bar
        )
        self.on_progress = on_progress
        self.done = 0  # chunks embedded or reused so far (a disabled bar counts nothing)
        self.embed_seconds = 0.0

    def write_articles(self, articles: list[Article]) -> None:
        """Chunk (a thread runs ahead), embed each new distinct text once, upsert, stage BM25.

        Chunks an interrupted run already wrote are not embedded again; neither are texts
        embedded earlier in this run or already in the index, nor (near_duplicate_threshold > 0)
        passages that nearly repeat an earlier one.
        """
        began = time.perf_counter()
        metas = {article.id: article.metadata() for article in articles}
        pool: list[tuple[Chunk, int, PassageSignature | None]] = []
        documents: list[KeywordDocument] = []
        signatures = bool(self.settings.near_duplicate_threshold)
        stream = chunk_stream(articles, self.chunker, signatures=signatures)
        for done, item in enumerate(stream, start=1):
            article = item.article
            self.records[article.id] = ArticleRecord(
                content_hash=article.content_hash,
                chunk_ids=tuple(chunk.id for chunk in item.chunks),
                path=article.path,
                title=article.title,
                date=article.date,
                source=article.source,
                url=article.url,
            )
            documents += _keyword_documents(metas[article.id], item.chunks, self.keyword)
            pool.extend(zip(item.chunks, item.lengths, item.signatures, strict=True))
            self.report.chunks_written += len(item.chunks)
            self.bar.total = (self.bar.total or 0) + len(item.chunks)
            # The first group is small: the model starts as soon as two batches are chunked.
            first = min(WRITE_GROUP, 2 * self.settings.embedding_batch_size)
            size = WRITE_GROUP if self.writes else first
            while len(pool) >= size or (done == len(articles) and pool):
                self._write(pool[:size], metas)
                del pool[:size]
                size = WRITE_GROUP
            if len(documents) >= WRITE_GROUP:  # token lists are a group's largest part: to disk
                self.keyword.stage(documents)
                documents = []
        # Old versions' chunks leave Chroma; BM25 documents wait, staged, for the end of the run.
        new_ids = {chunk_id for key in metas for chunk_id in self.records[key].chunk_ids}
        _delete_stale(self.store, list(metas), new_ids)
        self.keyword.stage(documents)
        self.embed_seconds += time.perf_counter() - began

    def _write(
        self, group: list[tuple[Chunk, int, PassageSignature | None]], metas: dict[str, ArticleMeta]
    ) -> None:
        already = self.store.existing_ids([chunk.id for chunk, _, _ in group])
        todo = [item for item in group if item[0].id not in already]
        for chunk, _, _ in group:
            if chunk.id in already:
                self.embedder.remember(chunk)
        self.report.chunks_reused += len(group) - len(todo)
        self._advance(len(group) - len(todo))
        if todo:
            before = self.embedder.counts.embedded
            vectors = self.embedder.vectors(
                [chunk for chunk, _, _ in todo],
                lengths=[length for _, length, _ in todo],
                signatures=[signature for _, _, signature in todo],
                on_batch=self._advance,
                batch_size=self.settings.embedding_batch_size,  # this ingest's, not the model's
            )
            self._advance(len(todo) - (self.embedder.counts.embedded - before))
            chunks = [chunk for chunk, _, _ in todo]
            self.store.upsert(chunks, [metas[chunk.article_id] for chunk in chunks], vectors)
        self.writes += 1
        if self.writes == 1:
            pause_for_tests("embedding")  # test-only: one group written, the rest not

    def _advance(self, count: int) -> None:
        """count more chunks are done: the bar and on_progress move."""
        self.bar.update(count)
        self.done += count
        if self.on_progress is not None and count:
            self.on_progress(self.done, max(self.done, self.report.chunks_written))

    def close(self) -> None:
        """Close the bar and note what the model did and was spared."""
        self.bar.close()
        if self.embedder.near is not None:
            self.embedder.near.close()
        report, counts = self.report, self.embedder.counts
        report.embed_seconds = self.embed_seconds
        report.chunks_embedded = counts.embedded
        report.chunks_reused += counts.exact + counts.indexed + counts.near
        report.chunks_known, report.chunks_near_duplicate = counts.indexed, counts.near


def _release_free_memory() -> None:
    """Hand the freed memory of a finished group back to the system (glibc only).

    glibc keeps freed blocks in per-thread arenas (the chunking thread, Chroma's and torch's
    threads each have one): without this each group's peak stays resident and the next one is
    built on top (measured: 27 MB less peak at 28,743 chunks, docs/benchmarks.md).
    """
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # musl or another libc: nothing to trim
        return None


_LIBC = _load_libc()


def _stored_vectors(store: VectorStore, chunk_ids: list[str]) -> dict[str, StoredVector]:
    """Embed text and vector of stored chunks: dedupe reads them back instead of embedding."""
    return {
        chunk_id: (embed_text_for(stored.article, stored.chunk.text), vector)
        for chunk_id, (stored, vector) in store.get_with_vectors(chunk_ids).items()
    }


def _delete_stale(store: VectorStore, article_ids: list[str], keep: set[str]) -> None:
    """Delete stored chunks of these articles that the new version does not have."""
    if not article_ids:
        return
    stale = [chunk_id for chunk_id in store.ids_for_articles(article_ids) if chunk_id not in keep]
    store.delete_chunks(stale)


def _keyword_documents(
    meta: ArticleMeta, chunks: list[Chunk], keyword: KeywordIndex
) -> list[KeywordDocument]:
    return [
        KeywordDocument(
            chunk_id=chunk.id,
            article_id=meta.id,
            date_int=date_as_int(meta.date),
            source_key=source_key(meta.source),
            tokens=keyword.tokenizer.tokens(chunk.embed_text),
        )
        for chunk in chunks
    ]
