"""Questions about an article itself ("who wrote…", "when was … published", "which outlet…").

They are answered from the article's metadata (parsed at ingest: byline, editor, date, outlet),
cited to the best-matching article's passage, instead of from sentences of its text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from newsrag.citations import build_citation
from newsrag.models import AnswerSentence, Hit

_ARTICLE = r"(?:article|story|stories|piece|column|op-?ed|report|news\s+report|post|coverage)"
_QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "author",
        re.compile(
            rf"\bwho\s+(?:wrote|authored|penned|reported|filed|is\s+the\s+(?:author|reporter|writer)"
            rf"\s+of|was\s+the\s+(?:author|reporter|writer)\s+of)\b.*\b{_ARTICLE}\b"
            rf"|\b(?:author|byline|reporter|writer)\s+of\s+(?:the|this|that)\s+{_ARTICLE}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "editor",
        re.compile(
            rf"\bwho\s+(?:edited|was\s+the\s+editor\s+of|is\s+the\s+editor\s+of)\b.*\b{_ARTICLE}\b"
            rf"|\beditor\s+of\s+(?:the|this|that)\s+{_ARTICLE}\b",
            re.IGNORECASE,
        ),
    ),
    (
        "date",
        re.compile(
            rf"\bwhen\s+(?:was|were|did)\b.*\b{_ARTICLE}\b.*\b(?:published|posted|written|released"
            rf"|come\s+out|run|appear)\b|\b(?:publication|publishing)\s+date\s+of\b",
            re.IGNORECASE,
        ),
    ),
    (
        "source",
        re.compile(
            rf"\b(?:which|what)\s+(?:outlet|publication|newspaper|paper|site|website|source|"
            rf"news\s+(?:outlet|site|agency|organi[sz]ation)|media)\s+(?:published|ran|carried|"
            rf"posted|reported|wrote|broke)\b|\bwhere\s+was\b.*\b{_ARTICLE}\b.*\bpublished\b",
            re.IGNORECASE,
        ),
    ),
)
_FIELD_WORDS = {
    "author": ("was written by", "names no author"),
    "editor": ("was edited by", "names no editor"),
    "date": ("was published on", "has no publication date"),
    "source": ("was published by", "names no outlet"),
}


def metadata_question(question: str) -> str | None:
    """The metadata field a question asks about ("author", "editor", "date", "source"), or None."""
    for field_name, pattern in _QUESTIONS:
        if pattern.search(question):
            return field_name
    return None


def metadata_answer(question: str, hits: Sequence[Hit]) -> dict[str, Any] | None:
    """Answer fields (text, citations, sentences, short answer) from the top hit's metadata."""
    field_name = metadata_question(question)
    if field_name is None or not hits:
        return None
    hit = hits[0]
    value = {
        "author": hit.article.author,
        "editor": hit.article.editor,
        "date": hit.article.date or "",
        "source": hit.article.source,
    }[field_name]
    found, missing = _FIELD_WORDS[field_name]
    title = " ".join(hit.article.title.split()) or "The article"
    sentence = f"“{title}” {found} {value} [1]." if value else f"“{title}” {missing} [1]."
    text = f"{value} [1]\n\n{sentence}" if value else sentence
    citation = build_citation(1, hit, [])
    # Metadata is what the article's own header says: supported by the article, not its prose.
    sentences = [
        AnswerSentence(text=line, citations=(1,), supported=True, support_score=1.0)
        for line in text.split("\n\n")
    ]
    return {
        "text": text,
        "citations": (citation,),
        "sentences": tuple(sentences),
        "short_answer": value,
        "short_answer_citation": 1 if value else None,
    }
