"""Hybrid retrieval: dense (Chroma) + BM25, fused, filtered, at most N chunks per article."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from newsrag.chunking import article_id_of
from newsrag.config import Settings
from newsrag.embedding import Embedder, model_identity
from newsrag.errors import IndexUnavailableError
from newsrag.keyword import KeywordIndex
from newsrag.manifest import Manifest
from newsrag.models import Filters, Hit, Question
from newsrag.question import QueryError, as_date, clean_query, make_filters, make_question
from newsrag.ranking import (
    TermWeight,
    best_sentence_coverage,
    chunk_ordinal,
    consensus_date,
    convex_fusion,
    coverage,
    expansion_terms,
    names_a_period,
    normalise,
    query_terms,
    recency_prior,
    reciprocal_rank_fusion,
    zscore_fusion,
)
from newsrag.scale_out import keyword_index, sync_worker_cache
from newsrag.store import StoredChunk, VectorStore

__all__ = [  # QueryError and the question helpers live in question.py: re-exported for callers
    "IndexFacts",
    "IndexMissingError",
    "QueryError",
    "Retriever",
    "as_date",
    "build_llamaindex_retriever",
    "cap_per_article",
    "clean_query",
    "make_filters",
    "make_question",
]

Item = TypeVar("Item")


class IndexMissingError(IndexUnavailableError, RuntimeError):
    """There is no index to search yet."""

    hint = "run `newsrag ingest` first"


@dataclass(frozen=True)
class IndexFacts:
    """What the index holds, for `stats`, the UI and /api/health."""

    articles: int
    chunks: int
    model: str | None
    date_from: str | None
    date_to: str | None
    sources: list[str]
    store: str
    size_bytes: int
    last_ingest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "articles": self.articles,
            "chunks": self.chunks,
            "model": self.model,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "sources": self.sources,
            "store": self.store,
            "size_bytes": self.size_bytes,
            "last_ingest": self.last_ingest,
        }


def _article_of_hit(hit: Any) -> str:
    return str(hit.article.id)


def cap_per_article(
    items: Sequence[Item],
    *,
    per_article: int,
    limit: int,
    article_of: Callable[[Item], str] = _article_of_hit,
) -> list[Item]:
    """Keep items (hits by default) in order, at most per_article of any one article, up to limit."""
    kept: list[Item] = []
    counts: dict[str, int] = {}
    for item in items:
        article_id = article_of(item)
        seen = counts.get(article_id, 0)
        if seen >= per_article:
            continue
        counts[article_id] = seen + 1
        kept.append(item)
        if len(kept) >= limit:
            break
    return kept


class Retriever:
    """Searches the index; open once, query many times (nothing is rebuilt per query)."""

    def __init__(
        self,
        *,
        settings: Settings,
        embedder: Embedder,
        store: VectorStore,
        keyword: KeywordIndex,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.keyword = keyword

    @classmethod
    def open(cls, settings: Settings, *, embedder: Embedder | None = None) -> Retriever:
        """Open the index named by settings; a missing index or another model is a clear error."""
        index_dir = Path(settings.index_dir)
        sync_worker_cache(settings)  # server mode: the local manifest and BM25 follow the server
        manifest = Manifest.load(index_dir)
        if manifest.model is None:
            raise IndexMissingError(
                f"no index in {index_dir}: run `newsrag ingest {settings.corpus_dir}` first"
            )
        # Refuse a foreign index before spending seconds loading a model for it.
        manifest.check_model(model_identity(settings))
        embedder = embedder or Embedder.load(settings=settings)
        manifest.check_model(embedder.identity)
        store = VectorStore.open(settings=settings, create=False)
        return cls(
            settings=settings, embedder=embedder, store=store, keyword=keyword_index(settings)
        )

    def facts(self) -> IndexFacts:
        """Articles, chunks, model, date span and size of the index."""
        index_dir = Path(self.settings.index_dir)
        manifest = Manifest.load(index_dir)
        date_from, date_to = manifest.date_span()
        size = sum(path.stat().st_size for path in index_dir.rglob("*") if path.is_file())
        return IndexFacts(
            articles=len(manifest.articles),
            chunks=manifest.chunk_count,
            model=manifest.model,
            date_from=date_from,
            date_to=date_to,
            sources=manifest.sources(),
            store=self.store.describe(),
            size_bytes=size,
            last_ingest=manifest.last_ingest,
        )

    def search(
        self,
        query: str | Question,
        k: int | None = None,
        *,
        timings: dict[str, float] | None = None,
        mode: str = "hybrid",
        recency: bool = True,
        explain: bool = False,
        **loose: Any,
    ) -> list[Hit]:
        """Top-k hits for a Question, or for a query with loose since/until/sources/filters/as_of
        (the keyword style of callers and tests, checked by question.make_question once).

        mode is 'hybrid' (default), 'dense' or 'keyword'. The question's as_of (the day it is
        asked) turns on the soft recency prior unless recency is False or the question names a
        period of its own; explain fills each Hit.explain.
        """
        if isinstance(query, Question):
            if loose or k is not None:
                raise TypeError("a Question carries its own k, filters and as_of")
            question = query
        else:
            question = make_question(query, settings=self.settings, k=k, **loose)
        return self._search(question, timings=timings, mode=mode, recency=recency, explain=explain)

    def _search(
        self,
        question: Question,
        *,
        timings: dict[str, float] | None,
        mode: str,
        recency: bool,
        explain: bool,
    ) -> list[Hit]:
        text, filters, reference = question.text, question.filters, question.as_of
        limit = self.settings.top_k if question.k is None else question.k
        # A period of its own ("in 2019") or a date filter: the question is not about "now".
        own_period = bool(filters.since or filters.until) or names_a_period(
            text, reference or dt.date.today()
        )
        if reference is not None and (not recency or own_period):
            reference = None
        timings = timings if timings is not None else {}
        candidates = max(self.settings.candidates, limit * 4)

        dense: list[tuple[str, float]] = []
        if mode in ("hybrid", "dense"):
            started = time.perf_counter()
            vector = self.embedder.embed_query(text)
            timings["embed_query"] = time.perf_counter() - started
            started = time.perf_counter()
            dense = self.store.nearest(vector, limit=candidates, filters=filters)
            timings["dense_search"] = time.perf_counter() - started
        started = time.perf_counter()
        terms = self._query_terms(text)
        keyword: list[tuple[str, float]] = []
        if mode in ("hybrid", "keyword"):
            keyword = self._keyword_candidates(text, terms, filters=filters, limit=candidates)
        timings["keyword_search"] = time.perf_counter() - started

        started = time.perf_counter()
        hits = self._fuse(
            dense,
            keyword,
            mode=mode,
            candidates=candidates,
            limit=limit,
            terms=terms,
            as_of=reference,
            consensus_on=recency and not own_period,
            explain=explain,
        )
        timings["fusion"] = time.perf_counter() - started
        return hits

    def _query_terms(self, text: str) -> list[TermWeight]:
        """idf-weighted query terms (names and numbers boosted as the settings say)."""
        tokens = self.keyword.tokenizer.tokens(text)
        frequencies, documents = self.keyword.document_frequencies(tokens)
        return query_terms(
            text,
            self.keyword.tokenizer,
            frequencies,
            documents,
            name_boost=self.settings.keyword_name_boost,
            number_boost=self.settings.keyword_number_boost,
        )

    def _keyword_candidates(
        self, text: str, terms: list[TermWeight], *, filters: Filters, limit: int
    ) -> list[tuple[str, float]]:
        """BM25 candidates: plain, with boosted query terms, and with pseudo-relevance feedback."""
        settings = self.settings
        boosted = settings.keyword_name_boost > 0 or settings.keyword_number_boost > 0
        if not boosted and settings.prf_documents == 0:
            return self.keyword.search(text, limit=limit, filters=filters)
        weighted = [(term.token, term.boost) for term in terms]
        first = self.keyword.search_weighted(weighted, limit=limit, filters=filters)
        if settings.prf_documents == 0 or not first:
            return first
        top = [chunk_id for chunk_id, _ in first[: settings.prf_documents]]
        texts = [stored.chunk.text for stored in self.store.get(top).values()]
        pool = [token for passage in texts for token in self.keyword.tokenizer.tokens(passage)]
        frequencies, documents = self.keyword.document_frequencies(sorted(set(pool)))
        extra = expansion_terms(
            texts,
            terms,
            self.keyword.tokenizer,
            frequencies,
            documents,
            count=settings.prf_terms,
        )
        weighted += [(token, settings.prf_weight) for token in extra]
        return self.keyword.search_weighted(weighted, limit=limit, filters=filters)

    def _fused_scores(
        self,
        dense: list[tuple[str, float]],
        keyword: list[tuple[str, float]],
        *,
        mode: str,
        candidates: int,
    ) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        """Fused score of every candidate, and each side's normalised scores (for explain)."""
        settings = self.settings
        dense_weight = settings.dense_weight if mode != "keyword" else 0.0
        keyword_weight = settings.keyword_weight if mode != "dense" else 0.0
        complete = len(keyword) < candidates
        if settings.fusion == "rrf":
            fused = reciprocal_rank_fusion(
                [[chunk_id for chunk_id, _ in dense], [chunk_id for chunk_id, _ in keyword]],
                weights=[dense_weight, keyword_weight],
                k=settings.rrf_k,
            )
            return fused, dict(dense), normalise(keyword, "max")
        if settings.fusion == "convex":
            fused = convex_fusion(
                dense,
                keyword,
                dense_weight=dense_weight,
                keyword_weight=keyword_weight,
                keyword_complete=complete,
            )
            return fused, dict(dense), normalise(keyword, "max")
        return zscore_fusion(
            dense,
            keyword,
            dense_weight=dense_weight,
            keyword_weight=keyword_weight,
            keyword_complete=complete,
        )

    def _fuse(
        self,
        dense: list[tuple[str, float]],
        keyword: list[tuple[str, float]],
        *,
        mode: str,
        candidates: int,
        limit: int,
        terms: list[TermWeight] | None = None,
        as_of: dt.date | None = None,
        consensus_on: bool = True,
        explain: bool = False,
    ) -> list[Hit]:
        """Fused, prior-adjusted, re-scored, capped top-limit hits (only a pool is read from the store)."""
        settings = self.settings
        terms = terms or []
        fused, dense_normal, keyword_normal = self._fused_scores(
            dense, keyword, mode=mode, candidates=candidates
        )
        parts: dict[str, dict[str, float]] = {chunk_id: {} for chunk_id in fused}
        consensus = (
            consensus_on and settings.consensus_documents > 0 and settings.consensus_weight > 0
        )
        dates = (
            self.keyword.chunk_dates(list(fused))
            if consensus or (as_of is not None and settings.recency_weight > 0)
            else {}
        )
        if consensus and as_of is None:
            order = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))
            middle = consensus_date(order, dates, count=settings.consensus_documents)
            for chunk_id in fused:
                if middle is None:
                    break
                parts[chunk_id]["consensus"] = settings.consensus_weight * recency_prior(
                    dates.get(chunk_id, 0),
                    middle,
                    half_life_days=settings.consensus_half_life_days,
                    future_half_life_days=settings.consensus_half_life_days,
                )
        if as_of is not None and settings.recency_weight > 0:
            for chunk_id in fused:
                parts[chunk_id]["recency"] = settings.recency_weight * recency_prior(
                    dates.get(chunk_id, 0),
                    as_of,
                    half_life_days=settings.recency_half_life_days,
                    future_half_life_days=settings.recency_future_half_life_days,
                    window_days=settings.recency_window_days,
                )
        if settings.lede_weight > 0:
            for chunk_id in fused:
                if chunk_ordinal(chunk_id) == 0:
                    parts[chunk_id]["lede"] = settings.lede_weight
        scores = {chunk_id: fused[chunk_id] + sum(parts[chunk_id].values()) for chunk_id in fused}
        rescoring = (settings.sentence_weight > 0 or settings.title_weight > 0) and bool(terms)
        pool_size = max(limit, settings.rescore_pool) if rescoring else limit
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        stored: dict[str, StoredChunk] = {}
        gone: set[str] = set()
        while True:  # again only when a chunk was deleted by a concurrent ingest since listed
            chosen = cap_per_article(
                [item for item in ranked if item[0] not in gone],
                per_article=settings.max_chunks_per_article,
                limit=pool_size,
                article_of=lambda item: article_id_of(item[0]),
            )
            stored |= self.store.get([chunk_id for chunk_id, _ in chosen if chunk_id not in stored])
            missing = {chunk_id for chunk_id, _ in chosen if chunk_id not in stored}
            if not missing:
                break
            gone |= missing
        if rescoring:
            tokenizer = self.keyword.tokenizer
            for chunk_id, _ in chosen:
                entry = stored[chunk_id]
                if settings.sentence_weight > 0:
                    parts[chunk_id]["sentence"] = settings.sentence_weight * best_sentence_coverage(
                        entry.chunk.text, terms, tokenizer, window=settings.sentence_window
                    )
                if settings.title_weight > 0:
                    parts[chunk_id]["title"] = settings.title_weight * coverage(
                        tokenizer.tokens(entry.article.title), terms
                    )
            chosen = sorted(
                (
                    (chunk_id, fused[chunk_id] + sum(parts[chunk_id].values()))
                    for chunk_id, _ in chosen
                ),
                key=lambda item: (-item[1], item[0]),
            )
        chosen = chosen[:limit]
        dense_by_id = {
            chunk_id: (rank, similarity) for rank, (chunk_id, similarity) in enumerate(dense, 1)
        }
        keyword_by_id = {
            chunk_id: (rank, score) for rank, (chunk_id, score) in enumerate(keyword, start=1)
        }
        hits: list[Hit] = []
        for chunk_id, score in chosen:
            dense_entry = dense_by_id.get(chunk_id)
            keyword_entry = keyword_by_id.get(chunk_id)
            hits.append(
                Hit(
                    chunk=stored[chunk_id].chunk,
                    article=stored[chunk_id].article,
                    score=score,
                    dense_score=dense_entry[1] if dense_entry else None,
                    keyword_score=keyword_entry[1] if keyword_entry else None,
                    dense_rank=dense_entry[0] if dense_entry else None,
                    keyword_rank=keyword_entry[0] if keyword_entry else None,
                    explain=self._explanation(
                        chunk_id, fused, parts, dense_normal, keyword_normal, as_of
                    )
                    if explain
                    else None,
                )
            )
        return hits

    def _explanation(
        self,
        chunk_id: str,
        fused: dict[str, float],
        parts: dict[str, dict[str, float]],
        dense_normal: dict[str, float],
        keyword_normal: dict[str, float],
        as_of: dt.date | None,
    ) -> dict[str, Any]:
        """Why a hit ranked where it did: each side's normalised score, fusion, every prior."""
        return {
            "fusion": self.settings.fusion,
            "dense_normalised": dense_normal.get(chunk_id),
            "keyword_normalised": keyword_normal.get(chunk_id),
            "fused": fused[chunk_id],
            "priors": dict(parts[chunk_id]),
            "as_of": as_of.isoformat() if as_of else None,
        }

    def as_llamaindex_retriever(
        self, k: int | None = None, *, filters: Filters | None = None
    ) -> Any:
        """A llama-index BaseRetriever over this retriever (nodes carry article metadata)."""
        return build_llamaindex_retriever(self, k=k, filters=filters)


def build_llamaindex_retriever(
    retriever: Retriever, *, k: int | None = None, filters: Filters | None = None
) -> Any:
    """Wrap a Retriever as a llama-index BaseRetriever (imported lazily)."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class NewsragLlamaIndexRetriever(BaseRetriever):
        """llama-index adapter: hybrid newsrag hits as NodeWithScore."""

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            hits = retriever.search(query_bundle.query_str, k, filters=filters)
            nodes: list[NodeWithScore] = []
            for hit in hits:
                metadata = {key: value for key, value in hit.article.to_dict().items() if value}
                metadata.update(
                    {"chunk_id": hit.chunk.id, "start": hit.chunk.start, "end": hit.chunk.end}
                )
                node = TextNode(id_=hit.chunk.id, text=hit.chunk.text, metadata=metadata)
                nodes.append(NodeWithScore(node=node, score=hit.score))
            return nodes

    return NewsragLlamaIndexRetriever()
