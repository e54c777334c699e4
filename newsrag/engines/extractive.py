"""The extractive engine: the best article sentences, quoted verbatim and cited, a short answer first."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from newsrag.engines.base import Draft, Retrieval
from newsrag.models import Hit
from newsrag.sentences import Candidate, VectorCache, as_sentence
from newsrag.short_answer import (
    EntityFinder,
    ShortAnswer,
    Similarity,
    phrase_answer,
    rank_short_answers,
)

# An extra sentence joins the answer only when it is nearly as relevant as the best one.
EXTRA_SENTENCE_RATIO = 0.85

NEAR_DUPLICATE_COSINE = 0.9

NEAR_DUPLICATE_OVERLAP = 0.7

# The sentences of the next-best short answers (at most ALTERNATIVES_QUOTED, each backed at least
# ALTERNATIVE_RATIO as strongly as the short answer) are quoted right after its own: chosen on
# rtqa-dev (docs/benchmarks.md "Answers").
ALTERNATIVES_QUOTED = 2
ALTERNATIVE_RATIO = 0.5


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


def compose_extractive(selected: Sequence[Candidate]) -> str:
    """The answer draft: each selected sentence followed by [hit number]."""
    return " ".join(
        f"{as_sentence(candidate.text)} [{candidate.hit_index + 1}]" for candidate in selected
    )


def with_sentence(selected: list[Candidate], sentence: Candidate, *, limit: int) -> list[Candidate]:
    """The selection holding sentence (the short answer's source), first of its passage's group."""
    if any(
        item.hit_index == sentence.hit_index and item.start == sentence.start for item in selected
    ):
        return selected
    kept = selected[: max(0, limit - 1)]
    return [sentence, *kept]


def head_similarity(cache: VectorCache) -> Similarity:
    """Cosine similarity of spans to a head noun, through the shared sentence-vector cache."""

    def similarity(head: str, spans: Sequence[str]) -> list[float]:
        vectors = cache.get([head, *spans])
        return [float(value) for value in vectors[1:] @ vectors[0]]

    return similarity


def short_answers_for(
    question: str,
    candidates: Sequence[Candidate],
    *,
    finder: EntityFinder,
    kind: str,
    hits: Sequence[Hit] = (),
    cache: VectorCache | None = None,
) -> list[ShortAnswer]:
    """The typed spans of the top sentences, best first, else a phrase of the best sentence
    ([] when there is none). hits: the passages the candidates come from, whose own outlets are
    never the answer; cache: the answer embedder's vectors, which rank spans by nearness to a
    "which <thing>" head noun."""
    outlets = {index: hit.article.source for index, hit in enumerate(hits)}
    ranked = rank_short_answers(
        question,
        candidates,
        finder=finder,
        kind=kind,
        outlets=outlets,
        similarity=head_similarity(cache) if cache is not None else None,
    )
    if ranked or not candidates:
        return ranked
    phrase = phrase_answer(question, candidates[0])
    if phrase is None:
        return []
    text, offset = phrase
    sentence = candidates[0]
    start = sentence.start + offset
    return [ShortAnswer(text, sentence.hit_index, sentence, start, start + len(text), 0.0, False)]


def with_alternatives(
    selected: list[Candidate],
    short: ShortAnswer,
    alternatives: Sequence[ShortAnswer],
    *,
    limit: int,
) -> list[Candidate]:
    """The short answer's sentence first, then the sentences naming the next-best spans backed at
    least ALTERNATIVE_RATIO as strongly (the reader sees the other candidates' evidence), then the
    rest of the selection, at most limit sentences."""
    first = [short.sentence]
    for alternative in alternatives[:ALTERNATIVES_QUOTED]:
        if short.score <= 0 or alternative.score < ALTERNATIVE_RATIO * short.score:
            break
        if not any(
            _same(alternative.sentence, sentence)
            or _word_overlap(alternative.sentence.text, sentence.text) >= NEAR_DUPLICATE_OVERLAP
            for sentence in first
        ):  # the same wire sentence in another outlet's copy is not more evidence
            first.append(alternative.sentence)
    rest = [item for item in selected if not any(_same(item, sentence) for sentence in first)]
    return (first + rest)[:limit]


def _same(first: Candidate, second: Candidate) -> bool:
    return first.hit_index == second.hit_index and first.start == second.start


class ExtractiveEngine:
    """Offline, deterministic answers: a short answer, then the best sentences quoted and cited."""

    name = "extractive"

    def __init__(self, *, sentences: int, finder: EntityFinder) -> None:
        self.sentences = sentences
        self.finder = finder

    def write(self, retrieval: Retrieval) -> Iterator[str | Draft]:
        """One Draft: the selected sentences with [hit] markers and the short answer."""
        ranked = (
            [retrieval.short, *retrieval.alternatives]
            if retrieval.short is not None
            else short_answers_for(
                retrieval.searched_for,
                retrieval.candidates,
                finder=self.finder,
                kind=retrieval.answer_type,
                hits=retrieval.hits,
                cache=retrieval.cache,
            )
        )
        yield self.draft(retrieval, ranked)

    def draft(self, retrieval: Retrieval, ranked: Sequence[ShortAnswer]) -> Draft:
        """The answer led by ranked[0] (its sentence quoted first, then the runner-ups')."""
        selected = select_sentences(
            retrieval.candidates, limit=self.sentences, cache=retrieval.cache
        )
        short = ranked[0] if ranked else None
        if short is not None:
            selected = with_sentence(selected, short.sentence, limit=self.sentences)
            selected = with_alternatives(selected, short, ranked[1:], limit=self.sentences)
        return Draft(
            text=compose_extractive(selected),
            short_answer=short.text if short else "",
            short_answer_hit=short.hit_index + 1 if short else None,
        )
