"""BM25 keyword index persisted in index/keyword: updated on ingest, loaded once, reloaded only when changed."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsrag.keyword_build import build_matrix
from newsrag.models import Filters
from newsrag.stopwords import STOPWORDS
from newsrag.store import StoreError

KEYWORD_SUBDIR = "keyword"
TOKEN_PATTERN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
MAX_QUERY_TOKENS = 256


class KeywordIndexError(StoreError):
    """The keyword index on disk is missing or unreadable (a StoreError: callers catch one kind)."""


class Tokenizer:
    """Lowercase word tokens, stop words dropped, Snowball-stemmed (the same for documents and queries)."""

    def __init__(self) -> None:
        import Stemmer

        self.stemmer = Stemmer.Stemmer("english")

    def tokens(self, text: str) -> list[str]:
        """Tokenize one text."""
        words = [word.replace("’", "'") for word in TOKEN_PATTERN.findall(text.casefold())]
        kept = [word for word in words if word not in STOPWORDS]
        return list(self.stemmer.stemWords(kept))


@dataclass(frozen=True)
class KeywordDocument:
    """What BM25 needs of one chunk: its tokens and the fields filters look at."""

    chunk_id: str
    article_id: str
    date_int: int
    source_key: str
    tokens: list[str]


def _row(document: KeywordDocument) -> tuple[str, str, int, str, str]:
    return (
        document.chunk_id,
        document.article_id,
        document.date_int,
        document.source_key,
        " ".join(document.tokens),
    )


class KeywordIndex:
    """BM25 over chunk texts; documents live in SQLite, the bm25s matrix in a generation folder."""

    def __init__(self, index_dir: Path, *, load: bool = True) -> None:
        self.root = Path(index_dir) / KEYWORD_SUBDIR
        self.tokenizer = Tokenizer()
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._bm25: Any = None
        self._chunk_ids: list[str] = []
        self._dates = np.zeros(0, dtype=np.int64)
        self._sources = np.zeros(0, dtype=object)
        self._rows: dict[str, int] = {}  # chunk id -> row, built on first use (ranking priors)
        if load and self.exists():
            # Readers: a damaged index fails here, when it is opened, and not in the middle of a search.
            self._ensure_loaded()

    # ---- writing (ingest) -------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.root / "docs.sqlite", timeout=60)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS docs (chunk_id TEXT PRIMARY KEY, article_id TEXT NOT NULL,"
            " date_int INTEGER NOT NULL, source_key TEXT NOT NULL, tokens TEXT NOT NULL)"
        )
        connection.execute("CREATE INDEX IF NOT EXISTS docs_article ON docs(article_id)")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS staged (chunk_id TEXT PRIMARY KEY, article_id TEXT NOT NULL,"
            " date_int INTEGER NOT NULL, source_key TEXT NOT NULL, tokens TEXT NOT NULL)"
        )
        return connection

    def stage(self, documents: Sequence[KeywordDocument]) -> None:
        """Set an ingest group's documents aside (unsearched, unchecked) until update applies them.

        An ingest stages each group as it goes, so its BM25 tokens never pile up in memory.
        """
        with self._connect() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO staged VALUES (?, ?, ?, ?, ?)",
                [_row(document) for document in documents],
            )

    def clear_staged(self) -> None:
        """Forget documents staged by an ingest that did not finish."""
        if (self.root / "docs.sqlite").exists():
            with self._connect() as connection:
                connection.execute("DELETE FROM staged")

    def update(
        self, *, remove_articles: Iterable[str], add: Sequence[KeywordDocument] = ()
    ) -> None:
        """Delete these articles' documents, apply the staged and the new ones, rebuild BM25."""
        removed = sorted(set(remove_articles))
        with self._connect() as connection:
            connection.executemany(
                "DELETE FROM docs WHERE article_id = ?", [(article,) for article in removed]
            )
            connection.execute(
                "DELETE FROM docs WHERE article_id IN (SELECT DISTINCT article_id FROM staged)"
            )
            connection.execute("INSERT OR REPLACE INTO docs SELECT * FROM staged")
            connection.execute("DELETE FROM staged")
            connection.executemany(
                "INSERT OR REPLACE INTO docs VALUES (?, ?, ?, ?, ?)",
                [_row(document) for document in add],
            )
        self.rebuild()

    def document_ids(self) -> set[str]:
        """Chunk ids in the document table (for consistency checks)."""
        if not (self.root / "docs.sqlite").exists():
            return set()
        with self._connect() as connection:
            return {row[0] for row in connection.execute("SELECT chunk_id FROM docs")}

    def delete_chunks(self, chunk_ids: Sequence[str]) -> None:
        """Remove single chunks (repairs) and rebuild."""
        with self._connect() as connection:
            connection.executemany("DELETE FROM docs WHERE chunk_id = ?", [(c,) for c in chunk_ids])
        self.rebuild()

    def rebuild(self) -> None:
        """Build the bm25s matrix from every stored document into a new generation, then switch."""
        chunk_ids: list[str] = []
        dates: list[int] = []
        sources: list[str] = []
        with self._connect() as connection:
            connection.execute("BEGIN")  # one read transaction: every pass sees the same rows
            for chunk_id, date_int, source in connection.execute(
                "SELECT chunk_id, date_int, source_key FROM docs ORDER BY chunk_id"
            ):
                chunk_ids.append(chunk_id)
                dates.append(date_int)
                sources.append(source)

            def read_tokens() -> Iterator[str]:
                # Row by row, twice (keyword_build.py): no list of every document's tokens.
                for (tokens,) in connection.execute("SELECT tokens FROM docs ORDER BY chunk_id"):
                    yield tokens

            matrix = build_matrix(read_tokens)
            connection.execute("COMMIT")
        previous = self._current_generation()
        number = int(previous.split("-")[1]) + 1 if previous else 1
        # A random suffix keeps names unique across `ingest --rebuild` (which restarts the count):
        # a long-running reader notices a new generation by its name.
        generation = f"gen-{number:06d}-{secrets.token_hex(4)}"
        folder = self.root / generation
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if matrix is not None:
            matrix.save(folder / "bm25")
        del matrix
        meta = {"chunk_ids": chunk_ids, "dates": dates, "sources": sources}
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        pointer = self.root / "current.tmp"
        pointer.write_text(generation, encoding="utf-8")
        os.replace(
            pointer, self.root / "current"
        )  # atomic switch: readers see old or new, never half
        # Keep the previous generation: a reader that has just read the old pointer still loads it.
        keep = {generation, previous}
        for old in self.root.glob("gen-*"):
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)

    # ---- reading (queries) ------------------------------------------------------------------
    def _current_generation(self) -> str | None:
        try:
            return (self.root / "current").read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def exists(self) -> bool:
        """True when a built index is on disk."""
        return self._current_generation() is not None

    def _ensure_loaded(self) -> None:
        import bm25s

        generation = self._current_generation()
        if generation is None:
            if self._generation is not None:
                return  # an ingest --rebuild wiped the folder: keep what is loaded until it is back
            raise KeywordIndexError(f"no keyword index in {self.root}: run `newsrag ingest`")
        if generation == self._generation:
            return
        folder = self.root / generation
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=False) if meta["chunk_ids"] else None
        except FileNotFoundError as error:
            # An ingest switched generations between our two reads: use the newer one next time.
            if self._generation is not None:
                return
            raise KeywordIndexError(
                f"keyword index in {self.root} is incomplete: run `newsrag check --repair`"
            ) from error
        except Exception as error:  # truncated or foreign files fail in many ways
            raise KeywordIndexError(
                f"keyword index in {self.root} is unreadable ({error}): run `newsrag check --repair`"
            ) from error
        self._bm25 = bm25
        self._chunk_ids = list(meta["chunk_ids"])
        self._dates = np.asarray(meta["dates"], dtype=np.int64)
        self._sources = np.asarray(meta["sources"], dtype=object)
        self._rows = {}
        self._generation = generation

    def generation_ids(self) -> list[str] | None:
        """Chunk ids the current BM25 generation lists (None if there is none); loads no matrix."""
        generation = self._current_generation()
        if generation is None:
            return None
        meta = json.loads((self.root / generation / "meta.json").read_text(encoding="utf-8"))
        return [str(chunk_id) for chunk_id in meta["chunk_ids"]]

    def __len__(self) -> int:
        with self._lock:
            self._ensure_loaded()
            return len(self._chunk_ids)

    def search(
        self, query: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """Best chunk ids by BM25 for the query, filters applied, scores > 0 only."""
        tokens = self.tokenizer.tokens(query)[:MAX_QUERY_TOKENS]
        with self._lock:
            self._ensure_loaded()
            if self._bm25 is None or not tokens or limit <= 0:
                return []
            known = [token for token in tokens if token in self._bm25.vocab_dict]
            if not known:
                return []
            scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
            return self._top(scores, limit=limit, filters=filters)

    def _top(
        self, scores: np.ndarray, *, limit: int, filters: Filters | None
    ) -> list[tuple[str, float]]:
        """The best-scoring chunk ids (score > 0) that pass the filters, best first (lock held)."""
        mask = self._filter_mask(filters)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        count = min(limit, int(np.count_nonzero(scores > 0)))
        if count == 0:
            return []
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._chunk_ids[index], float(scores[index])) for index in top]

    def _filter_mask(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None or filters.is_empty():
            return None
        mask = np.ones(len(self._chunk_ids), dtype=bool)
        since, until = filters.date_bounds()
        if since is not None:
            mask &= self._dates >= since
        if until is not None:
            mask &= (self._dates <= until) & (self._dates > 0)
        if filters.sources:
            mask &= np.isin(self._sources, filters.source_keys())
        return mask

    # ---- read-only helpers for ranking (newsrag/ranking.py) ---------------------------------
    def search_weighted(
        self, weighted: Sequence[tuple[str, float]], *, limit: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """Like search, over already-tokenized terms each with its own weight (sum of weighted BM25)."""
        with self._lock:
            self._ensure_loaded()
            if self._bm25 is None or limit <= 0:
                return []
            known = [
                (token, weight) for token, weight in weighted if token in self._bm25.vocab_dict
            ]
            if not known:
                return []
            scores = np.zeros(len(self._chunk_ids), dtype=np.float32)
            for token, weight in known:
                scores += np.float32(weight) * np.asarray(self._bm25.get_scores([token]))
            return self._top(scores, limit=limit, filters=filters)

    def document_frequencies(self, tokens: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each token, and the number of chunks (for idf weights)."""
        with self._lock:
            self._ensure_loaded()
            if self._bm25 is None:
                return {}, 0
            pointers = self._bm25.scores["indptr"]  # CSC: a token's column spans its documents
            vocabulary = self._bm25.vocab_dict
            counts = {
                token: int(pointers[vocabulary[token] + 1] - pointers[vocabulary[token]])
                for token in tokens
                if token in vocabulary
            }
            return counts, len(self._chunk_ids)

    def chunk_dates(self, chunk_ids: Sequence[str]) -> dict[str, int]:
        """YYYYMMDD of each listed chunk's article (0 when undated or unknown)."""
        with self._lock:
            self._ensure_loaded()
            if not self._rows and self._chunk_ids:
                self._rows = {chunk_id: row for row, chunk_id in enumerate(self._chunk_ids)}
            rows = self._rows
            return {
                chunk_id: int(self._dates[rows[chunk_id]]) if chunk_id in rows else 0
                for chunk_id in chunk_ids
            }
