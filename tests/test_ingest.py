"""Incremental ingest with the real model, real Chroma and BM25 in temp folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.keyword import KeywordIndex
from newsrag.manifest import IngestLockedError, Manifest, ModelMismatchError, ingest_lock
from newsrag.store import VectorStore
from tests.conftest import SEEDS_DIR


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(SEEDS_DIR.glob("*.txt")):
        shutil.copy(path, folder / path.name)
    return folder


def stored_ids(settings: Settings) -> set[str]:
    return set(VectorStore.open(settings=settings).all_ids())


def test_first_ingest_then_rerun_changes_nothing(fresh_settings: Settings, embedder) -> None:
    corpus = make_corpus(fresh_settings.corpus_dir)
    first = ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert (first.added, first.updated, first.unchanged, len(first.skipped)) == (2, 0, 0, 0)
    assert first.chunks_written == first.total_chunks > 2
    manifest = Manifest.load(fresh_settings.index_dir)
    ids_after_first = stored_ids(fresh_settings)
    expected = {chunk for record in manifest.articles.values() for chunk in record.chunk_ids}
    assert ids_after_first == expected == KeywordIndex(fresh_settings.index_dir).document_ids()

    second = ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert (second.added, second.updated, second.unchanged, second.removed) == (0, 0, 2, 0)
    assert second.chunks_embedded == 0
    assert stored_ids(fresh_settings) == ids_after_first
    assert Manifest.load(fresh_settings.index_dir).articles == manifest.articles
    assert "0 added, 0 updated, 2 unchanged" in second.summary()


def test_changed_article_replaces_its_chunks(fresh_settings: Settings, embedder) -> None:
    corpus = make_corpus(fresh_settings.corpus_dir)
    ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    before = Manifest.load(fresh_settings.index_dir)
    target = next(corpus.glob("003_*.txt"))
    target.write_text(
        target.read_text(encoding="utf-8").replace("Rizgar Mohammed", "Zozan Ahmed"),
        encoding="utf-8",
    )
    report = ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    after = Manifest.load(fresh_settings.index_dir)
    ids = stored_ids(fresh_settings)
    expected = {chunk for record in after.articles.values() for chunk in record.chunk_ids}
    assert ids == expected == KeywordIndex(fresh_settings.index_dir).document_ids()
    old_only = {c for r in before.articles.values() for c in r.chunk_ids} - expected
    assert old_only and not old_only & ids  # the old version's chunks are gone
    texts = [
        stored.chunk.text
        for stored in VectorStore.open(settings=fresh_settings).get(list(ids)).values()
    ]
    assert any("Zozan Ahmed" in text for text in texts)
    assert not any("Rizgar Mohammed" in text for text in texts)


def test_removed_file_is_deleted_only_with_prune(fresh_settings: Settings, embedder) -> None:
    corpus = make_corpus(fresh_settings.corpus_dir)
    ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    next(corpus.glob("000_*.txt")).unlink()
    kept = ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert kept.removed == 0 and kept.total_articles == 2
    pruned = ingest(
        [corpus], settings=fresh_settings, prune=True, progress=False, embedder=embedder
    )
    assert pruned.removed == 1 and pruned.total_articles == 1
    manifest = Manifest.load(fresh_settings.index_dir)
    expected = {c for r in manifest.articles.values() for c in r.chunk_ids}
    assert (
        stored_ids(fresh_settings)
        == expected
        == KeywordIndex(fresh_settings.index_dir).document_ids()
    )


def test_other_model_is_a_clear_error_and_rebuild_starts_over(
    fresh_settings: Settings, embedder
) -> None:
    corpus = make_corpus(fresh_settings.corpus_dir)
    ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    manifest = Manifest.load(fresh_settings.index_dir)
    manifest.model = "sentence-transformers/some-other-model"
    manifest.save(fresh_settings.index_dir)
    with pytest.raises(ModelMismatchError) as raised:
        ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert "some-other-model" in str(raised.value) and embedder.identity in str(raised.value)
    assert "--rebuild" in str(raised.value)
    rebuilt = ingest(
        [corpus], settings=fresh_settings, rebuild=True, progress=False, embedder=embedder
    )
    assert rebuilt.added == 2
    assert Manifest.load(fresh_settings.index_dir).model == embedder.identity


def test_bad_files_are_skipped_with_reasons_and_the_rest_ingested(
    fresh_settings: Settings, embedder
) -> None:
    corpus = make_corpus(fresh_settings.corpus_dir)
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (corpus / "broken.jsonl").write_text(
        '{"title": "Good row", "text": "A good article about Erbil.", "url": "https://x.test/a"}\n'
        "{not json\n",
        encoding="utf-8",
    )
    report = ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert report.added == 3
    messages = [item.message() for item in report.skipped]
    assert any("empty.txt" in message for message in messages)
    assert any("binary.txt" in message for message in messages)
    assert any("broken.jsonl:2" in message for message in messages)
    assert f"{len(report.skipped)} skipped" in report.summary()


def test_interrupted_ingest_resumes_without_re_embedding(
    fresh_settings: Settings, embedder
) -> None:
    corpus = make_corpus(fresh_settings.corpus_dir)
    ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    # A crash before the manifest write: vectors are in Chroma, the manifest does not know them.
    (Path(fresh_settings.index_dir) / "manifest.json").unlink()
    resumed = ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert resumed.added == 2
    assert resumed.chunks_embedded == 0 and resumed.chunks_reused == resumed.chunks_written


def test_second_ingest_at_once_is_refused(fresh_settings: Settings, embedder) -> None:
    corpus = make_corpus(fresh_settings.corpus_dir)
    with ingest_lock(Path(fresh_settings.index_dir)), pytest.raises(IngestLockedError) as raised:
        ingest([corpus], settings=fresh_settings, progress=False, embedder=embedder)
    assert "another ingest" in str(raised.value)
