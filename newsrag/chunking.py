"""Article -> Chunks with llama-index's sentence-aware splitter, each with offsets into the article."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import sqlite3
import tempfile
import threading
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from newsrag.config import Settings
from newsrag.models import Article, ArticleMeta, Chunk, content_hash

# Tokens kept free in each chunk for the title/date header that is embedded with it.
HEADER_TOKEN_RESERVE = 32
MAX_TITLE_CHARS = 160
# Tokenizers whose words never depend on their neighbours (WordPiece on whitespace/punctuation
# words): the token ids of a substring that starts and ends between words are exactly the
# whole text's ids of the words inside it.
_WORD_LOCAL_PRE_TOKENIZERS = ("BertPreTokenizer", "Whitespace", "WhitespaceSplit")
_WORD_LOCAL_NORMALIZERS = ("BertNormalizer", "NoneType")
_WORD_LOCAL_MODELS = ("WordPiece",)


def embed_text_for(article: Article | ArticleMeta, passage: str) -> str:
    """What the model embeds and BM25 indexes: title, outlet and date, then the passage."""
    facts = [part for part in (article.source, article.date) if part]
    title = article.title[:MAX_TITLE_CHARS]
    header = f"{title} ({', '.join(facts)})" if facts else title
    return f"{header}\n{passage}" if header else passage


def text_key(embed_text: str) -> str:
    """The hash of an embed text that ends every chunk id (finds stored copies of a text)."""
    return content_hash(embed_text)[:10]


def chunk_id_for(article_id: str, ordinal: int, embed_text: str) -> str:
    """Stable id: article id, ordinal and a hash of exactly what is embedded."""
    return f"{article_id}-{ordinal:04d}-{text_key(embed_text)}"


def article_id_of(chunk_id: str) -> str:
    """The article id a chunk id starts with (the inverse of chunk_id_for's first part)."""
    return chunk_id.rsplit("-", 2)[0]


class TokenCounter:
    """Exact token ids for the splitter, from ONE tokenization of the whole article.

    The splitter asks for the token count of the article, then of every paragraph and sentence:
    tokenizing each again costs more than the splitting itself. After `prepare(text)`, a piece of
    that text that begins and ends between words is answered by slicing the article's ids;
    anything else goes to the real tokenizer, so the answers are always the tokenizer's own.
    """

    def __init__(self, exact: Callable[[str], list[int]], backend: Any | None = None) -> None:
        self.exact = exact
        self.backend = untruncated_copy(backend) if _is_word_local(backend) else None
        self.fast_calls = 0
        self.exact_calls = 0
        self._text = ""
        self._ids: list[int] = []
        self._starts: list[int] = []
        self._straddled = bytearray(1)  # 1 where a word spans the position: not a clean cut
        self._cursor = 0
        self._last: tuple[str, list[int]] = ("", [])

    def prepare(self, text: str) -> None:
        """Tokenize the article once; later calls on its pieces are answered from this."""
        self._text, self._cursor, self._last = text, 0, ("", [])
        if self.backend is None:
            return
        encoding = self.backend.encode(text, add_special_tokens=False)
        self._ids = list(encoding.ids)
        offsets = encoding.offsets
        self._starts = [start for start, _ in offsets]
        straddled = bytearray(len(text) + 1)
        word_start, word_end, current = 0, 0, None
        for word, (start, end) in zip(encoding.word_ids, offsets, strict=True):
            if word != current:
                if word_end - word_start > 1:
                    straddled[word_start + 1 : word_end] = b"\x01" * (word_end - word_start - 1)
                current, word_start = word, start
            word_end = end
        if word_end - word_start > 1:
            straddled[word_start + 1 : word_end] = b"\x01" * (word_end - word_start - 1)
        self._straddled = straddled

    def span_ids(self, start: int, end: int) -> list[int] | None:
        """Ids of prepared_text[start:end], or None when a cut falls inside a word."""
        if self.backend is None or end > len(self._text) or start > end:
            return None
        if self._straddled[start] or self._straddled[end]:
            return None
        return self._ids[bisect_left(self._starts, start) : bisect_left(self._starts, end)]

    def __call__(self, text: str) -> list[int]:
        """Token ids of text (no special tokens), like the tokenizer's encode."""
        if text == self._last[0]:
            return self._last[1]  # the splitter asks twice for every piece it recurses into
        ids: list[int] | None = None
        if self._text:
            position = self._text.find(text, self._cursor)
            if position < 0:
                position = self._text.find(text)
            if position >= 0:
                ids = self.span_ids(position, position + len(text))
                self._cursor = position
        if ids is None:
            self.exact_calls += 1
            ids = self.exact(text)
        else:
            self.fast_calls += 1
        self._last = (text, ids)
        return ids


def _is_word_local(backend: Any | None) -> bool:
    if backend is None:
        return False
    return (
        type(backend.pre_tokenizer).__name__ in _WORD_LOCAL_PRE_TOKENIZERS
        and type(backend.normalizer).__name__ in _WORD_LOCAL_NORMALIZERS
        and type(backend.model).__name__ in _WORD_LOCAL_MODELS
    )


def untruncated_copy(backend: Any) -> Any:
    """A private copy of a tokenizers.Tokenizer without truncation or padding (whole articles)."""
    copy = type(backend).from_str(backend.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


class Chunker:
    """Splits article text on sentence boundaries into ~chunk_size-token passages with offsets."""

    def __init__(self, *, settings: Settings, tokenizer: Callable[[str], Sequence[int]]) -> None:
        from llama_index.core.node_parser import SentenceSplitter

        size = max(settings.chunk_size - HEADER_TOKEN_RESERVE, 16)
        self.tokenizer = tokenizer
        self.counter = tokenizer if isinstance(tokenizer, TokenCounter) else None
        # Only the bare text is split: metadata never counts against the chunk budget.
        self.splitter = SentenceSplitter(
            chunk_size=size,
            chunk_overlap=min(settings.chunk_overlap, size // 2),
            tokenizer=tokenizer,
            include_metadata=False,
            include_prev_next_rel=False,
        )

    def chunk(self, article: Article) -> list[Chunk]:
        """Split one article; chunk.text == article.text[chunk.start:chunk.end] always."""
        return self.chunk_with_lengths(article)[0]

    def chunk_with_lengths(self, article: Article) -> tuple[list[Chunk], list[int]]:
        """Chunks of one article and the token count of each chunk's embed_text."""
        if not article.text.strip():
            return [], []
        if self.counter is not None:
            self.counter.prepare(article.text)
        pieces = self.splitter.split_text(article.text)
        chunks: list[Chunk] = []
        seen_passages: set[str] = set()
        cursor = 0
        for piece in pieces:
            if not piece.strip():
                continue
            span = locate(article.text, piece, cursor)
            if span is None:
                continue
            start, end = span
            passage = article.text[start:end]
            cursor = start + 1  # overlapping chunks start before the previous end, not its start
            # A passage repeated inside one article is indexed once: many identical vectors trap
            # Chroma's approximate (HNSW) search and hide other articles' passages.
            if passage in seen_passages:
                continue
            seen_passages.add(passage)
            ordinal = len(chunks)
            embed_text = embed_text_for(article, passage)
            chunks.append(
                Chunk(
                    id=chunk_id_for(article.id, ordinal, embed_text),
                    article_id=article.id,
                    ordinal=ordinal,
                    text=passage,
                    start=start,
                    end=end,
                    embed_text=embed_text,
                )
            )
        return chunks, self._lengths(chunks)

    def _lengths(self, chunks: list[Chunk]) -> list[int]:
        """Token counts of the embed texts: what batches are sorted by (padding costs compute)."""
        tokenize = self.tokenizer
        if not chunks:
            return []
        header = chunks[0].embed_text[: len(chunks[0].embed_text) - len(chunks[0].text)]
        # "header\n" ends between words, so its tokens and the passage's simply add up.
        header_tokens = len(tokenize(header)) if header else 0
        lengths: list[int] = []
        for chunk in chunks:
            span = self.counter.span_ids(chunk.start, chunk.end) if self.counter else None
            lengths.append(
                header_tokens + len(span) if span is not None else len(tokenize(chunk.embed_text))
            )
        return lengths


def locate(text: str, piece: str, cursor: int) -> tuple[int, int] | None:
    """Find piece in text at or after cursor; tolerate whitespace the splitter changed."""
    position = text.find(piece, cursor)
    if position < 0:
        position = text.find(piece)
    if position >= 0:
        return position, position + len(piece)
    words = piece.split()
    if not words:
        return None
    # The splitter may collapse or trim whitespace: match the same words with any whitespace.
    pattern = r"\s+".join(re.escape(word) for word in words)
    match = re.compile(pattern).search(text, cursor) or re.compile(pattern).search(text)
    return (match.start(), match.end()) if match else None


# ---- near-duplicate passages (syndicated wire copy, boilerplate) ----------------------------------
SHINGLE_WORDS = 5
MIN_SHINGLES = 50  # short passages are mostly their header: never share a vector
SIGNATURE_SIZE = 64
LSH_BANDS = 8  # 8 bands of 8 rows: pairs at Jaccard 0.9 meet in some band 99% of the time
_WORD = re.compile(r"\w+")
_PERMUTATION_A = np.random.default_rng(20220701).integers(
    1, 2**63, SIGNATURE_SIZE, dtype=np.uint64
) | np.uint64(1)
_PERMUTATION_B = np.random.default_rng(20220702).integers(0, 2**63, SIGNATURE_SIZE, dtype=np.uint64)


@dataclass(frozen=True)
class PassageSignature:
    """Word 5-shingles of a passage (sorted hashes) and their MinHash signature."""

    shingles: np.ndarray
    minhash: np.ndarray

    @classmethod
    def of(cls, text: str) -> PassageSignature | None:
        """The passage's signature, or None when it is too short to compare safely."""
        words = _WORD.findall(text.casefold())
        if len(words) - SHINGLE_WORDS + 1 < MIN_SHINGLES:
            return None
        hashes = np.unique(
            np.fromiter(
                (
                    zlib.crc32(" ".join(words[index : index + SHINGLE_WORDS]).encode())
                    for index in range(len(words) - SHINGLE_WORDS + 1)
                ),
                dtype=np.uint32,
            )
        )
        with np.errstate(over="ignore"):  # multiply-add modulo 2**64 is the hash family
            wide = hashes.astype(np.uint64)[:, None]
            minhash = (wide * _PERMUTATION_A + _PERMUTATION_B).min(axis=0)
        return cls(hashes, minhash)

    def jaccard(self, other: PassageSignature) -> float:
        """Exact Jaccard similarity of the two shingle sets."""
        common = np.intersect1d(self.shingles, other.shingles, assume_unique=True).size
        return common / (self.shingles.size + other.shingles.size - common)


class NearDuplicates:
    """Remembers passages on disk; finds an earlier one whose shingles overlap by >= threshold (LSH).

    The shingles and LSH buckets of every passage live in a scratch SQLite file (in folder, or
    SQLite's temporary folder), not in memory: an ingest compares each passage with every
    earlier one of the run, so in memory they grew ~2 KB a passage with the corpus.
    """

    def __init__(self, threshold: float, *, folder: Path | None = None) -> None:
        self.threshold = threshold
        self.rows = SIGNATURE_SIZE // LSH_BANDS
        if folder is None:
            # "": a private temporary database that SQLite deletes when it is closed.
            self._database = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        else:
            handle, name = tempfile.mkstemp(prefix="near-duplicates-", suffix=".tmp", dir=folder)
            os.close(handle)
            self._database = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
            # Unlinked at once: the file lives while it is open and a killed ingest leaves nothing.
            # No journal to find by name (and nothing to roll back: it is scratch).
            self._database.execute("PRAGMA journal_mode=OFF")
            os.unlink(name)
        self._database.execute("PRAGMA synchronous=OFF")
        self._database.execute(
            "CREATE TABLE passages (id INTEGER PRIMARY KEY, key TEXT NOT NULL, shingles BLOB NOT NULL)"
        )
        # Rows of a bucket come back in insertion order (rowid), as a list in memory kept them.
        self._database.execute(
            "CREATE TABLE buckets (bucket INTEGER NOT NULL, band INTEGER NOT NULL, passage INTEGER)"
        )
        self._database.execute("CREATE INDEX buckets_bucket ON buckets(bucket)")

    def find(self, signature: PassageSignature) -> str | None:
        """Key of an earlier near-duplicate passage, or None."""
        buckets = [self._band(signature, band) for band in range(LSH_BANDS)]
        candidates = self._database.execute(
            "SELECT passage FROM buckets WHERE bucket IN (?, ?, ?, ?, ?, ?, ?, ?)"
            " ORDER BY band, rowid",
            buckets,
        ).fetchall()
        seen: set[int] = set()
        for (passage,) in candidates:
            if passage in seen:
                continue
            seen.add(passage)
            key, shingles = self._database.execute(
                "SELECT key, shingles FROM passages WHERE id = ?", (passage,)
            ).fetchone()
            earlier = PassageSignature(np.frombuffer(shingles, dtype=np.uint32), signature.minhash)
            if signature.jaccard(earlier) >= self.threshold:
                return str(key)
        return None

    def add(self, key: str, signature: PassageSignature) -> None:
        """Remember a passage under key."""
        shingles = np.ascontiguousarray(signature.shingles, dtype=np.uint32).tobytes()
        passage = self._database.execute(
            "INSERT INTO passages (key, shingles) VALUES (?, ?)", (key, shingles)
        ).lastrowid
        self._database.executemany(
            "INSERT INTO buckets VALUES (?, ?, ?)",
            [(self._band(signature, band), band, passage) for band in range(LSH_BANDS)],
        )

    def close(self) -> None:
        """Delete the scratch file."""
        self._database.close()

    def _band(self, signature: PassageSignature, band: int) -> int:
        # A stable 63-bit hash of (band, rows); a collision only adds a candidate: find()
        # compares the shingle sets exactly.
        rows = signature.minhash[band * self.rows : (band + 1) * self.rows].tobytes()
        digest = hashlib.blake2b(bytes([band]) + rows, digest_size=8).digest()
        return int.from_bytes(digest, "little") >> 1


# ---- chunking beside the model -------------------------------------------------------------------
# Below this many articles the worker thread costs more than it saves.
PARALLEL_MIN_ARTICLES = 24
ARTICLES_PER_TASK = 8  # articles handed over at a time
TASKS_AHEAD = 4  # the worker stops this many hand-overs ahead of the model: bounded memory


@dataclass(frozen=True)
class ChunkedArticle:
    """One article's chunks, their embed-text token counts and near-duplicate signatures."""

    article: Article
    chunks: list[Chunk]
    lengths: list[int]
    signatures: list[PassageSignature | None]


def chunk_article(chunker: Chunker, article: Article, *, signatures: bool) -> ChunkedArticle:
    """Chunk one article (and sign its passages when near-duplicates are skipped)."""
    chunks, lengths = chunker.chunk_with_lengths(article)
    signed = [PassageSignature.of(chunk.text) if signatures else None for chunk in chunks]
    return ChunkedArticle(article, chunks, lengths, signed)


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_DONE = object()


def chunk_stream(
    articles: Sequence[Article], chunker: Chunker, *, signatures: bool
) -> Iterator[ChunkedArticle]:
    """Chunk articles in order; with many, in a thread that runs a few articles ahead of the model.

    A thread, not a process: it dies with the ingest, holds no inherited descriptor (a forked
    worker kept the ingest lock after its parent was killed), and the model releases the GIL
    while it computes, which is when the splitter runs. The results are the same chunks.
    """
    if len(articles) < PARALLEL_MIN_ARTICLES:
        for article in articles:
            yield chunk_article(chunker, article, signatures=signatures)
        return
    handover: queue.Queue[Any] = queue.Queue(maxsize=TASKS_AHEAD)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handover.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for begin in range(0, len(articles), ARTICLES_PER_TASK):
                batch = articles[begin : begin + ARTICLES_PER_TASK]
                done = [chunk_article(chunker, article, signatures=signatures) for article in batch]
                if not put(done):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failure(error))

    worker = threading.Thread(target=work, name="newsrag-chunking", daemon=True)
    worker.start()
    try:
        while (item := handover.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            yield from item
    finally:
        stop.set()  # the consumer stopped early (error, generator closed): end the worker
        worker.join()
