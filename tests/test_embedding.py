"""Embedding: unit vectors in input order, batching that changes nothing, the opt-in fast modes."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from newsrag.config import Settings
from newsrag.embedding import (
    Embedder,
    StaticModel,
    model_identity,
)
from tests.conftest import SEEDS_DIR


@pytest.fixture(scope="module")
def passages() -> list[str]:
    text = "\n\n".join(path.read_text(encoding="utf-8") for path in sorted(SEEDS_DIR.glob("*.txt")))
    paragraphs = [part.strip() for part in text.split("\n\n") if len(part.strip()) > 40]
    return [*paragraphs[:12], "Short one.", "Rizgar Mohammed is the mayor of Makhmour."]


def cosine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.sum(first * second, axis=-1)


def test_documents_are_unit_vectors_in_input_order(embedder, passages: list[str]) -> None:
    vectors = embedder.embed_documents(passages)
    assert vectors.shape == (len(passages), embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    one_by_one = np.stack([embedder.embed_documents([text])[0] for text in passages[:4]])
    assert np.allclose(vectors[:4], one_by_one, atol=1e-4)
    assert np.allclose(embedder.embed_query(passages[-1]), vectors[-1], atol=1e-4)
    assert embedder.embed_documents([]).shape == (0, embedder.dimension)


def test_batch_size_and_length_hints_change_nothing(embedder, passages: list[str]) -> None:
    reference = embedder.embed_documents(passages)
    counter = embedder.tokenizer_function()
    lengths = [len(counter(text)) for text in passages]
    batches: list[int] = []
    hinted = embedder.embed_documents(
        passages, batch_size=3, lengths=lengths, on_batch=batches.append
    )
    assert np.allclose(hinted, reference, atol=1e-4)
    assert sum(batches) == len(passages) and max(batches) == 3
    # A misleading hint only costs padding, never changes a vector.
    reversed_hint = embedder.embed_documents(passages, lengths=[-n for n in lengths])
    assert np.allclose(reversed_hint, reference, atol=1e-4)


def test_model_identity_names_every_fast_mode() -> None:
    assert model_identity(Settings()) == Settings().embedding_model
    fast = Settings(embedding_precision="int8", embedding_max_tokens=128)
    assert model_identity(fast).endswith("+int8+max128")
    assert "+static" in model_identity(Settings(embedding_backend="static"))
    identities = {
        model_identity(Settings(**options))
        for options in (
            {},
            {"embedding_precision": "int8"},
            {"embedding_max_tokens": 128},
            {"embedding_backend": "static"},
        )
    }
    assert len(identities) == 4  # an index never mixes vectors of two modes


def test_int8_and_short_window_fast_mode_loads_and_embeds_close_to_fp32(
    embedder, passages: list[str]
) -> None:
    settings = Settings(embedding_precision="int8", embedding_max_tokens=128)
    fast = Embedder.load(settings=settings)
    assert fast.identity == model_identity(settings)
    assert fast.model.max_seq_length == 128
    vectors = fast.embed_documents(passages)
    reference = embedder.embed_documents(passages)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert cosine(vectors, reference).mean() > 0.85
    # The right passage still wins for a question.
    question = fast.embed_query("Who is the mayor of Makhmour?")
    assert int(np.argmax(vectors @ question)) == len(passages) - 1


def test_short_window_ignores_text_past_its_tokens(embedder) -> None:
    model = copy.deepcopy(embedder.model)
    model.max_seq_length = 16
    short = Embedder(model, settings=Settings(embedding_max_tokens=16))
    head = "The coalition struck targets near Makhmour on Monday, officials said today."
    first, second = short.embed_documents([head + " Extra words.", head + " Other words here."])
    assert np.allclose(first, second, atol=1e-5)
    full_first, full_second = embedder.embed_documents([head + " Extra.", head + " Other here."])
    assert not np.allclose(full_first, full_second, atol=1e-3)


def test_static_model_distills_caches_and_embeds(
    embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partial = StaticModel.distill(embedder.model, vocabulary=1200)
    assert partial.shape == (1200, 256) and np.isfinite(partial).all()

    size = int(embedder.model.tokenizer.vocab_size)
    rng = np.random.default_rng(0)
    calls: list[int] = []

    def fake_distill(model, **_):  # the full distillation is a minute of CPU: not in tests
        calls.append(1)
        return rng.standard_normal((size, 8)).astype(np.float32)

    monkeypatch.setattr(StaticModel, "distill", staticmethod(fake_distill))
    first = StaticModel.load_or_distill(embedder.model, cache_dir=tmp_path)
    second = StaticModel.load_or_distill(embedder.model, cache_dir=tmp_path)
    assert len(calls) == 1 and np.array_equal(first.vectors, second.vectors)
    assert [path.suffix for path in tmp_path.iterdir()] == [".npy"]  # no temporary left

    static = Embedder(first, settings=Settings(embedding_backend="static"))
    assert static.dimension == 8
    text = "Rizgar Mohammed is the mayor"
    vector = static.embed_documents([text])[0]
    ids = embedder.model.tokenizer.encode(text, add_special_tokens=False)
    expected = first.vectors[ids].mean(axis=0)
    assert np.allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)
    assert np.allclose(static.embed_query(text), vector, atol=1e-6)
    assert np.array_equal(static.embed_documents([""])[0], np.zeros(8, dtype=np.float32))


def test_small_inputs_run_on_one_thread_and_restore_the_setting(
    embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    before = torch.get_num_threads()
    seen: list[int] = []
    original = embedder.model.encode

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(embedder.model, "encode", spy)
    embedder.embed_query("Who is the mayor of Makhmour?")
    embedder.embed_documents(["x " * 5000])  # a big batch keeps every thread
    assert seen == [1, before]
    assert torch.get_num_threads() == before


def test_model_calls_use_both_threads_alone_and_one_when_concurrent(embedder) -> None:
    """A lone batch of answer sentences gets every thread; a query or a concurrent call gets one."""
    import threading

    import torch

    seen: list[int] = []
    inner = embedder.model.encode
    release = threading.Event()

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        if kwargs.get("batch_size") == 1 and not release.is_set():
            release.wait(timeout=30)  # hold the first call open while the second one runs
        return inner(*args, **kwargs)

    sentences = ["The coalition struck Daesh hideouts near Makhmour for two days. " * 2] * 24
    embedder.model.encode = recording
    try:
        torch.set_num_threads(2)
        embedder.embed_documents(sentences, batch_size=16)
        embedder.embed_query("Who is the mayor of Makhmour?")
        assert seen == [2, 2, 1]
        seen.clear()
        first = threading.Thread(target=embedder.embed_documents, args=(sentences[:1] * 30,),
                                 kwargs={"batch_size": 1})  # fmt: skip
        first.start()
        while not seen:
            threading.Event().wait(0.01)
        embedder.embed_documents(sentences, batch_size=16)  # runs while the first is in flight
        release.set()
        first.join(timeout=60)
        assert seen[1:3] == [1, 1]
    finally:
        release.set()
        del embedder.model.encode
        torch.set_num_threads(2)
