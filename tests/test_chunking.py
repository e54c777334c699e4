"""Chunking: sentence-aware ~256-token passages whose offsets index the article text exactly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from newsrag.chunking import Chunker, article_id_of, chunk_id_for, embed_text_for, locate
from newsrag.config import Settings
from newsrag.models import Article
from tests.conftest import SEEDS_DIR


@pytest.fixture(scope="module")
def chunker(embedder) -> Chunker:
    return Chunker(settings=Settings(), tokenizer=embedder.tokenizer_function())


def seed_article(name: str, title: str) -> Article:
    text = next(SEEDS_DIR.glob(f"{name}_*.txt")).read_text(encoding="utf-8")
    return Article(
        id=f"seed{name}", title=title, text=text, date="2019-09-09", source="Kurdistan 24"
    )


def test_offsets_index_the_article_text(chunker: Chunker) -> None:
    article = seed_article("003", "Coalition continues strikes against IS remnants near Makhmour")
    chunks = chunker.chunk(article)
    assert len(chunks) >= 2
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    # Every part of the article is in some chunk.
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(index in covered for index, char in enumerate(article.text) if not char.isspace())


def test_chunks_fit_the_model_window_with_title(chunker: Chunker, embedder) -> None:
    article = seed_article("003", "Coalition continues strikes against IS remnants near Makhmour")
    tokenize = embedder.tokenizer_function()
    for chunk in chunker.chunk(article):
        assert chunk.embed_text.startswith("Coalition continues strikes")
        assert "2019-09-09" in chunk.embed_text.splitlines()[0]
        assert len(tokenize(chunk.embed_text)) <= 280


def test_long_metadata_does_not_shrink_chunks(chunker: Chunker) -> None:
    """The llama-index pitfall: metadata (long URLs) must not count against the chunk budget."""
    text = seed_article("003", "t").text
    plain = Article(id="x", title="t", text=text)
    noisy = Article(
        id="x",
        title="t",
        text=text,
        url="https://example.com/" + "a" * 2000,
        author="Someone " * 50,
    )
    assert len(chunker.chunk(plain)) == len(chunker.chunk(noisy))


def test_ids_are_stable_and_content_addressed(chunker: Chunker) -> None:
    article = seed_article("000", "In coordination with Peshmerga")
    first = [chunk.id for chunk in chunker.chunk(article)]
    again = [chunk.id for chunk in chunker.chunk(article)]
    assert first == again
    changed = Article(
        id=article.id,
        title="Another title",
        text=article.text,
        date=article.date,
        source=article.source,
    )
    assert [chunk.id for chunk in chunker.chunk(changed)] != first
    assert chunk_id_for("a", 0, "x") != chunk_id_for("a", 1, "x")


def test_empty_and_whitespace_articles_have_no_chunks(chunker: Chunker) -> None:
    assert chunker.chunk(Article(id="e", title="", text="")) == []
    assert chunker.chunk(Article(id="e", title="", text=" \n\n\t ")) == []


def test_embed_text_without_metadata_is_the_passage() -> None:
    assert embed_text_for(Article(id="a", title="", text="x"), "passage") == "passage"


def test_locate_tolerates_changed_whitespace() -> None:
    text = "One  sentence.\n\nTwo\tsentences here."
    assert locate(text, "Two sentences here.", 0) == (16, len(text))
    assert locate(text, "absent", 0) is None


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=3000))
def test_offsets_hold_for_any_text(chunker: Chunker, text: str) -> None:
    article = Article(id="h", title="Title", text=text)
    for chunk in chunker.chunk(article):
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip()


def test_a_passage_repeated_in_one_article_is_indexed_once(chunker: Chunker) -> None:
    text = "\n\n".join(["Same short paragraph about Makhmour."] * 400) + "\n\nA different ending."
    chunks = chunker.chunk(Article(id="r", title="Repeats", text=text))
    passages = [chunk.text for chunk in chunks]
    assert len(passages) == len(set(passages))
    assert any("A different ending." in passage for passage in passages)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text


def test_article_id_of_inverts_chunk_id_for() -> None:
    """Retrieval caps hits per article from chunk ids alone: the article id must come back intact."""
    for article_id in ("a6d192c06f9144c7", "seed-000-makhmour", "x-y-z-1", "a"):
        for ordinal in (0, 7, 12345):
            chunk_id = chunk_id_for(article_id, ordinal, "Title (Outlet, 2019-09-09)\nText")
            assert article_id_of(chunk_id) == article_id
