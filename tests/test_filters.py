"""Filters own their normal forms and their one-line description; the store and BM25 both use them."""

from __future__ import annotations

import datetime as dt

from newsrag.answer_text import render_answer_text
from newsrag.models import Answer, Filters
from newsrag.store import where_clause

DAY = dt.date(2019, 1, 2)


def test_normal_forms() -> None:
    filters = Filters.of(since=DAY, sources=["  Kurdistan  24 ", "", "kurdistan 24", "Rudaw"])
    assert filters.sources == ("Kurdistan  24", "kurdistan 24", "Rudaw")
    assert filters.source_keys() == ["kurdistan 24", "rudaw"]
    assert filters.date_bounds() == (20190102, None)
    assert Filters(until=DAY).date_bounds() == (None, 20190102)


def test_one_description_for_every_renderer() -> None:
    assert Filters().describe() == "any date · all outlets"
    assert Filters(since=DAY).describe() == "since 2019-01-02"
    assert Filters(until=DAY).describe() == "until 2019-01-02"
    both = Filters(since=DAY, until=dt.date(2019, 2, 1), sources=("Rudaw", "Kurdistan 24"))
    assert both.describe() == "2019-01-02 to 2019-02-01 · Rudaw, Kurdistan 24"
    answer = Answer(question="q", text="No answer.", filters=both, refused=True)
    assert f"(filters: {both.describe()})" in render_answer_text(answer)


def test_store_and_keyword_filter_the_same_way(seed_retriever) -> None:
    filters = Filters(since=dt.date(2019, 1, 1), sources=("  KURDISTAN   24",))
    assert where_clause(filters) == {
        "$and": [{"date_int": {"$gte": 20190101}}, {"source_key": {"$in": ["kurdistan 24"]}}]
    }
    dense = seed_retriever.search("mayor of Makhmour", 5, filters=filters, mode="dense")
    keyword = seed_retriever.search("mayor of Makhmour", 5, filters=filters, mode="keyword")
    assert dense and keyword
    assert {hit.article.id for hit in dense} == {hit.article.id for hit in keyword}
    other = Filters(sources=("Rudaw",))
    assert seed_retriever.search("mayor of Makhmour", 5, filters=other, mode="dense") == []
    assert seed_retriever.search("mayor of Makhmour", 5, filters=other, mode="keyword") == []
