"""Saved conversations of the browser app: SQLite in index/conversations.sqlite.

A conversation is its exchanges (question, Answer or error) as JSON, with a title (the first
question until renamed) and its times. Answers are stored whole, so a resumed conversation shows
the same answers and source cards; nothing is asked again.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsrag.config import Settings
from newsrag.models import Answer, AnswerSentence, ArticleMeta, Chunk, Citation, Filters, Hit
from newsrag.ui_render import Exchange, shorten

DATABASE_NAME = "conversations.sqlite"
MAX_CONVERSATIONS_LISTED = 200
MAX_EXCHANGES = 200  # per conversation: the oldest are dropped beyond it
MAX_TITLE_CHARS = 120
MAX_QUESTION_CHARS = 4000


@dataclass(frozen=True)
class ConversationSummary:
    """One line of the sidebar's list."""

    id: str
    title: str
    updated: str  # ISO time, UTC

    def label(self) -> str:
        """What the list shows: title · date."""
        return f"{self.title} · {self.updated[:16].replace('T', ' ')}"


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """An Answer from Answer.to_dict(include_hits=True) (unknown keys ignored)."""
    filters = data.get("filters") or {}
    hits = tuple(
        Hit(
            chunk=Chunk(**hit["chunk"]),
            article=ArticleMeta(**hit["article"]),
            score=float(hit.get("score", 0.0)),
            dense_score=hit.get("dense_score"),
            keyword_score=hit.get("keyword_score"),
            dense_rank=hit.get("dense_rank"),
            keyword_rank=hit.get("keyword_rank"),
        )
        for hit in data.get("hits", [])
    )
    return Answer(
        question=str(data.get("question", "")),
        text=str(data.get("text", "")),
        citations=tuple(Citation(**citation) for citation in data.get("citations", [])),
        sentences=tuple(
            AnswerSentence(
                text=sentence["text"],
                citations=tuple(sentence.get("citations", ())),
                supported=bool(sentence.get("supported", False)),
                support_score=float(sentence.get("support_score", 0.0)),
            )
            for sentence in data.get("sentences", [])
        ),
        searched_for=str(data.get("searched_for", "")),
        filters=Filters(
            since=_date(filters.get("since")),
            until=_date(filters.get("until")),
            sources=tuple(filters.get("sources") or ()),
        ),
        refused=bool(data.get("refused", False)),
        engine=str(data.get("engine", "extractive")),
        hits=hits,
        short_answer=str(data.get("short_answer", "") or ""),
        short_answer_citation=data.get("short_answer_citation"),
        notes=tuple(data.get("notes") or ()),
    )


def exchange_to_dict(exchange: Exchange) -> dict[str, Any]:
    """Plain-JSON form of one exchange (the refusal's closest passages kept: three at most)."""
    answer = None
    if exchange.answer is not None:
        answer = exchange.answer.to_dict(include_hits=True)
        answer["hits"] = answer["hits"][:3]
    return {
        "question": exchange.question[:MAX_QUESTION_CHARS],
        "answer": answer,
        "error": exchange.error,
    }


def exchange_from_dict(data: dict[str, Any]) -> Exchange:
    """An Exchange back from exchange_to_dict."""
    answer = data.get("answer")
    return Exchange(
        question=str(data.get("question", "")),
        answer=answer_from_dict(answer) if isinstance(answer, dict) else None,
        error=str(data.get("error", "")),
    )


def browser_secret(settings: Settings) -> str:
    """The key the browser's stored conversation id is encrypted with; kept in index/ so it
    survives a restart (a new key per start would forget every open conversation)."""
    import secrets

    path = Path(settings.index_dir) / "ui-secret"
    try:
        return path.read_text(encoding="utf-8").strip() or _new_secret(path, secrets.token_hex(32))
    except FileNotFoundError:
        return _new_secret(path, secrets.token_hex(32))


def _new_secret(path: Path, value: str) -> str:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ConversationStore:
    """Conversations in one SQLite file; safe to share between the app's threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> ConversationStore:
        """The store of the index folder in settings."""
        return cls(Path(settings.index_dir) / DATABASE_NAME)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
            " renamed INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, updated TEXT NOT NULL,"
            " exchanges TEXT NOT NULL)"
        )
        return connection

    def save(self, conversation_id: str | None, exchanges: Sequence[Exchange]) -> str | None:
        """Store the exchanges under conversation_id (a new id when None); None when empty."""
        if not exchanges:
            return conversation_id
        kept = list(exchanges)[-MAX_EXCHANGES:]
        payload = json.dumps([exchange_to_dict(item) for item in kept], ensure_ascii=False)
        title = shorten(exchanges[0].question, MAX_TITLE_CHARS) or "Untitled"
        now = _now()
        identifier = conversation_id or uuid.uuid4().hex
        with self._lock, self._connect() as connection:
            connection.execute(
                "INSERT INTO conversations (id, title, created, updated, exchanges)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET updated = excluded.updated,"
                " exchanges = excluded.exchanges,"
                " title = CASE WHEN renamed THEN title ELSE excluded.title END",
                (identifier, title, now, now, payload),
            )
        return identifier

    def load(self, conversation_id: str) -> tuple[Exchange, ...] | None:
        """The exchanges of a conversation; None when there is no such conversation."""
        if not conversation_id or not self.path.exists():
            return None
        with self._lock, self._connect() as connection:
            row = connection.execute(
                "SELECT exchanges FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        if row is None:
            return None
        try:
            return tuple(exchange_from_dict(item) for item in json.loads(row[0]))
        except (ValueError, TypeError, KeyError):
            return ()  # a damaged row: an empty conversation rather than a crash

    def list(self) -> list[ConversationSummary]:
        """Conversations, most recently updated first."""
        if not self.path.exists():
            return []
        with self._lock, self._connect() as connection:
            rows = connection.execute(
                "SELECT id, title, updated FROM conversations ORDER BY updated DESC, rowid DESC"
                " LIMIT ?",
                (MAX_CONVERSATIONS_LISTED,),
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def rename(self, conversation_id: str, title: str) -> bool:
        """Give a conversation its own title; False when it does not exist or the title is empty."""
        cleaned = shorten(title, MAX_TITLE_CHARS)
        if not cleaned or not conversation_id:
            return False
        with self._lock, self._connect() as connection:
            changed = connection.execute(
                "UPDATE conversations SET title = ?, renamed = 1 WHERE id = ?",
                (cleaned, conversation_id),
            ).rowcount
        return bool(changed)

    def delete(self, conversation_id: str) -> bool:
        """Remove a conversation; False when there was none."""
        if not conversation_id or not self.path.exists():
            return False
        with self._lock, self._connect() as connection:
            changed = connection.execute(
                "DELETE FROM conversations WHERE id = ?", (conversation_id,)
            ).rowcount
        return bool(changed)
