"""Thumbs up/down on answers: appended as JSON lines to index/feedback.jsonl.

Each line is one self-contained record (time, rating, comment, question, answer text, citations,
searched-for, filters, engine). A comment sent after the thumb is a second line with the same
feedback id: readers keep the last line per id (`latest_feedback`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from newsrag.config import Settings
from newsrag.errors import InputError
from newsrag.models import Answer

FEEDBACK_NAME = "feedback.jsonl"
MAX_COMMENT_CHARS = 2000
# Bounds on what one record stores, whatever the browser sent: a line stays a few kilobytes.
MAX_QUESTION_CHARS = 4000
MAX_ANSWER_CHARS = 8000
MAX_PASSAGE_CHARS = 1500
MAX_CITATIONS = 20
Rating = Literal["up", "down"]
# One process may serve many browser sessions: appends must not interleave.
_WRITE_LOCK = threading.Lock()


class FeedbackError(InputError, ValueError):
    """Feedback that cannot be stored; the message says what to change."""

    hint = "change the feedback as the message says"


@dataclass(frozen=True)
class FeedbackRecord:
    """One line of feedback.jsonl."""

    id: str
    time: str
    rating: Rating
    comment: str
    question: str
    answer: str
    refused: bool = False
    error: bool = False  # the rated reply was an error message, not an answer
    searched_for: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    engine: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)


def feedback_path(settings: Settings) -> Path:
    """Where feedback is stored: index_dir/feedback.jsonl."""
    return Path(settings.index_dir) / FEEDBACK_NAME


def make_record(
    *,
    rating: str,
    question: str,
    answer: Answer | None,
    reply_text: str = "",
    comment: str = "",
    feedback_id: str | None = None,
) -> FeedbackRecord:
    """A record for a rated answer (or, with answer=None, a rated error reply_text)."""
    if rating not in ("up", "down"):
        raise FeedbackError(f"rating must be 'up' or 'down', not {rating!r}")
    checked: Rating = "up" if rating == "up" else "down"
    record = FeedbackRecord(
        id=feedback_id or uuid.uuid4().hex,
        time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        rating=checked,
        comment=comment.strip()[:MAX_COMMENT_CHARS],
        question=question[:MAX_QUESTION_CHARS],
        answer=reply_text[:MAX_ANSWER_CHARS],
        error=True,
    )
    if answer is None:
        return record
    return replace(
        record,
        answer=answer.text[:MAX_ANSWER_CHARS],
        error=False,
        refused=answer.refused,
        searched_for=answer.searched_for[:MAX_QUESTION_CHARS],
        filters=answer.filters.to_dict(),
        engine=answer.engine,
        citations=[_bounded(citation.to_dict()) for citation in answer.citations[:MAX_CITATIONS]],
    )


def _bounded(citation: dict[str, Any]) -> dict[str, Any]:
    """A citation with its passage, quote and title cut to MAX_PASSAGE_CHARS."""
    return {
        key: value[:MAX_PASSAGE_CHARS] if isinstance(value, str) else value
        for key, value in citation.items()
    }


def append_feedback(path: Path, record: FeedbackRecord) -> None:
    """Append one record as a JSON line (one write, under a lock, fsynced)."""
    line = json.dumps(record.to_dict(), ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _WRITE_LOCK, path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise FeedbackError(
            f"cannot write feedback to {path}: {error.strerror or error}"
        ) from error


def read_feedback(path: Path) -> Iterator[dict[str, Any]]:
    """Every record in the file, in order; unreadable lines are skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: the rest of the file still counts
            if isinstance(record, dict):
                yield record


def latest_feedback(path: Path) -> list[dict[str, Any]]:
    """One record per feedback id: the last one written (a later comment replaces the first)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in read_feedback(path):
        latest[str(record.get("id", ""))] = record
    return list(latest.values())
