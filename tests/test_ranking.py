"""Ranking components on a small real index: each one must change the order it is meant to change.

The fixture corpus is written here (real model, real Chroma and BM25 in a temp dir); every test
shows the order without the component, then with it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from newsrag.config import Settings
from newsrag.ranking import (
    TermWeight,
    best_sentence_coverage,
    chunk_ordinal,
    names_a_period,
    normalise,
    recency_prior,
    split_sentences,
)
from newsrag.retrieval import QueryError, Retriever

FILLER = (
    "Residents gathered at the town hall on Monday evening. The weather was mild and the "
    "meeting ran long. Several speakers raised questions about parking and schools."
)
ARTICLES: list[dict[str, Any]] = [
    # An older article and a recent near-duplicate: the old one matches the query a little
    # better (it says "library" twice), so without as_of it ranks first.
    {
        "id": "library-2019",
        "title": "Council votes on library budget",
        "date": "2019-03-02",
        "source": "Town Crier",
        "text": "The city council voted to expand the public library budget, and the library "
        "will open on Sundays. " + FILLER,
    },
    {
        "id": "library-2022",
        "title": "Council votes on library budget again",
        "date": "2022-07-08",
        "source": "Town Crier",
        "text": "The city council voted to expand the public library budget and open on "
        "Sundays. " + FILLER,
    },
    # Shares the library articles' other words but neither "library" nor "Sundays".
    {
        "id": "council-roads",
        "title": "Roads plan",
        "date": "2022-07-01",
        "source": "Town Crier",
        "text": "The city council voted to expand the public roads budget. " + FILLER,
    },
    # A rare name once, against a passage that repeats the question's common words.
    {
        "id": "rare-name",
        "title": "Harbour works",
        "date": "2022-06-01",
        "source": "Coast News",
        "text": "Engineers said Quillabrook will lead the harbour dredging project next spring. "
        + FILLER,
    },
    {
        "id": "common-words",
        "title": "Project news",
        "date": "2022-06-02",
        "source": "Coast News",
        "text": "The project will lead to a new project. Who will lead the project? The project "
        "lead said the project will lead the region. " + FILLER,
    },
    # The query in a title, against a body that repeats it.
    {
        "id": "title-match",
        "title": "Lighthouse restoration finished",
        "date": "2022-04-01",
        "source": "Coast News",
        "text": "Volunteers painted the tower white again and the keeper's cottage reopened. "
        + FILLER,
    },
    {
        "id": "body-match",
        "title": "Coastal notes",
        "date": "2022-04-02",
        "source": "Coast News",
        "text": "Lighthouse restoration plans, lighthouse restoration costs and more lighthouse "
        "restoration questions were discussed. " + FILLER,
    },
    # Query words in one sentence against the same words scattered across a long passage.
    {
        "id": "one-sentence",
        "title": "Weekend markets",
        "date": "2022-05-10",
        "source": "Valley Post",
        "text": FILLER
        + " Farmers sold the cheapest tomatoes at the Saturday market in Brenton. "
        + FILLER,
    },
    {
        "id": "scattered",
        "title": "Valley round-up",
        "date": "2022-05-11",
        "source": "Valley Post",
        "text": "Farmers met on Friday. "
        + FILLER
        + " Prices of tomatoes rose. "
        + FILLER
        + " The cheapest fuel was in Brenton. A Saturday market opened. Tomatoes were cheapest there.",
    },
]


@pytest.fixture(scope="module")
def ranking_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Retriever:
    """The fixture corpus ingested once; a Retriever with the default settings (no as_of: no prior)."""
    from newsrag.ingest import ingest

    folder = tmp_path_factory.mktemp("ranking")
    corpus = folder / "corpus"
    corpus.mkdir()
    lines = [
        json.dumps({**article, "url": f"https://example.org/{article['id']}"})
        for article in ARTICLES
    ]
    (corpus / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index", near_duplicate_threshold=0.0)
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert report.added == len(ARTICLES), report.summary()
    return Retriever.open(settings, embedder=embedder)


def with_settings(retriever: Retriever, **overrides: Any) -> Retriever:
    """The same index, other ranking settings."""
    settings = Settings(**{**retriever.settings.model_dump(), **overrides})
    return Retriever(
        settings=settings,
        embedder=retriever.embedder,
        store=retriever.store,
        keyword=retriever.keyword,
    )


def name(hit: Any) -> str:
    """The fixture's name of a hit's article (the end of its URL; ingest makes its own ids)."""
    return str(hit.article.url).rsplit("/", 1)[-1]


def order(hits: list[Any], *names: str) -> list[str]:
    """The listed fixture names in the order the hits hold them."""
    return [name(hit) for hit in hits if name(hit) in names]


def test_recency_prior_puts_the_recent_near_duplicate_first(ranking_index: Retriever) -> None:
    retriever = with_settings(ranking_index, recency_weight=0.2)
    query = "library budget open on Sundays library"
    pair = ("library-2019", "library-2022")
    assert order(retriever.search(query, k=6), *pair) == ["library-2019", "library-2022"]
    hits = retriever.search(query, k=6, as_of=dt.date(2022, 7, 10), explain=True)
    assert order(hits, *pair) == ["library-2022", "library-2019"]
    priors = {name(hit): hit.explain["priors"]["recency"] for hit in hits if hit.explain}
    assert priors["library-2022"] > priors["library-2019"]
    # Switched off by the caller: the plain order again.
    off = retriever.search(query, k=6, as_of="2022-07-10", recency=False)
    assert order(off, *pair) == ["library-2019", "library-2022"]


def test_recency_prior_is_off_when_the_question_names_a_period(ranking_index: Retriever) -> None:
    retriever = with_settings(ranking_index, recency_weight=0.2)
    hits = retriever.search(
        "library budget open on Sundays in 2019", k=6, as_of="2022-07-10", explain=True
    )
    assert hits and all("recency" not in (hit.explain or {})["priors"] for hit in hits)
    assert all(hit.explain and hit.explain["as_of"] is None for hit in hits)


def test_name_boost_puts_the_rare_name_ahead_of_repeated_common_words(
    ranking_index: Retriever,
) -> None:
    query = "Who will lead the Quillabrook project?"
    pair = ("rare-name", "common-words")
    plain = ranking_index.search(query, k=6, mode="keyword")
    assert order(plain, *pair) == ["common-words", "rare-name"]
    boosted = with_settings(ranking_index, keyword_name_boost=2.0)
    assert order(boosted.search(query, k=6, mode="keyword"), *pair) == ["rare-name", "common-words"]


def test_sentence_rescoring_prefers_the_words_together(ranking_index: Retriever) -> None:
    query = "cheapest tomatoes Saturday market Brenton farmers"
    pair = ("one-sentence", "scattered")
    plain = ranking_index.search(query, k=6, mode="keyword")
    assert order(plain, *pair) == ["scattered", "one-sentence"]
    rescored = with_settings(ranking_index, sentence_weight=1.0, sentence_window=1)
    hits = rescored.search(query, k=6, mode="keyword", explain=True)
    assert order(hits, *pair) == ["one-sentence", "scattered"]
    assert hits[0].explain and hits[0].explain["priors"]["sentence"] > 0


def test_title_weight_prefers_the_title_that_names_the_query(ranking_index: Retriever) -> None:
    query = "lighthouse restoration"
    pair = ("title-match", "body-match")
    plain = ranking_index.search(query, k=8, mode="keyword")
    assert order(plain, *pair) == ["body-match", "title-match"]
    titled = with_settings(ranking_index, title_weight=1.0)
    assert order(titled.search(query, k=8, mode="keyword"), *pair) == ["title-match", "body-match"]


def test_feedback_finds_a_passage_the_plain_query_misses(ranking_index: Retriever) -> None:
    query = "library Sundays"
    plain = [name(hit) for hit in ranking_index.search(query, k=8, mode="keyword")]
    assert sorted(plain) == ["library-2019", "library-2022"]  # only they hold the words
    expanded = with_settings(ranking_index, prf_documents=2, prf_terms=5, prf_weight=0.5)
    found = [name(hit) for hit in expanded.search(query, k=8, mode="keyword")]
    # Their shared words (council, voted, expand, public, budget) bring in the roads article
    # next, ahead of articles that share only the filler every fixture holds.
    assert sorted(found[:2]) == ["library-2019", "library-2022"]
    assert found[2] == "council-roads"


def test_explain_reports_both_sides_and_the_fusion(ranking_index: Retriever) -> None:
    hits = ranking_index.search("library budget", k=3, explain=True)
    first = hits[0]
    assert first.explain is not None
    assert first.explain["fusion"] == ranking_index.settings.fusion
    assert first.explain["dense_normalised"] == pytest.approx(first.dense_score)
    assert first.explain["keyword_normalised"] is not None
    assert "explain" in first.to_dict()
    assert "explain" not in ranking_index.search("library budget", k=1)[0].to_dict()


def test_zscore_fusion_ranks_and_explains(ranking_index: Retriever) -> None:
    retriever = with_settings(ranking_index, fusion="zscore")
    hits = retriever.search("library budget open on Sundays", k=4, explain=True)
    assert name(hits[0]).startswith("library")
    assert hits[0].explain and hits[0].explain["fusion"] == "zscore"
    assert hits[0].score == pytest.approx(hits[0].explain["fused"])


def test_bad_as_of_is_a_query_error(ranking_index: Retriever) -> None:
    with pytest.raises(QueryError, match="as_of"):
        ranking_index.search("library", as_of="yesterday")


# --- pure functions ---------------------------------------------------------------------------


def test_recency_prior_shape() -> None:
    as_of = dt.date(2022, 7, 10)
    same_day = recency_prior(20220710, as_of, half_life_days=30, future_half_life_days=3)
    month_old = recency_prior(20220610, as_of, half_life_days=30, future_half_life_days=3)
    year_old = recency_prior(20210710, as_of, half_life_days=30, future_half_life_days=3)
    week_after = recency_prior(20220717, as_of, half_life_days=30, future_half_life_days=3)
    assert same_day == 0.0
    assert month_old == pytest.approx(-0.5, abs=0.02)
    assert year_old < month_old < same_day
    assert week_after < month_old  # a reader on as_of could not have read it
    assert recency_prior(0, as_of, half_life_days=30, future_half_life_days=3) == -0.5


def test_names_a_period() -> None:
    day = dt.date(2022, 7, 10)
    assert names_a_period("Who won the Emmys in 2021?", day)
    assert names_a_period("What happened in March 2020?", day)
    assert not names_a_period("Who won the Emmys this week?", day)  # relative: the prior agrees
    assert not names_a_period("Who won the Emmys?", day)


def test_normalise_is_scale_free() -> None:
    scores = [("a", 12.0), ("b", 6.0), ("c", 3.0)]
    scaled = [(key, value * 7) for key, value in scores]
    assert normalise(scores, "zscore") == pytest.approx(normalise(scaled, "zscore"))
    assert normalise(scores, "max")["a"] == 1.0
    assert normalise([("a", 5.0)], "zscore") == {"a": 0.0}


def test_sentences_and_coverage(ranking_index: Retriever) -> None:
    tokenizer = ranking_index.keyword.tokenizer
    assert split_sentences("One. Two! Three?\nFour") == ["One.", "Two!", "Three?", "Four"]
    terms = [TermWeight("rare", 3.0), TermWeight("common", 1.0)]
    assert best_sentence_coverage("Common words. A rare one.", terms, tokenizer, window=1) == 0.75
    assert best_sentence_coverage("Common words. A rare one.", terms, tokenizer, window=2) == 1.0
    assert chunk_ordinal("article-1-0003-abcdef0123") == 3
    assert chunk_ordinal("odd") == -1


def test_lede_weight_lifts_an_articles_first_passage(tmp_path: Path, embedder) -> None:
    from newsrag.ingest import ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = " ".join(
        f"Sentence {number} talks about the river bridge repairs." for number in range(40)
    )
    record = {"id": "bridge", "title": "Bridge", "date": "2022-01-01", "source": "S", "text": body}
    (corpus / "a.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    settings = Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", chunk_size=64, chunk_overlap=0
    )
    ingest([corpus], settings=settings, progress=False, embedder=embedder)
    retriever = with_settings(
        Retriever.open(settings, embedder=embedder), max_chunks_per_article=10
    )
    query = "Sentence 30 river bridge repairs"
    assert retriever.search(query, k=10)[0].chunk.ordinal != 0
    lifted = with_settings(retriever, lede_weight=1.0).search(query, k=10)
    assert lifted[0].chunk.ordinal == 0


def test_consensus_prior_follows_the_days_of_the_strongest_matches(
    ranking_index: Retriever,
) -> None:
    # Without as_of: most strong matches are from mid-2022, so the 2022 copy wins over 2019's.
    query = "library budget open on Sundays library"
    pair = ("library-2019", "library-2022")
    retriever = with_settings(
        ranking_index, consensus_documents=8, consensus_weight=0.5, consensus_half_life_days=60
    )
    hits = retriever.search(query, k=8, explain=True)
    assert order(hits, *pair) == ["library-2022", "library-2019"]
    assert all(hit.explain and "consensus" in hit.explain["priors"] for hit in hits)
    # A named period switches it off, as it does the recency prior.
    named = retriever.search(query + " in 2019", k=8, explain=True)
    assert all(hit.explain and "consensus" not in hit.explain["priors"] for hit in named)


def test_consensus_date_is_a_weighted_median() -> None:
    from newsrag.ranking import consensus_date

    dates = {"a": 20190101, "b": 20220701, "c": 20220705, "d": 0}
    assert consensus_date(["b", "a", "c", "d"], dates, count=4) == dt.date(2022, 7, 1)
    assert consensus_date(["a", "b"], dates, count=2) == dt.date(2019, 1, 1)
    assert consensus_date(["d"], dates, count=1) is None
