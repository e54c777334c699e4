"""A question validated once: cleaned text, k in range, dates and outlets as Filters (every front-end builds it here)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from newsrag.config import Settings
from newsrag.errors import NewsragError
from newsrag.models import Filters, Question, Turn

__all__ = ["MAX_K", "QueryError", "as_date", "clean_query", "make_filters", "make_question"]

MAX_K = 100  # passages one question may ask for


class QueryError(NewsragError, ValueError):
    """A question or filter that cannot be searched; the message says what to change."""

    http_status, api_code = 400, "question_not_searchable"
    hint = "change the question or filter as the message says"


def clean_query(query: str, *, max_chars: int) -> str:
    """Strip control characters and outer whitespace; reject empty or oversized questions."""
    if not isinstance(query, str):
        raise QueryError("the question must be text")
    if len(query) > max_chars:
        raise QueryError(
            f"the question is {len(query):,} characters, over the {max_chars:,} limit "
            "(NEWSRAG_MAX_QUESTION_CHARS): shorten it"
        )
    cleaned = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co") else char for char in query
    )
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QueryError("the question is empty: type a question about the articles")
    return cleaned


def as_date(value: dt.date | str | None, name: str) -> dt.date | None:
    """A date from a date or YYYY-MM-DD text (None for nothing); bad text is a QueryError."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as error:
        raise QueryError(f"{name} {value!r} is not a date: use YYYY-MM-DD") from error


def make_filters(
    *,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    sources: Sequence[str] | None = None,
) -> Filters:
    """Build Filters from loose inputs (ISO strings allowed); since > until is a QueryError."""
    return checked_filters(
        Filters.of(since=as_date(since, "since"), until=as_date(until, "until"), sources=sources)
    )


def checked_filters(filters: Filters) -> Filters:
    """The filters, when their date range is not reversed (a QueryError otherwise)."""
    if filters.since and filters.until and filters.since > filters.until:
        raise QueryError(f"since ({filters.since}) is after until ({filters.until}): swap them")
    return filters


def make_question(
    text: str,
    *,
    settings: Settings,
    history: Iterable[Turn] = (),
    k: int | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    sources: Sequence[str] | None = None,
    filters: Filters | None = None,
    as_of: dt.date | str | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> Question:
    """The one place a question is checked: bad text, k or dates are a QueryError naming the fix.

    filters, when given, replace since/until/sources (already built Filters, e.g. from dates.py).
    """
    cleaned = clean_query(text, max_chars=settings.max_question_chars)
    if k is not None and not 1 <= int(k) <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, not {int(k)}")
    built = (
        checked_filters(filters)
        if filters is not None
        else make_filters(since=since, until=until, sources=sources)
    )
    return Question(
        text=cleaned,
        history=tuple(history),
        filters=built,
        k=None if k is None else int(k),
        as_of=as_date(as_of, "as_of"),
        engine_options=tuple(sorted((engine_options or {}).items())),
    )
