"""Hits re-ranked by the question's dates: newer first for "latest" questions, named days first."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import replace

from newsrag.models import Hit

# "latest"/"recent" questions: score * (1 + RECENCY_WEIGHT * r), r = 0 (oldest hit) .. 1 (newest).
RECENCY_WEIGHT = 0.5
# A passage that names the day a question asks about ("on 3 March") gains this share of its score;
# one published on that day or the two after (the reports of it) gains EVENT_PUBLISHED_BOOST.
EVENT_TEXT_BOOST = 0.3
EVENT_PUBLISHED_BOOST = 0.15


def rerank_recent(hits: Sequence[Hit]) -> list[Hit]:
    """Hits re-ranked with a recency boost relative to the newest and oldest dated hit."""
    parsed = {hit.chunk.id: _iso_date(hit.article.date) for hit in hits}
    dates = {chunk_id: day for chunk_id, day in parsed.items() if day is not None}
    if len(set(dates.values())) < 2:
        return list(hits)
    oldest, newest = min(dates.values()), max(dates.values())
    span = (newest - oldest).days

    def boosted(hit: Hit) -> Hit:
        day = dates.get(hit.chunk.id)
        recency = (day - oldest).days / span if day else 0.0
        # abs(): a fused score can be negative (cosine), and a boost must never lower a score.
        return replace(hit, score=hit.score + abs(hit.score) * RECENCY_WEIGHT * recency)

    return sorted((boosted(hit) for hit in hits), key=lambda hit: (-hit.score, hit.chunk.id))


def boost_event_dates(hits: Sequence[Hit], days: Sequence[dt.date]) -> list[Hit]:
    """Hits re-ranked so passages naming a day the question asks about (or published then) lead."""
    if not days:
        return list(hits)
    mentions = [
        re.compile(pattern, re.IGNORECASE) for day in days for pattern in _day_patterns(day)
    ]

    def boosted(hit: Hit) -> Hit:
        share = 0.0
        if any(pattern.search(hit.chunk.text) for pattern in mentions):
            share += EVENT_TEXT_BOOST
        published = _iso_date(hit.article.date)
        if published and any(0 <= (published - day).days <= 2 for day in days):
            share += EVENT_PUBLISHED_BOOST
        return replace(hit, score=hit.score + abs(hit.score) * share)

    return sorted((boosted(hit) for hit in hits), key=lambda hit: (-hit.score, hit.chunk.id))


def _day_patterns(day: dt.date) -> list[str]:
    """Ways news text writes a day: "3 March", "March 3", "3rd of March", "2019-03-03"."""
    month = day.strftime("%B")
    short = month[:3]
    number = rf"0?{day.day}(?:st|nd|rd|th)?"
    names = rf"(?:{month}|{short}\.?)"
    return [
        rf"(?<!\d){number}(?:\s+of)?\s+{names}\b",
        rf"\b{names}\s+{number}(?!\d)",
        rf"\b{day.isoformat()}\b",
    ]


def _iso_date(text: str | None) -> dt.date | None:
    if not text or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None
