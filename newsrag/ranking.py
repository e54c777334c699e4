"""Ranking components of hybrid search: fusion (RRF, convex, z-scores), query-term weights, pseudo-relevance
feedback, the recency prior, and lexical re-scoring of the best sentence, title and lede.

Pure functions over ids, scores, dates and texts; retrieval.py gathers the inputs and applies them.
docs/benchmarks.md ("Retrieval") has what each one is worth on held-out news.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from newsrag.keyword import STOPWORDS, TOKEN_PATTERN, Tokenizer

# Sentence ends: . ! ? (optionally closed by a quote or bracket) before a space, or a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+|\n+")


@dataclass(frozen=True)
class TermWeight:
    """One stemmed query term and how much it counts: idf × boost (names and numbers raised)."""

    token: str
    weight: float
    boost: float = 1.0


def idf(document_frequency: int, documents: int) -> float:
    """BM25's idf (always > 0): rare terms count more."""
    return math.log(1.0 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


def query_terms(
    query: str,
    tokenizer: Tokenizer,
    frequencies: Mapping[str, int],
    documents: int,
    *,
    name_boost: float = 0.0,
    number_boost: float = 0.0,
) -> list[TermWeight]:
    """Stemmed query terms weighted by idf × (1 + boost) for capitalised names and numbers.

    A capitalised word counts as a name unless it opens the question (where every word is
    capitalised); a word with a digit counts as a number. Terms the index does not hold are dropped.
    """
    weights: dict[str, tuple[float, float]] = {}
    for position, word in enumerate(TOKEN_PATTERN.findall(query)):
        if word.casefold() in STOPWORDS:
            continue
        boost = 1.0
        if any(char.isdigit() for char in word):
            boost += number_boost
        elif position > 0 and word[:1].isupper():
            boost += name_boost
        for token in tokenizer.tokens(word):
            if token not in frequencies:
                continue
            weight = idf(frequencies[token], documents) * boost
            weights[token] = max(weights.get(token, (0.0, 1.0)), (weight, boost))
    return [TermWeight(token, weight, boost) for token, (weight, boost) in weights.items()]


def expansion_terms(
    texts: Iterable[str],
    query: Sequence[TermWeight],
    tokenizer: Tokenizer,
    frequencies: Mapping[str, int],
    documents: int,
    *,
    count: int,
) -> list[str]:
    """Pseudo-relevance feedback: the terms of the top passages with the highest tf × idf.

    Terms already in the query are left out; a term must occur in two passages or more, so one
    passage's oddities do not steer the second search.
    """
    asked = {term.token for term in query}
    term_counts: Counter[str] = Counter()
    passages: Counter[str] = Counter()
    for text in texts:
        tokens = tokenizer.tokens(text)
        term_counts.update(tokens)
        passages.update(set(tokens))
    scored = [
        (term_counts[token] * idf(frequencies.get(token, 0), documents), token)
        for token in passages
        if token not in asked and passages[token] >= 2 and not token.isdigit() and len(token) > 2
    ]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [token for _, token in scored[:count]]


def normalise(scores: Sequence[tuple[str, float]], method: str) -> dict[str, float]:
    """Per-query normalised scores of one side: 'zscore' (mean 0, sd 1), 'max' (best = 1) or 'raw'."""
    values = [score for _, score in scores]
    if not values:
        return {}
    if method == "zscore":
        mean = statistics.fmean(values)
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        spread = spread or 1.0  # one candidate, or all equal: nothing to stretch
        return {chunk_id: (score - mean) / spread for chunk_id, score in scores}
    if method == "max":
        best = max(values)
        return {chunk_id: score / best if best > 0 else 0.0 for chunk_id, score in scores}
    return dict(scores)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, weights: Sequence[float], k: int
) -> dict[str, float]:
    """Weighted RRF: sum over rankings of weight / (k + rank); rank is 1-based."""
    # Exact sums, rounded once: scores equal in arithmetic tie exactly, whatever the order of terms.
    exact: dict[str, Fraction] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking, start=1):
            exact[key] = exact.get(key, Fraction(0)) + Fraction(weight) / (k + rank)
    return {key: float(value) for key, value in exact.items()}


def convex_fusion(
    dense: Sequence[tuple[str, float]],
    keyword: Sequence[tuple[str, float]],
    *,
    dense_weight: float,
    keyword_weight: float,
    keyword_complete: bool = False,
) -> dict[str, float]:
    """Convex combination of cosine similarity and BM25 divided by the best BM25 score.

    A candidate one side did not list gets that side's lowest listed score, an upper bound on its
    true score; BM25's is 0 when keyword_complete (the list holds every matching chunk).
    """
    total = dense_weight + keyword_weight
    if total <= 0:
        dense_weight, keyword_weight, total = 1.0, 1.0, 2.0  # both 0: weigh the sides equally
    dense_share, keyword_share = dense_weight / total, keyword_weight / total
    dense_scores = dict(dense)
    best_keyword = max((score for _, score in keyword), default=0.0)
    keyword_scores = {
        chunk_id: score / best_keyword if best_keyword > 0 else 0.0 for chunk_id, score in keyword
    }
    dense_floor = min(dense_scores.values(), default=0.0)
    keyword_floor = 0.0 if keyword_complete else min(keyword_scores.values(), default=0.0)
    return {
        chunk_id: dense_share * dense_scores.get(chunk_id, dense_floor)
        + keyword_share * keyword_scores.get(chunk_id, keyword_floor)
        for chunk_id in dict.fromkeys([*dense_scores, *keyword_scores])
    }


def zscore_fusion(
    dense: Sequence[tuple[str, float]],
    keyword: Sequence[tuple[str, float]],
    *,
    dense_weight: float,
    keyword_weight: float,
    keyword_complete: bool,
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Weighted mean of each side's per-query z-scores (no one slice's score scale baked in).

    A candidate one side did not list gets that side's lowest z; BM25's unlisted score is 0
    when keyword_complete (the list holds every matching chunk). Also returns both sides' z-scores.
    """
    dense_z = normalise(dense, "zscore")
    keyword_z = normalise([*keyword, ("", 0.0)] if keyword_complete else keyword, "zscore")
    keyword_floor = keyword_z.pop("", min(keyword_z.values(), default=0.0))
    dense_floor = min(dense_z.values(), default=0.0)
    total = dense_weight + keyword_weight or 1.0
    fused = {
        chunk_id: (
            dense_weight * dense_z.get(chunk_id, dense_floor)
            + keyword_weight * keyword_z.get(chunk_id, keyword_floor)
        )
        / total
        for chunk_id in dict.fromkeys([*dense_z, *keyword_z])
    }
    return fused, dense_z, keyword_z


def recency_prior(
    article_date: int,
    as_of: dt.date,
    *,
    half_life_days: float,
    future_half_life_days: float,
    window_days: float = 0.0,
) -> float:
    """A penalty in [-1, 0]: 0 for an article of the day as_of (or of the window_days before it),
    -1/2 one half-life earlier still.

    Articles dated after as_of (which a reader on that day could not have read) fall off with
    their own, shorter half-life; an undated article gets -1/2 (no evidence either way).
    """
    day = date_of(article_date) if article_date > 0 else None
    if day is None:
        return -0.5
    age = (as_of - day).days
    if 0 <= age <= window_days:  # the days just before as_of count alike
        return 0.0
    if age > 0:
        age -= int(window_days)
    half_life = half_life_days if age >= 0 else future_half_life_days
    if half_life <= 0:
        return 0.0 if age >= 0 else -1.0
    return 2.0 ** (-abs(age) / half_life) - 1.0


def date_of(date_int: int) -> dt.date | None:
    """A YYYYMMDD integer as a date (None for 0 or an impossible date)."""
    try:
        return (
            dt.date(date_int // 10000, date_int // 100 % 100, date_int % 100) if date_int else None
        )
    except ValueError:
        return None


def consensus_date(
    ranked: Sequence[str], dates: Mapping[str, int], *, count: int
) -> dt.date | None:
    """The weighted median date of the top `count` candidates (weight 1/rank), None if undated.

    News questions are about one moment: when no as_of is known, the days the strongest matches
    come from stand in for it (temporal pseudo-relevance feedback).
    """
    weighted = []
    for rank, chunk_id in enumerate(ranked[:count], start=1):
        day = date_of(dates.get(chunk_id, 0))
        if day is not None:
            weighted.append((day, 1.0 / rank))
    if not weighted:
        return None
    weighted.sort()
    half = sum(weight for _, weight in weighted) / 2
    running = 0.0
    for day, weight in weighted:
        running += weight
        if running >= half:
            return day
    return weighted[-1][0]


def names_a_period(query: str, as_of: dt.date) -> bool:
    """True when the question names an absolute period ("in 2019", "in March 2020").

    Relative periods ("this week", "recently") resolve against as_of: those agree with the
    recency prior and keep it on. A period is absolute when it resolves the same from two days.
    """
    from newsrag.dates import parse_question_dates

    here = parse_question_dates(query, as_of=as_of)
    if here.since is None and here.until is None:
        return False
    elsewhere = parse_question_dates(query, as_of=as_of + dt.timedelta(days=400))
    return (here.since, here.until) == (elsewhere.since, elsewhere.until)


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage (a light splitter: news prose, no abbreviations list)."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece and piece.strip()]


def coverage(tokens: Iterable[str], terms: Sequence[TermWeight]) -> float:
    """Share of the query's term weight that the tokens hold (0..1)."""
    total = sum(term.weight for term in terms)
    if total <= 0:
        return 0.0
    present = set(tokens)
    return sum(term.weight for term in terms if term.token in present) / total


def best_sentence_coverage(
    text: str, terms: Sequence[TermWeight], tokenizer: Tokenizer, *, window: int = 2
) -> float:
    """The highest coverage of the query by `window` consecutive sentences of the passage."""
    sentences = [tokenizer.tokens(sentence) for sentence in split_sentences(text)]
    if not sentences:
        return 0.0
    size = max(1, min(window, len(sentences)))
    return max(
        coverage(
            [token for sentence in sentences[start : start + size] for token in sentence], terms
        )
        for start in range(len(sentences) - size + 1)
    )


def chunk_ordinal(chunk_id: str) -> int:
    """The chunk's position in its article, from its id (article-ordinal-hash); -1 if unreadable."""
    parts = chunk_id.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else -1
