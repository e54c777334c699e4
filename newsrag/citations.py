"""Citation checking: bad markers dropped, each sentence scored against what it cites, quotes built.

support of an answer sentence by a cited passage =
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
from collections.abc import Sequence
from dataclasses import dataclass

from newsrag.models import AnswerSentence, Citation, Hit
from newsrag.sentences import (
    MARKER,
    Candidate,
    TokenizerLike,
    VectorCache,
    hit_sentences,
    split_sentences,
    strip_markers,
)

SUPPORT_LEXICAL = 0.5

SUPPORT_SEMANTIC = 0.5

SUPPORT_THRESHOLD = 0.5


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


@dataclass(frozen=True)
class _Support:
    score: float
    best_sentence: Candidate | None


# A claim of at most this many words found inside a passage sentence is a span quoted from it.
SPAN_WORDS = 12


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
    for sentence in sentences:
        if len(quoted.split()) <= SPAN_WORDS and re.search(
            rf"(?<!\w){re.escape(quoted)}(?!\w)", _comparable(sentence.text)
        ):
            # A span copied from the sentence (the short answer, "970,000 [1]"): it says what the
            # sentence says of it; embedding every sentence of the passage would cost ~70 ms.
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
