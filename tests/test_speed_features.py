"""Speed features keep results exact: fast token counts, chunking beside the model, dedupe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import newsrag.chunking as chunking
import newsrag.ingest as ingest_module
from newsrag.chunking import (
    Chunker,
    NearDuplicates,
    PassageSignature,
    TokenCounter,
    chunk_article,
    chunk_stream,
)
from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.manifest import Manifest
from newsrag.models import Article
from newsrag.store import VectorStore
from tests.conftest import SEEDS_DIR

TRICKY = (
    "Héllo wörld\x00joined \u2028 日本語 can't $5,000.00 — https://x.com/a_b?c=d "
    "e\u0301t\u00e9 naïve\t\tcafé;ok.Next  sentence!\n\nPara \x1c two \u200b zero-width. "
)


def seed_texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(SEEDS_DIR.glob("*.txt"))]


@pytest.fixture(scope="module")
def exact(embedder):
    tokenizer = embedder.model.tokenizer
    return lambda text: list(tokenizer.encode(text, add_special_tokens=False))


def test_counter_matches_the_tokenizer_on_every_cut_of_real_and_tricky_text(
    embedder, exact
) -> None:
    counter = embedder.tokenizer_function()
    assert isinstance(counter, TokenCounter) and counter.backend is not None
    for text in [*seed_texts(), TRICKY * 3]:
        counter.prepare(text)
        cuts = sorted({0, len(text), *range(0, len(text), 37), *range(5, len(text), 101)})
        for start in cuts[::3]:
            for end in cuts:
                if end >= start:
                    assert counter(text[start:end]) == exact(text[start:end]), (start, end)
    assert counter.fast_calls > 100  # clean cuts came from the article's one tokenization
    assert counter.exact_calls > 0  # cuts inside words went to the tokenizer


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400),
    st.integers(0, 400),
    st.integers(0, 400),
)
def test_counter_is_exact_for_any_text_and_span(embedder, exact, text: str, a: int, b: int) -> None:
    counter = embedder.tokenizer_function()
    counter.prepare(text)
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    assert counter(text[start:end]) == exact(text[start:end])
    assert counter("not from the article at all") == exact("not from the article at all")


def test_fast_chunker_gives_the_same_chunks_as_the_plain_tokenizer(embedder, exact) -> None:
    settings = Settings()
    fast = Chunker(settings=settings, tokenizer=embedder.tokenizer_function())
    plain = Chunker(settings=settings, tokenizer=exact)
    articles = [
        Article(id=f"a{index}", title="Title", text=text, date="2022-07-01", source="Outlet")
        for index, text in enumerate([*seed_texts(), TRICKY * 40, "word " * 900])
    ]
    for article in articles:
        chunks, lengths = fast.chunk_with_lengths(article)
        assert chunks == plain.chunk(article)
        # Token counts (what batches are sorted by) are the tokenizer's own.
        assert lengths == [len(exact(chunk.embed_text)) for chunk in chunks]


def make_articles(count: int) -> list[Article]:
    texts = seed_texts()
    return [
        Article(
            id=f"art{index}",
            title=f"Story {index}",
            text=texts[index % len(texts)] + f"\n\nUpdate number {index}.",
            date="2022-07-01",
            source="Outlet",
        )
        for index in range(count)
    ]


def test_forked_chunking_yields_what_serial_chunking_yields(
    embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunker = Chunker(settings=Settings(), tokenizer=embedder.tokenizer_function())
    articles = make_articles(11)
    serial = [chunk_article(chunker, article, signatures=True) for article in articles]
    monkeypatch.setattr(chunking, "PARALLEL_MIN_ARTICLES", 2)
    monkeypatch.setattr(chunking, "ARTICLES_PER_TASK", 3)
    forked = list(chunk_stream(articles, chunker, signatures=True))
    assert [item.article.id for item in forked] == [article.id for article in articles]
    for one, other in zip(serial, forked, strict=True):
        assert one.chunks == other.chunks and one.lengths == other.lengths
        for mine, theirs in zip(one.signatures, other.signatures, strict=True):
            assert (mine is None) == (theirs is None)
            if mine is not None and theirs is not None:
                assert np.array_equal(mine.minhash, theirs.minhash)


def write_corpus(folder: Path, articles: list[Article]) -> Path:
    """A JSONL corpus file of these articles (ids, titles and dates as given)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    records = [
        {"id": a.id, "title": a.title, "date": a.date, "source": a.source, "text": a.text}
        for a in articles
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_pipelined_ingest_gives_the_same_index_as_the_serial_one(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_corpus(tmp_path / "corpus", make_articles(4))
    serial = Settings(index_dir=tmp_path / "serial")
    pipelined = Settings(index_dir=tmp_path / "pipelined")
    ingest([corpus], settings=serial, progress=False, embedder=embedder)
    monkeypatch.setattr(chunking, "PARALLEL_MIN_ARTICLES", 1)
    monkeypatch.setattr(chunking, "ARTICLES_PER_TASK", 1)
    monkeypatch.setattr(ingest_module, "WRITE_GROUP", 3)  # several groups, split mid-article
    report = ingest([corpus], settings=pipelined, progress=False, embedder=embedder)
    first, second = Manifest.load(serial.index_dir), Manifest.load(pipelined.index_dir)
    assert len(first.articles) == 4
    assert {key: record.chunk_ids for key, record in first.articles.items()} == {
        key: record.chunk_ids for key, record in second.articles.items()
    }
    assert report.chunks_written == report.total_chunks > 3
    assert set(VectorStore.open(settings=pipelined).all_ids()) == {
        chunk for record in second.articles.values() for chunk in record.chunk_ids
    }


def stored_vectors(settings: Settings) -> dict[str, np.ndarray]:
    store = VectorStore.open(settings=settings)
    result = store.collection.get(include=["embeddings"])
    return {
        chunk_id: np.asarray(vector)
        for chunk_id, vector in zip(result["ids"], result["embeddings"], strict=True)
    }


def story(key: str, title: str, body: str) -> Article:
    return Article(id=key, title=title, text=body, date="2022-07-01", source="Wire")


def test_duplicate_text_is_embedded_once_across_groups_and_across_ingests(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = seed_texts()[1]
    copies = [story("one", "Same headline", body), story("two", "Same headline", body)]
    corpus = write_corpus(tmp_path / "corpus", copies)
    monkeypatch.setattr(ingest_module, "WRITE_GROUP", 2)  # the copies land in other groups
    settings = Settings(index_dir=tmp_path / "index")
    first = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert first.added == 2 and first.chunks_embedded >= 2
    assert first.chunks_written == 2 * first.chunks_embedded
    assert first.chunks_reused == first.chunks_embedded

    # A third copy in a later ingest: its texts are in the index already, nothing is embedded.
    write_corpus(tmp_path / "corpus", [*copies, story("three", "Same headline", body)])
    later = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert later.added == 1 and later.chunks_embedded == 0
    assert later.chunks_known == later.chunks_written == first.chunks_embedded
    vectors = stored_vectors(settings)
    manifest = Manifest.load(settings.index_dir)
    for ids in zip(*(record.chunk_ids for record in manifest.articles.values()), strict=True):
        assert all(np.allclose(vectors[ids[0]], vectors[other]) for other in ids[1:])


def test_near_duplicate_passages_share_a_vector_only_when_enabled(tmp_path: Path, embedder) -> None:
    body = seed_texts()[1]
    edited = body.replace("Makhmour", "Mosul", 1)
    assert edited != body
    corpus = write_corpus(
        tmp_path / "corpus",
        [story("original", "Strikes near Makhmour", body), story("copy", "Jets strike", edited)],
    )
    on = ingest(
        [corpus], settings=Settings(index_dir=tmp_path / "on"), progress=False, embedder=embedder
    )
    assert on.chunks_near_duplicate >= 1
    assert on.chunks_embedded == on.chunks_written - on.chunks_near_duplicate
    off = ingest(
        [corpus],
        settings=Settings(index_dir=tmp_path / "off", near_duplicate_threshold=0.0),
        progress=False,
        embedder=embedder,
    )
    assert off.chunks_near_duplicate == 0 and off.chunks_embedded == off.chunks_written


def test_passage_signatures_measure_overlap() -> None:
    words = " ".join(f"word{index}" for index in range(200))
    changed = words.replace("word100", "other")
    other = " ".join(f"thing{index}" for index in range(200))
    base, near, far = (PassageSignature.of(text) for text in (words, changed, other))
    assert base is not None and near is not None and far is not None
    assert base.jaccard(base) == 1.0
    assert 0.9 < base.jaccard(near) < 1.0
    assert base.jaccard(far) == 0.0
    assert PassageSignature.of("too short to compare") is None
    index = NearDuplicates(0.9)
    index.add("base", base)
    assert index.find(near) == "base"
    assert index.find(far) is None
