"""The Question: checked once, the same answer whether asked as a Question or in the keyword style."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from newsrag.api_models import AskRequest, SearchRequest
from newsrag.config import Settings
from newsrag.models import Filters, Question, Turn
from newsrag.question import QueryError, make_question

MAYOR = "Who is the mayor of Makhmour?"


def test_make_question_checks_once_and_normalises() -> None:
    settings = Settings(max_question_chars=50)
    question = make_question(
        "  Who\x00 is the\tmayor?  ",
        settings=settings,
        history=[Turn("user", "earlier")],
        k=3,
        since="2019-01-01",
        sources=["  Kurdistan 24 ", " "],
        as_of="2020-02-03",
        engine_options={"reader": True},
    )
    assert question == Question(
        text="Who is the mayor?",
        history=(Turn("user", "earlier"),),
        filters=Filters(since=dt.date(2019, 1, 1), sources=("Kurdistan 24",)),
        k=3,
        as_of=dt.date(2020, 2, 3),
        engine_options=(("reader", True),),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        question.k = 4  # type: ignore[misc]
    for bad, match in (
        ({"k": 0}, "k must be between 1 and 100"),
        ({"k": 101}, "k must be between 1 and 100"),
        ({"since": "2020-01-02", "until": "2020-01-01"}, "swap them"),
        ({"until": "soon"}, "until 'soon' is not a date"),
    ):
        with pytest.raises(QueryError, match=match):
            make_question("fine", settings=settings, **bad)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="empty"):
        make_question(" \x07 ", settings=settings)
    with pytest.raises(QueryError, match="over the 50 limit"):
        make_question("x" * 51, settings=settings)


def test_http_models_build_the_question() -> None:
    settings = Settings()
    request = AskRequest.model_validate(
        {
            "question": MAYOR,
            "history": [{"role": "user", "content": "hi"}],
            "k": 2,
            "as_of": "2020-01-01",
        }
    )
    assert request.to_question(settings) == make_question(
        MAYOR, settings=settings, history=[Turn("user", "hi")], k=2, as_of=dt.date(2020, 1, 1)
    )
    search = SearchRequest.model_validate({"query": MAYOR, "sources": ["Rudaw"]})
    assert search.to_question(settings).filters == Filters(sources=("Rudaw",))


def test_question_and_keyword_style_give_the_same_hits_and_answer(
    seed_index, seed_retriever
) -> None:
    from newsrag.assistant import Assistant

    question = make_question(MAYOR, settings=seed_index, k=3, as_of="2020-01-01")
    by_question = seed_retriever.search(question)
    by_keywords = seed_retriever.search(MAYOR, 3, as_of="2020-01-01")
    assert [hit.chunk.id for hit in by_question] == [hit.chunk.id for hit in by_keywords]
    assert by_question and "Rizgar Mohammed" in by_question[0].chunk.text

    assistant = Assistant.open(seed_index, retriever=seed_retriever)
    answer = assistant.ask(question)
    assert answer.text == assistant.ask(MAYOR, k=3, as_of=dt.date(2020, 1, 1)).text
    assert "Rizgar Mohammed" in answer.text
    with pytest.raises(TypeError, match="carries its own k"):
        assistant.ask(question, k=2)
    with pytest.raises(QueryError):
        assistant.ask("   ")
    options = make_question(MAYOR, settings=seed_index, engine_options={"reader": "on"})
    assert assistant.retrieve(options).options == (("reader", "on"),)
