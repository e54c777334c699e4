"""The project's own data types: what every stage passes to the next (no SDK objects)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


def content_hash(text: str) -> str:
    """Return a short, stable hex digest of text (sha256, 16 hex chars)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def date_as_int(date: str | None) -> int:
    """ISO date -> YYYYMMDD int for range filters; 0 when undated (excluded by any date filter)."""
    if not date:
        return 0
    try:
        return int(date[:10].replace("-", ""))
    except ValueError:
        return 0


def source_key(source: str) -> str:
    """Case-folded outlet name used for source filters."""
    return " ".join(source.casefold().split())


@dataclass(frozen=True)
class Article:
    """One news article: metadata plus its text, kept exactly as read (offsets index into it)."""

    id: str
    title: str
    text: str
    date: str | None = None  # ISO YYYY-MM-DD, None when unknown
    source: str = ""  # outlet, e.g. "Kurdistan 24"
    url: str = ""
    place: str = ""  # dateline city, e.g. "Erbil"
    author: str = ""
    editor: str = ""
    path: str = ""  # corpus file it came from
    line: int | None = None  # line (1-based) inside a JSONL/CSV file

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes what is indexed (text and metadata)."""
        meta = "\x1f".join(
            [
                self.title,
                self.date or "",
                self.source,
                self.url,
                self.place,
                self.author,
                self.editor,
            ]
        )
        return content_hash(meta + "\x1e" + self.text)

    def metadata(self) -> ArticleMeta:
        """The article's metadata without its text."""
        return ArticleMeta(
            id=self.id,
            title=self.title,
            date=self.date,
            source=self.source,
            url=self.url,
            place=self.place,
            author=self.author,
            editor=self.editor,
        )


@dataclass(frozen=True)
class ArticleMeta:
    """An article's metadata, as stored beside every chunk."""

    id: str
    title: str
    date: str | None = None
    source: str = ""
    url: str = ""
    place: str = ""
    author: str = ""
    editor: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A passage of an article: text == article.text[start:end]."""

    id: str
    article_id: str
    ordinal: int
    text: str
    start: int
    end: int
    # What the model embeds: title and date in front of the passage, so it carries its context.
    embed_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (without embed_text)."""
        return {
            "id": self.id,
            "article_id": self.article_id,
            "ordinal": self.ordinal,
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Filters:
    """Search filters: inclusive ISO date range and outlet names (case-insensitive)."""

    since: dt.date | None = None
    until: dt.date | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        sources: Iterable[str] | None = None,
    ) -> Filters:
        """Filters in normal form: outlet names stripped, empty ones dropped."""
        names = tuple(name.strip() for name in (sources or ()) if name and name.strip())
        return cls(since=since, until=until, sources=names)

    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return self.since is None and self.until is None and not self.sources

    def date_bounds(self) -> tuple[int | None, int | None]:
        """(since, until) as YYYYMMDD ints, the form the store and BM25 keep dates in."""
        return (
            int(self.since.strftime("%Y%m%d")) if self.since is not None else None,
            int(self.until.strftime("%Y%m%d")) if self.until is not None else None,
        )

    def source_keys(self) -> list[str]:
        """The outlets as stored keys (source_key: case and spacing folded), in order, once each."""
        return list(dict.fromkeys(source_key(name) for name in self.sources))

    def describe(self) -> str:
        """One line naming the date range and outlets ("since 2019-01-01 · Kurdistan 24")."""
        if self.since and self.until:
            dates = f"{self.since.isoformat()} to {self.until.isoformat()}"
        elif self.since:
            dates = f"since {self.since.isoformat()}"
        elif self.until:
            dates = f"until {self.until.isoformat()}"
        else:
            dates = ""
        parts = [part for part in (dates, ", ".join(self.sources)) if part]
        return " · ".join(parts) or "any date · all outlets"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Question:
    """A question as every front-end asks it, validated once (question.make_question).

    text is cleaned; k is None (the settings' top_k) or 1..100; filters are in normal form;
    as_of is the day asked (None: today). engine_options are passed through, as (name, value)
    pairs, to the answer engine (Retrieval.options); the built-in engines read none yet.
    """

    text: str
    history: tuple[Turn, ...] = ()
    filters: Filters = field(default_factory=Filters)
    k: int | None = None
    as_of: dt.date | None = None
    engine_options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with its article metadata and the scores that ranked it."""

    chunk: Chunk
    article: ArticleMeta
    score: float  # fused score (higher is better)
    dense_score: float | None = None  # cosine similarity, None when dense did not return it
    keyword_score: float | None = None  # BM25 score, None when BM25 did not return it
    dense_rank: int | None = None  # 1-based
    keyword_rank: int | None = None
    # search(explain=True): each side's normalised score and every prior's contribution.
    explain: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form ("explain" only when the search was asked to explain)."""
        plain = {
            "chunk": self.chunk.to_dict(),
            "article": self.article.to_dict(),
            "score": self.score,
            "dense_score": self.dense_score,
            "keyword_score": self.keyword_score,
            "dense_rank": self.dense_rank,
            "keyword_rank": self.keyword_rank,
        }
        if self.explain is not None:
            plain["explain"] = self.explain
        return plain


@dataclass(frozen=True)
class Citation:
    """Source [number] of an answer: the passage, and the quoted span inside it with offsets."""

    number: int
    article_id: str
    chunk_id: str
    title: str
    source: str
    date: str | None
    url: str
    passage: str  # the whole chunk text
    passage_start: int  # offsets of the chunk in the article text
    passage_end: int
    quote: str  # best-supporting sentence(s) of the passage
    quote_start: int  # offsets of the quote in the article text
    quote_end: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer with the citations it carries and whether they support it."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    support_score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "text": self.text,
            "citations": list(self.citations),
            "supported": self.supported,
            "support_score": self.support_score,
        }


@dataclass(frozen=True)
class Answer:
    """A short answer whose claims carry [n] markers that point at citations."""

    question: str
    text: str  # the short answer line (when there is one), a blank line, the cited sentences
    citations: tuple[Citation, ...] = ()
    sentences: tuple[AnswerSentence, ...] = ()
    searched_for: str = ""
    filters: Filters = field(default_factory=Filters)
    refused: bool = False
    engine: str = "extractive"
    hits: tuple[Hit, ...] = ()  # closest passages (shown with a refusal too)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    # The direct answer (a name, number, date, place or short phrase) copied verbatim from the
    # passage of citation number short_answer_citation; "" when refused or none was found.
    short_answer: str = ""
    short_answer_citation: int | None = None
    notes: tuple[str, ...] = ()  # what the filters did ("2 undated articles not searched")

    def to_dict(self, include_hits: bool = False) -> dict[str, Any]:
        """Plain-JSON form."""
        data: dict[str, Any] = {
            "question": self.question,
            "short_answer": self.short_answer,
            "short_answer_citation": self.short_answer_citation,
            "text": self.text,
            "citations": [citation.to_dict() for citation in self.citations],
            "sentences": [sentence.to_dict() for sentence in self.sentences],
            "searched_for": self.searched_for,
            "filters": self.filters.to_dict(),
            "refused": self.refused,
            "engine": self.engine,
            "notes": list(self.notes),
            "timings": dict(self.timings),
        }
        if include_hits:
            data["hits"] = [hit.to_dict() for hit in self.hits]
        return data
