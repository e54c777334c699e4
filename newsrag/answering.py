"""Answers from hits: sentence splitting with offsets, the extractive engine, citation checking.

Scoring (the same numbers drive the extractive pick, the refusal and citation checks):
- relevance of an article sentence to the question =
  RELEVANCE_SEMANTIC * cosine(question, sentence) + RELEVANCE_LEXICAL * idf-weighted share of the
  question's content words (stemmed, keyword.Tokenizer) that the sentence contains.
  "How many/much/long/old" and "when" questions multiply it by ANSWER_TYPE_PENALTY for sentences
  without a number or time expression.
  The evidence of an answer is its best sentence's relevance; below settings.refusal_threshold the
  assistant refuses (calibrated on data: docs/benchmarks.md, "Answers").
- support of an answer sentence by a cited passage =
  SUPPORT_LEXICAL * share of the sentence's content words found in the passage
  + SUPPORT_SEMANTIC * best cosine between the sentence and one sentence of the passage.
  A sentence is supported when its best cited passage scores >= SUPPORT_THRESHOLD (0.5): a verbatim
  or closely paraphrased sentence scores 0.8-1.0; a claim the passage does not make scores
  0.2-0.45 (tests/test_answering.py has both kinds). Uncited sentences are unsupported.
AnswerSentence.text is the sentence exactly as it appears in Answer.text (markers included).
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from newsrag.models import AnswerSentence, Citation, Hit

RELEVANCE_SEMANTIC = 0.65
RELEVANCE_LEXICAL = 0.35
SUPPORT_LEXICAL = 0.5
SUPPORT_SEMANTIC = 0.5
SUPPORT_THRESHOLD = 0.5
# An extra sentence joins the answer only when it is nearly as relevant as the best one.
EXTRA_SENTENCE_RATIO = 0.85
NEAR_DUPLICATE_COSINE = 0.9
NEAR_DUPLICATE_OVERLAP = 0.7
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
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|several|half|once|twice"
)
_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_MONTH_OR_DAY = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday|yesterday|today|tomorrow|tonight|week|month|year|decade|century"
    r"|spring|summer|autumn|fall|winter|morning|evening|night|ago|earlier|later|since"
)
_DATE_LIKE = re.compile(rf"\d|\b(?:{_MONTH_OR_DAY})\b", re.IGNORECASE)
# Questions whose answer must contain a number or a time expression; a sentence without one is
# unlikely to answer them, so its relevance is multiplied by ANSWER_TYPE_PENALTY.
_ANSWER_TYPES = (
    (re.compile(r"\bhow\s+(?:many|much|old|far|long|often)\b", re.IGNORECASE), _NUMBER),
    (
        re.compile(
            r"^\W*when\b|\bsince\s+when\b|\b(?:what|which)\s+(?:year|date|day|month|time)\b",
            re.IGNORECASE,
        ),
        _DATE_LIKE,
    ),
)
ANSWER_TYPE_PENALTY = 0.8
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


def is_answer_material(candidate: Candidate) -> bool:
    """A sentence the extractive engine may quote: long enough, not a fragment, no instructions."""
    text = candidate.text
    return (
        MIN_SENTENCE_CHARS <= len(text) <= MAX_SENTENCE_CHARS
        and len(text.split()) >= MIN_SENTENCE_WORDS
        and _INSTRUCTION_LIKE.search(text) is None
    )


def expected_answer_pattern(question: str) -> re.Pattern[str] | None:
    """What an answer sentence must contain for "how many/when" questions (None: no demand)."""
    for question_pattern, answer_pattern in _ANSWER_TYPES:
        if question_pattern.search(question):
            return answer_pattern
    return None


def _idf_weights(token_sets: Sequence[set[str]]) -> dict[str, float]:
    """Smoothed idf of each token over the given sentences."""
    counts: dict[str, int] = {}
    for tokens in token_sets:
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
    total = len(token_sets)
    return {token: math.log(1.0 + total / (1.0 + count)) for token, count in counts.items()}


def score_candidates(
    query: str,
    hits: Sequence[Hit],
    *,
    cache: VectorCache,
    tokenizer: TokenizerLike,
    semantic_limit: int | None = None,
) -> list[Candidate]:
    """Every sentence of the hits, scored for relevance to the query (best first, stable ties).

    semantic_limit: embed at most this many sentences, those sharing most of the question's
    words (then the higher-ranked passage first); the rest keep their word-overlap score only.
    The model is the cost of an answer, and a sentence sharing no word with the question is
    rarely the one quoted.
    """
    candidates = [
        candidate
        for index, hit in enumerate(hits)
        for candidate in hit_sentences(hit, index)
        if is_answer_material(candidate)
    ]
    if not candidates:
        return []
    query_tokens = set(tokenizer.tokens(query))
    token_sets = [set(tokenizer.tokens(candidate.text)) for candidate in candidates]
    idf = _idf_weights(token_sets)
    default_idf = math.log(1.0 + len(candidates))  # a query word no sentence has
    query_weight = sum(idf.get(token, default_idf) for token in query_tokens)
    lexical = [
        sum(idf[token] for token in query_tokens & tokens) / query_weight if query_weight else 0.0
        for tokens in token_sets
    ]
    embedded = list(range(len(candidates)))
    if semantic_limit is not None and len(candidates) > semantic_limit:
        by_words = sorted(embedded, key=lambda i: (-lexical[i], candidates[i].hit_index, i))
        embedded = sorted(by_words[:semantic_limit])
    vectors = cache.get([query, *(candidates[i].text for i in embedded)])
    semantic = [0.0] * len(candidates)
    for index, similarity in zip(embedded, vectors[1:] @ vectors[0], strict=True):
        semantic[index] = float(similarity)
    expected = expected_answer_pattern(query)
    scored: list[Candidate] = []
    for candidate, similarity, overlap in zip(candidates, semantic, lexical, strict=True):
        score = RELEVANCE_SEMANTIC * similarity + RELEVANCE_LEXICAL * overlap
        if expected is not None and expected.search(candidate.text) is None:
            score *= ANSWER_TYPE_PENALTY
        scored.append(replace(candidate, semantic=similarity, lexical=overlap, score=score))
    scored.sort(key=lambda item: (-round(item.score, 6), item.hit_index, item.start))
    return scored


def evidence_strength(candidates: Sequence[Candidate]) -> float:
    """How well the hits answer the question: the best sentence's relevance (0 when none)."""
    return max((candidate.score for candidate in candidates), default=0.0)


def _word_overlap(first: str, second: str) -> float:
    words_a, words_b = set(first.casefold().split()), set(second.casefold().split())
    return len(words_a & words_b) / max(1, min(len(words_a), len(words_b)))


def select_sentences(
    candidates: Sequence[Candidate], *, limit: int, cache: VectorCache
) -> list[Candidate]:
    """Up to limit near-best sentences, no near-duplicates, grouped by article in reading order."""
    if not candidates:
        return []
    best = candidates[0].score
    picked: list[Candidate] = []
    for candidate in candidates:
        if len(picked) >= limit:
            break
        if picked and candidate.score < EXTRA_SENTENCE_RATIO * best:
            break
        vector = cache.get([candidate.text])[0]
        duplicate = any(
            float(cache.get([other.text])[0] @ vector) >= NEAR_DUPLICATE_COSINE
            or _word_overlap(candidate.text, other.text) >= NEAR_DUPLICATE_OVERLAP
            for other in picked
        )
        if not duplicate:
            picked.append(candidate)
    # Passages in order of their best sentence; sentences of one passage in reading order.
    first_pick: dict[int, int] = {}
    for order, candidate in enumerate(picked):
        first_pick.setdefault(candidate.hit_index, order)
    return sorted(picked, key=lambda item: (first_pick[item.hit_index], item.start))


def as_sentence(text: str) -> str:
    """Text ending in sentence punctuation (a headline gets a period, a trailing colon becomes one)."""
    if re.search(r"[.!?…][\"”’')\]]*$", text):
        return text
    return text.rstrip(" :;,-–—") + "."


def compose_extractive(selected: Sequence[Candidate]) -> str:
    """The answer draft: each selected sentence followed by [hit number]."""
    return " ".join(
        f"{as_sentence(candidate.text)} [{candidate.hit_index + 1}]" for candidate in selected
    )


@dataclass(frozen=True)
class CheckedAnswer:
    """An answer after citation checking: renumbered text, citations and per-sentence support."""

    text: str
    citations: tuple[Citation, ...]
    sentences: tuple[AnswerSentence, ...]


def _marker_numbers(body: str) -> list[int]:
    return [int(part) for part in re.split(r"\s*[,;]\s*", body.strip()) if part]


def drop_bad_markers(text: str, passage_count: int) -> str:
    """Remove citation numbers that point at no passage (and markers left empty)."""

    def keep(match: re.Match[str]) -> str:
        numbers = [
            number for number in _marker_numbers(match.group(1)) if 1 <= number <= passage_count
        ]
        return "".join(f"[{number}]" for number in dict.fromkeys(numbers))

    cleaned = MARKER.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)  # "days [9]." -> "days."
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip()


def strip_markers(text: str) -> str:
    """Text without [n] markers, whitespace tidied."""
    without = MARKER.sub("", text)
    return " ".join(re.sub(r"\s+([.,;:!?])", r"\1", without).split())


@dataclass(frozen=True)
class _Support:
    score: float
    best_sentence: Candidate | None


def _comparable(text: str) -> str:
    """Text with markers, spacing, case and closing punctuation evened out (to spot quotes)."""
    return " ".join(strip_markers(text).split()).casefold().rstrip(".!?…:;\"”’') ")


def passage_support(
    claim: str, hit_index: int, hit: Hit, *, cache: VectorCache, tokenizer: TokenizerLike
) -> _Support:
    """How well one passage supports a claim, and its best-supporting sentence."""
    sentences = hit_sentences(hit, hit_index) or [
        Candidate(hit_index, hit.chunk.start, hit.chunk.end, hit.chunk.text, hit.chunk.text)
    ]
    claim_tokens = set(tokenizer.tokens(claim))
    passage_tokens = set(tokenizer.tokens(hit.chunk.text))
    lexical = len(claim_tokens & passage_tokens) / len(claim_tokens) if claim_tokens else 0.0
    quoted = _comparable(claim)
    for sentence in sentences:
        if _comparable(sentence.text) == quoted:
            # A verbatim quote (the extractive engine's claims): its own cosine is 1, no model call.
            return _Support(
                score=SUPPORT_LEXICAL * lexical + SUPPORT_SEMANTIC, best_sentence=sentence
            )
    vectors = cache.get([claim, *(sentence.text for sentence in sentences)])
    similarities = vectors[1:] @ vectors[0]
    best_index = 0
    best_local = -math.inf
    for index, (sentence, similarity) in enumerate(zip(sentences, similarities, strict=True)):
        tokens = set(tokenizer.tokens(sentence.text))
        local_lexical = len(claim_tokens & tokens) / len(claim_tokens) if claim_tokens else 0.0
        local = SUPPORT_LEXICAL * local_lexical + SUPPORT_SEMANTIC * float(similarity)
        if local > best_local + 1e-9:
            best_index, best_local = index, local
    score = SUPPORT_LEXICAL * lexical + SUPPORT_SEMANTIC * float(similarities.max())
    return _Support(score=score, best_sentence=sentences[best_index])


def check_citations(
    text: str,
    hits: Sequence[Hit],
    *,
    cache: VectorCache,
    tokenizer: TokenizerLike,
) -> CheckedAnswer:
    """Drop bad markers, score each sentence against what it cites, renumber 1..N, build quotes."""
    cleaned = drop_bad_markers(text, len(hits))
    spans = split_sentences(cleaned)
    renumber: dict[int, int] = {}  # hit number (1-based) -> citation number
    quoted: dict[int, list[Candidate]] = {}  # hit number -> best sentences of the claims citing it
    drafts: list[tuple[str, tuple[int, ...], bool, float]] = []
    for start, end in spans:
        sentence = cleaned[start:end]
        cited = list(
            dict.fromkeys(
                n for match in MARKER.finditer(sentence) for n in _marker_numbers(match.group(1))
            )
        )
        claim = strip_markers(sentence)
        best_score = 0.0
        for number in cited:
            renumber.setdefault(number, len(renumber) + 1)
            support = passage_support(
                claim, number - 1, hits[number - 1], cache=cache, tokenizer=tokenizer
            )
            best_score = max(best_score, support.score)
            if support.best_sentence is not None:
                quoted.setdefault(number, []).append(support.best_sentence)
        supported = bool(cited) and best_score >= SUPPORT_THRESHOLD
        drafts.append((sentence, tuple(cited), supported, round(best_score, 4)))

    def renumbered(match: re.Match[str]) -> str:
        numbers = [renumber[number] for number in _marker_numbers(match.group(1))]
        return "".join(f"[{number}]" for number in numbers)

    sentences = tuple(
        AnswerSentence(
            text=MARKER.sub(renumbered, sentence),
            citations=tuple(renumber[number] for number in cited),
            supported=supported,
            support_score=score,
        )
        for sentence, cited, supported, score in drafts
    )
    citations = tuple(
        build_citation(new, hits[old - 1], quoted.get(old, []))
        for old, new in sorted(renumber.items(), key=lambda item: item[1])
    )
    return CheckedAnswer(
        text=MARKER.sub(renumbered, cleaned), citations=citations, sentences=sentences
    )


def build_citation(number: int, hit: Hit, quotes: Sequence[Candidate]) -> Citation:
    """Citation [number] for a hit; the quote spans its best-supporting sentence(s)."""
    chunk, meta = hit.chunk, hit.article
    if quotes:
        quote_start = min(item.start for item in quotes)
        quote_end = max(item.end for item in quotes)
    else:
        quote_start, quote_end = chunk.start, chunk.end
    local_start, local_end = quote_start - chunk.start, quote_end - chunk.start
    return Citation(
        number=number,
        article_id=meta.id,
        chunk_id=chunk.id,
        title=meta.title,
        source=meta.source,
        date=meta.date,
        url=meta.url,
        passage=chunk.text,
        passage_start=chunk.start,
        passage_end=chunk.end,
        quote=chunk.text[local_start:local_end],
        quote_start=quote_start,
        quote_end=quote_end,
    )
