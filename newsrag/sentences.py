"""Sentences of passages: splitting with offsets, tidying, candidates, and their cached vectors."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from newsrag.models import Hit

MIN_SENTENCE_CHARS = 20

MIN_SENTENCE_WORDS = 4

MAX_SENTENCE_CHARS = 600

# Sentences per model batch: sorted by length, small batches waste little on padding
# (an answer's ~40 sentences: 750 ms in one batch of 64, 290 ms in batches of 16; bench/query.py).
SENTENCE_BATCH = 16


def word_set(text: str) -> frozenset[str]:
    """The space-separated words of text as a set (for word lists kept readable)."""
    return frozenset(text.split())


_ABBREVIATIONS = word_set(
    "mr mrs ms dr prof st sr jr gen col lt sgt capt maj cmdr adm gov sen rep pres no nos vs "
    "jan feb mar apr jun jul aug sep sept oct nov dec inc ltd co corp dept est fig approx "
    "e.g i.e al mt ft rev hon"
)

# End of a sentence: punctuation, closing quotes, [n] markers, space, then a capital, digit or opener.
_BOUNDARY = re.compile(
    r"([.!?…]+[\"”’')\]]*(?:[ \t]*\[\d+(?:\s*[,;]\s*\d+)*\])*)([ \t]+|[ \t]*\n\s*)"
    r"(?!\[\d+(?:\s*[,;]\s*\d+)*\])(?=[\"“‘'(\[]*[A-Z0-9\u00c0-\u024f\u0600-\u06ff])"
)

# A paragraph break (blank line) or a line break after closing punctuation ends a sentence too.
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*|(?<=[.!?:\"”])[ \t]*\n\s*")

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")

_INSTRUCTION_LIKE = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|prompts?|rules)\b"
    r"|\b(?:system prompt|you are now|new instructions)\b",
    re.IGNORECASE | re.DOTALL,
)


class TokenizerLike(Protocol):
    """keyword.Tokenizer's interface: text -> stemmed content words."""

    def tokens(self, text: str) -> list[str]: ...


class EmbedderLike(Protocol):
    """embedding.Embedder's interface used here."""

    def embed_documents(
        self, texts: Sequence[str], *, batch_size: int | None = None
    ) -> np.ndarray: ...


class VectorCache:
    """Sentence vectors, embedded once and kept (least recently used dropped past max_items).

    Shared by all answers of an Assistant: a sentence seen by an earlier question (the same
    passages come back often, and every chat follow-up) is not embedded again. Thread-safe.
    """

    def __init__(self, embedder: EmbedderLike, *, max_items: int = 20_000) -> None:
        self.embedder = embedder
        self.max_items = max_items
        self.vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for texts, in order (one embedding batch for the new ones)."""
        found: dict[str, np.ndarray] = {}
        with self.lock:
            for text in texts:
                if text in self.vectors:
                    self.vectors.move_to_end(text)
                    found[text] = self.vectors[text]
        missing = list(dict.fromkeys(text for text in texts if text not in found))
        if missing:
            embedded = self.embedder.embed_documents(missing, batch_size=SENTENCE_BATCH)
            with self.lock:
                for text, vector in zip(missing, embedded, strict=True):
                    found[text] = self.vectors[text] = np.asarray(vector, dtype=np.float32)
                while len(self.vectors) > self.max_items:
                    self.vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[text] for text in texts])


def _is_abbreviation(text: str, period_at: int, floor: int) -> bool:
    """True when the '.' at period_at ends an abbreviation or initial, not a sentence."""
    word = re.search(r"(\S+)$", text[floor:period_at])
    if word is None:
        return False
    token = word.group(1).lstrip("\"“‘'([")
    if re.fullmatch(r"[A-Z]", token) or re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", token):
        return True  # an initial ("J.") or dotted acronym ("U.S.")
    return token.casefold().rstrip(".") in _ABBREVIATIONS


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of text, whitespace trimmed, in order."""
    spans: list[tuple[int, int]] = []
    paragraph_start = 0
    cuts = [(match.start(), match.end()) for match in _PARAGRAPH.finditer(text)]
    for paragraph_end, next_start in [*cuts, (len(text), len(text))]:
        start = paragraph_start
        for match in _BOUNDARY.finditer(text, paragraph_start, paragraph_end):
            punctuation = match.group(1)
            single_period = punctuation.startswith(".") and len(punctuation.rstrip("\"”’')]")) == 1
            if single_period and _is_abbreviation(text, match.start(1), start):
                continue
            spans.append((start, match.end(1)))
            start = match.end(2)
        spans.append((start, paragraph_end))
        paragraph_start = next_start
    trimmed: list[tuple[int, int]] = []
    for start, end in spans:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            trimmed.append((start, end))
    return trimmed


def tidy_sentence(raw: str) -> str:
    """One line of text with unbalanced outer quote marks dropped (for the answer, not the quote)."""
    text = " ".join(raw.split())
    if text.count("“") > text.count("”") and text.startswith("“"):
        text = text[1:]
    if text.count("”") > text.count("“") and text.endswith("”"):
        text = text[:-1]
    if text.count('"') % 2 == 1:
        text = text[1:] if text.startswith('"') else text[:-1] if text.endswith('"') else text
    return text.strip()


def as_sentence(text: str) -> str:
    """Text ending in sentence punctuation (a headline gets a period, a trailing colon becomes one)."""
    if re.search(r"[.!?…][\"”’')\]]*$", text):
        return text
    return text.rstrip(" :;,-–—") + "."


def strip_markers(text: str) -> str:
    """Text without [n] markers, whitespace tidied."""
    without = MARKER.sub("", text)
    return " ".join(re.sub(r"\s+([.,;:!?])", r"\1", without).split())


@dataclass(frozen=True)
class Candidate:
    """One article sentence of a hit, scored against the question."""

    hit_index: int  # 0-based position in the hits
    start: int  # offsets into the article text
    end: int
    text: str  # tidied, for the answer
    raw: str  # exactly article.text[start:end]
    semantic: float = 0.0
    lexical: float = 0.0
    score: float = 0.0


def hit_sentences(hit: Hit, hit_index: int) -> list[Candidate]:
    """The sentences of a hit's passage with offsets into the article text."""
    chunk = hit.chunk
    found: list[Candidate] = []
    for start, end in split_sentences(chunk.text):
        raw = chunk.text[start:end]
        found.append(
            Candidate(
                hit_index=hit_index,
                start=chunk.start + start,
                end=chunk.start + end,
                text=tidy_sentence(raw),
                raw=raw,
            )
        )
    return found


# Page furniture that names the story without saying anything: breadcrumbs, time stamps,
# bylines, photo credits, "Editing by"/"Reporting by" lines, "Read more" prompts.
_FURNITURE = re.compile(
    r"[›»]|\s\|\s|^(?:by|photo|photos|image|credit|editing|edited|reporting|reported|written"
    r"|writing|additional\s+reporting|read\s+more|related|advertisement|copyright|©|source)\b"
    r"|^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b|\((?:photo|image|credit)\b",
    re.IGNORECASE,
)


def _letters(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def is_furniture(candidate: Candidate) -> bool:
    """True for a dateline, breadcrumb, time stamp, byline or credit line."""
    return _FURNITURE.search(candidate.text) is not None


def is_headline(candidate: Candidate, title: str) -> bool:
    """True for the headline repeated in the text (alone or with a dateline or outlet around it)."""
    heading = _letters(title)
    words = _letters(candidate.text)
    return bool(heading) and heading in words and len(words) <= len(heading) + 40


def is_answer_material(candidate: Candidate) -> bool:
    """A sentence the extractive engine may quote: long enough, not a fragment, no instructions,
    not page furniture (dateline, breadcrumb, byline, credit)."""
    text = candidate.text
    return (
        MIN_SENTENCE_CHARS <= len(text) <= MAX_SENTENCE_CHARS
        and len(text.split()) >= MIN_SENTENCE_WORDS
        and _INSTRUCTION_LIKE.search(text) is None
        and not is_furniture(candidate)
    )
