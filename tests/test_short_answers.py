"""Answers that answer: short answers by type, near-miss refusals, event dates, undated articles,
metadata questions. Real model, real Chroma, real spaCy pipeline, on the seeds and a small fixture."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from newsrag.assistant import Assistant
from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.metadata_answers import metadata_question
from newsrag.short_answer import (
    AGE,
    DATE,
    DURATION,
    MONEY,
    NUMBER,
    ORGANIZATION,
    PERCENT,
    PERSON,
    PLACE,
    THING,
    EntityFinder,
    answer_type,
)

SEEDS = Path(__file__).resolve().parents[1] / "corpus"

# A council that voted on 3 March, reported a week later; an unrelated story published on 3 March.
FIXTURE = [
    {
        "id": "council-vote",
        "url": "https://example.org/news/council-vote",
        "title": "Erbil council approves new water plan",
        "date": "2021-03-10",
        "source": "Example Daily",
        "author": "Jane Roe",
        "editor": "John Poe",
        "text": (
            "On 3 March, the Erbil city council voted 14 to 3 to approve a new water plan for the "
            "city's eastern districts. The plan will cost $12 million and is due to be finished "
            "within two years, council spokeswoman Layla Hassan said. About 40 percent of homes in "
            "the eastern districts lack a reliable supply, according to the council's own survey."
        ),
    },
    {
        "id": "football-match",
        "url": "https://example.org/news/football",
        "title": "Erbil SC wins the derby",
        "date": "2021-03-03",
        "source": "Example Daily",
        "author": "Sam Doe",
        "text": (
            "Erbil SC beat Duhok SC 2-1 in a tense derby at Franso Hariri Stadium on Wednesday "
            "evening. Thousands of supporters filled the stands, and the coach praised the players "
            "for their discipline after a difficult season."
        ),
    },
]


@pytest.fixture(scope="module")
def seed_assistant(seed_index: Settings, embedder) -> Assistant:
    return Assistant.open(seed_index, embedder=embedder)


@pytest.fixture(scope="module")
def fixture_assistant(tmp_path_factory: pytest.TempPathFactory, embedder) -> Assistant:
    folder = tmp_path_factory.mktemp("short-answer-corpus")
    with (folder / "articles.jsonl").open("w", encoding="utf-8") as handle:
        for record in FIXTURE:
            handle.write(json.dumps(record) + "\n")
    for path in sorted(SEEDS.glob("*.txt")):  # one dated and one undated seed article
        shutil.copy(path, folder / path.name)
    settings = Settings(corpus_dir=folder, index_dir=tmp_path_factory.mktemp("short-answer-index"))
    report = ingest([folder], settings=settings, progress=False, embedder=embedder)
    assert report.added == 4, report.summary()
    return Assistant.open(settings, embedder=embedder)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who is the mayor of Makhmour?", PERSON),
        ("Which Peshmerga colonel spoke to Kurdistan 24?", PERSON),
        ("How many ISIS militants did the airstrikes kill?", NUMBER),
        ("How much will the water plan cost?", MONEY),
        ("What percentage of homes lack water?", PERCENT),
        ("How long did the airstrikes last?", DURATION),
        ("How old is the mayor?", AGE),
        ("When did Iraq declare victory?", DATE),
        ("Where did the derby take place?", PLACE),
        ("Which country fled its leader to the Maldives?", PLACE),
        ("Which company recalled its products?", ORGANIZATION),
        ("Which show got the most Emmy nominations?", THING),
        ("What did the mayor say about Daesh?", ""),
        ("Why were the villages evacuated?", ""),
    ],
)
def test_answer_type_of_questions(question: str, kind: str) -> None:
    assert answer_type(question) == kind


@pytest.mark.parametrize(
    ("question", "short", "title"),
    [
        ("Who is the mayor of Makhmour?", "Rizgar Mohammed", "Coalition continues strikes"),
        ("How long did the airstrikes on Qarachokh mountain last?", "two days", "In coordination"),
        ("How many ISIS militants did the coalition airstrikes kill?", "10", "In coordination"),
        ("When did Iraq declare final victory against the Islamic State?", "December 2017", ""),
        ("Which Peshmerga colonel said there were no operations near Makhmour?", "Srood", ""),
        ("Who is the spokesman for the US-led coalition?", "Thomas Veale", ""),
    ],
)
def test_short_answer_first_verbatim_and_cited(
    seed_assistant: Assistant, question: str, short: str, title: str
) -> None:
    answer = seed_assistant.ask(question)
    assert not answer.refused
    assert short in answer.short_answer and len(answer.short_answer.split()) <= 12
    # The text opens with the short answer and its [n], then the cited sentences.
    number = answer.short_answer_citation
    assert number is not None
    assert answer.text.startswith(f"{answer.short_answer} [{number}]\n\n")
    citation = answer.citations[number - 1]
    assert answer.short_answer in citation.passage  # copied verbatim from the cited passage
    assert citation.title.startswith(title)
    assert len(answer.sentences) - 1 <= 3
    assert answer.to_dict()["short_answer"] == answer.short_answer


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("How much will the Erbil water plan cost?", "$12 million"),
        ("What percentage of homes in the eastern districts lack a reliable supply?", "40 percent"),
        ("Who is the council spokeswoman?", "Layla Hassan"),
        ("Which stadium hosted the derby between Erbil SC and Duhok SC?", "Franso Hariri Stadium"),
    ],
)
def test_short_answers_on_the_fixture(fixture_assistant: Assistant, question: str, short: str):
    answer = fixture_assistant.ask(question)
    assert not answer.refused and short in answer.short_answer, answer.text


NEAR_MISSES = [
    "How old is the mayor of Makhmour?",  # names the mayor, says nothing of his age
    "When was the mayor of Makhmour elected?",
    "Who is the governor of Nineveh?",
    "How much did the Erbil SC coach earn last season?",
]


@pytest.mark.parametrize("question", NEAR_MISSES)
def test_near_miss_questions_are_refused_with_the_closest_passages(
    fixture_assistant: Assistant, question: str
) -> None:
    answer = fixture_assistant.ask(question)
    assert answer.refused, answer.text
    assert answer.short_answer == "" and answer.hits  # the closest passages are still shown


def test_event_date_is_matched_in_the_text_not_the_publication_date(
    fixture_assistant: Assistant,
) -> None:
    answer = fixture_assistant.ask(
        "What did the council decide on 3 March?", as_of=dt.date(2021, 3, 20)
    )
    assert answer.filters.since is None and answer.filters.until is None
    assert not answer.refused
    # Published on 10 March, it says what happened on 3 March; the 3 March match report does not.
    assert answer.citations[0].title == "Erbil council approves new water plan"
    assert answer.citations[0].date == "2021-03-10"


def test_undated_article_under_a_year_filter_is_reported(fixture_assistant: Assistant) -> None:
    answer = fixture_assistant.ask("What did the Peshmerga do near Makhmour in 2019?")
    assert answer.filters.since == dt.date(2019, 1, 1)
    assert "1 undated article not searched (the date filter needs a publication date)" in (
        answer.notes
    )
    assert "'in 2019' -> published 2019-01-01 to 2019-12-31" in answer.notes
    assert all(citation.date == "2019-09-09" for citation in answer.citations)


@pytest.mark.parametrize(
    ("question", "field"),
    [
        ("Who wrote the article about the Erbil water plan?", "author"),
        ("Who edited the story on the council's water plan?", "editor"),
        ("When was the article about the Erbil derby published?", "date"),
        ("Which outlet published the report on the water plan?", "source"),
        ("Who wrote the letter to the council?", None),  # a question about the news, not an article
    ],
)
def test_metadata_question_detection(question: str, field: str | None) -> None:
    assert metadata_question(question) == field


@pytest.mark.parametrize(
    ("question", "value", "title"),
    [
        ("Who wrote the article about the Erbil water plan?", "Jane Roe", "Erbil council"),
        ("Who edited the story on the council's water plan?", "John Poe", "Erbil council"),
        ("When was the article about the Erbil SC derby published?", "2021-03-03", "Erbil SC"),
        ("Which outlet published the report on the water plan?", "Example Daily", "Erbil council"),
    ],
)
def test_metadata_questions_are_answered_from_metadata(
    fixture_assistant: Assistant, question: str, value: str, title: str
) -> None:
    answer = fixture_assistant.ask(question)
    assert not answer.refused and answer.short_answer == value
    assert answer.citations[0].title.startswith(title)
    assert value in answer.text and answer.sentences[0].supported


def test_entity_finder_falls_back_to_rules_without_the_model() -> None:
    finder = EntityFinder("no_such_spacy_package")
    assert not finder.uses_model
    (found,) = finder.entities(["The plan will cost $12 million, said Colonel Srood."])
    texts = {entity.text for entity in found}
    assert "$12 million" in texts and any(text.endswith("Srood") for text in texts)
