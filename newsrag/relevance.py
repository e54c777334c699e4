"""Relevance of passage sentences to a question: the scores behind the pick, the refusal and citations.

relevance of an article sentence to the question =
  RELEVANCE_SEMANTIC * cosine(question, sentence) + RELEVANCE_LEXICAL * idf-weighted share of the
  question's content words (stemmed, keyword.Tokenizer) that the sentence contains.
"How many/much/long/old" and "when" questions multiply it by ANSWER_TYPE_PENALTY for sentences
without a number or time expression. The evidence of an answer is its best sentence's relevance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

from newsrag.models import Hit
from newsrag.sentences import (
    Candidate,
    TokenizerLike,
    VectorCache,
    hit_sentences,
    is_answer_material,
    word_set,
)

RELEVANCE_SEMANTIC = 0.65

RELEVANCE_LEXICAL = 0.35


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


_NAME_WORD = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]*")
# Question words, and verbs any report may use for anything: not what a question asks about.
_QUESTION_WORDS = word_set(
    """who whom whose what which when where why how many much long old often far wide tall high
    deep big large is are was were do does did has have had will would can could should name
    happen happened happens happening say said says tell told do done make made take took taken
    place go went get got come came give gave mean means know think according report reported
    reports news new latest recent recently story article articles near about around between
    against during after before over under into across inside outside within without among
    since until upon via per"""
)


def predicate_terms(question: str, tokenizer: TokenizerLike) -> set[str]:
    """The question's content words beyond its names and places (stemmed): what it asks about.

    "How old is the mayor of Makhmour?" -> {old, mayor}: a passage naming Makhmour's mayor
    without an age covers "mayor" only.
    """
    names = " ".join(match.group(0) for match in _NAME_WORD.finditer(question))
    name_tokens = set(tokenizer.tokens(names))
    words = [
        word for word in re.findall(r"[\w'’-]+", question) if word.casefold() not in _QUESTION_WORDS
    ]
    return set(tokenizer.tokens(" ".join(words))) - name_tokens


def coverage(terms: set[str], text: str, tokenizer: TokenizerLike) -> float:
    """Share of the terms that text contains (1.0 when there are none to cover)."""
    if not terms:
        return 1.0
    return len(terms & set(tokenizer.tokens(text))) / len(terms)
