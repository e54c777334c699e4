"""`newsrag check`: finds every way the manifest, Chroma and BM25 can disagree, and repairs them."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newsrag.articles import read_corpus
from newsrag.check import check_index
from newsrag.cli import EXIT_INDEX, EXIT_OK, EXIT_SKIPPED, app
from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.keyword import KeywordDocument, KeywordIndex
from newsrag.manifest import IngestLockedError, Manifest, ingest_lock
from newsrag.models import ArticleMeta, Chunk
from newsrag.retrieval import Retriever
from newsrag.store import VectorStore

runner = CliRunner()
MAYOR = "Who is the mayor of Makhmour?"


def assert_index_matches_corpus(settings: Settings, corpus: Path) -> None:
    """Checked without trusting check.py: each corpus article once, no orphans, all sides agree."""
    manifest = Manifest.load(settings.index_dir)
    articles = read_corpus([corpus], settings=settings).articles
    assert {article.id: article.content_hash for article in articles} == {
        key: record.content_hash for key, record in manifest.articles.items()
    }
    listed = [chunk for record in manifest.articles.values() for chunk in record.chunk_ids]
    assert len(listed) == len(set(listed))  # no chunk listed twice
    stored = VectorStore.open(settings=settings, create=False).all_ids()
    assert len(stored) == len(set(stored))
    keyword = KeywordIndex(settings.index_dir)
    generation = keyword.generation_ids() or []
    assert set(stored) == set(listed) == keyword.document_ids() == set(generation)
    assert len(generation) == len(listed)
    report = check_index(settings, corpus=[corpus])
    assert report.consistent, report.lines()


def codes(settings: Settings, **options) -> set[str]:
    return {finding.code for finding in check_index(settings, **options).findings}


@pytest.fixture
def copied(seed_index: Settings, seed_corpus: Path, tmp_path: Path) -> tuple[Settings, Path]:
    """A private copy of the session's seed index and corpus, free to damage."""
    index_dir, corpus = tmp_path / "index", tmp_path / "corpus"
    shutil.copytree(seed_index.index_dir, index_dir, ignore=shutil.ignore_patterns("*.lock"))
    shutil.copytree(seed_corpus, corpus)
    return Settings(corpus_dir=corpus, index_dir=index_dir), corpus


def test_a_fresh_index_is_consistent(copied) -> None:
    settings, corpus = copied
    report = check_index(settings, corpus=[corpus])
    assert report.consistent and report.findings == [] and report.repairs == []
    assert report.articles == 2 and report.manifest_chunks == report.store_chunks >= 3
    assert report.keyword_chunks == report.manifest_chunks
    assert report.lines()[-1] == "ok: the manifest, Chroma and BM25 agree"
    assert_index_matches_corpus(settings, corpus)


def test_orphan_chunks_are_found_whole_vectors_kept_as_spare_and_the_rest_deleted(
    copied, embedder
) -> None:
    settings, corpus = copied
    ghost = Chunk(id="ghost-0000-abc", article_id="ghost", ordinal=0, text="x", start=0, end=1)
    broken = Chunk(id="ghost-0001-def", article_id="ghost", ordinal=1, text="y", start=0, end=1)
    vector = embedder.embed_documents(["ghost text about Makhmour's mayor"])
    store = VectorStore.open(settings=settings)
    store.upsert(
        [ghost, broken], [ArticleMeta("ghost", "Ghost")] * 2, np.vstack([vector, vector * 3])
    )
    KeywordIndex(settings.index_dir).update(
        remove_articles=[],
        add=[KeywordDocument("ghost-0000-abc", "ghost", 0, "", ["ghost", "mayor"])],
    )
    report = check_index(settings)
    assert {item.code for item in report.problems} == {"orphans_in_store", "orphans_in_keyword"}
    assert all("ghost-0000-abc" in item.message for item in report.problems)
    assert all("\n" not in item.message for item in report.findings)

    repaired = check_index(settings, repair=True)
    assert repaired.consistent, repaired.lines()
    # The whole vector is kept for the next ingest (it may be an unfinished article's); the
    # vector that is not unit length is deleted; BM25 documents are cheap and always deleted.
    assert any(line.startswith("kept 1 embedded chunks") for line in repaired.repairs)
    assert "deleted 1 orphan chunks from Chroma" in repaired.repairs
    assert "deleted 1 orphan chunks from BM25 and rebuilt it" in repaired.repairs
    assert Manifest.load(settings.index_dir).spare_chunks == ("ghost-0000-abc",)
    assert "spare_chunks" in {item.code for item in repaired.findings}
    rerun = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert rerun.chunks_embedded == 0  # nothing owns the ghost: the ingest removes it
    assert Manifest.load(settings.index_dir).spare_chunks == ()
    assert_index_matches_corpus(settings, corpus)


def test_missing_chunks_drop_the_article_and_ingest_restores_it(copied, embedder) -> None:
    settings, corpus = copied
    manifest = Manifest.load(settings.index_dir)
    mayor_article = next(key for key, rec in manifest.articles.items() if "003" in rec.path)
    VectorStore.open(settings=settings).delete_articles([mayor_article])
    assert codes(settings) == {"missing_in_store"}
    report = check_index(settings, repair=True)
    assert report.consistent and report.articles == 1
    assert any("dropped 1 articles" in line and "newsrag ingest" in line for line in report.repairs)
    # The BM25 side of the dropped article went too (orphans once it left the manifest).
    assert any("orphan chunks from BM25" in line for line in report.repairs)
    assert codes(settings, corpus=[corpus]) == {"corpus_not_indexed"}

    again = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert (again.added, again.unchanged) == (1, 1) and again.chunks_embedded > 0
    assert_index_matches_corpus(settings, corpus)
    hits = Retriever.open(settings, embedder=embedder).search(MAYOR, 1)
    assert "Rizgar Mohammed" in hits[0].chunk.text


def test_ingest_alone_heals_chunks_missing_from_bm25_without_re_embedding(copied, embedder) -> None:
    settings, corpus = copied
    manifest = Manifest.load(settings.index_dir)
    KeywordIndex(settings.index_dir).update(remove_articles=list(manifest.articles)[:1], add=[])
    assert codes(settings) == {"missing_in_keyword"}
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert report.added == 1 and report.chunks_embedded == 0  # vectors reused from Chroma
    assert any("indexing them again" in item.message() for item in report.warnings)
    assert_index_matches_corpus(settings, corpus)


def test_stale_and_unreadable_bm25_generations_are_rebuilt(copied, embedder) -> None:
    settings, corpus = copied
    keyword = KeywordIndex(settings.index_dir)
    ids = sorted(keyword.document_ids())
    # A crash between the document commit and the matrix rebuild: the generation lags behind.
    with keyword._connect() as connection:
        connection.execute("DELETE FROM docs WHERE chunk_id = ?", (ids[0],))
    found = codes(settings)
    assert "keyword_generation_stale" in found and "missing_in_keyword" in found
    assert check_index(settings, repair=True).consistent
    ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert_index_matches_corpus(settings, corpus)

    # Truncate every file of the current generation: searches must not use it.
    generation = keyword.root / (keyword.root / "current").read_text().strip()
    for path in generation.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes()[:10])
    assert codes(settings) == {"keyword_generation_unreadable"}
    report = check_index(settings, repair=True)
    assert report.consistent and any("rebuilt the BM25 index" in line for line in report.repairs)
    hits = Retriever.open(settings, embedder=embedder).search(MAYOR, 1, mode="keyword")
    assert "Rizgar Mohammed" in hits[0].chunk.text


def test_leftovers_are_notes_that_repair_removes(copied) -> None:
    settings, _ = copied
    index_dir = Path(settings.index_dir)
    (index_dir / "manifest.json.tmp").write_text("{half", encoding="utf-8")
    (index_dir / "keyword" / "gen-999999").mkdir()
    report = check_index(settings)
    assert report.consistent  # harmless: readers never look at them
    assert [item.code for item in report.findings] == ["leftover_files"]
    assert not report.findings[0].problem and report.findings[0].line().startswith("note: ")
    repaired = check_index(settings, repair=True)
    assert repaired.findings == [] and len(repaired.repairs) == 2
    assert not (index_dir / "manifest.json.tmp").exists()
    assert not (index_dir / "keyword" / "gen-999999").exists()


def test_another_model_is_reported_and_not_repaired(copied) -> None:
    settings, _ = copied
    other = Settings(index_dir=settings.index_dir, embedding_model="sentence-transformers/other")
    report = check_index(other, repair=True)
    assert [item.code for item in report.problems] == ["model_mismatch"]
    assert "newsrag ingest --rebuild" in report.problems[0].message
    assert report.repairs == [] and check_index(settings).consistent


def test_corpus_comparison(copied) -> None:
    settings, corpus = copied
    target = next(corpus.glob("000_*.txt"))
    target.write_text(target.read_text(encoding="utf-8") + "\nA new closing line.\n", "utf-8")
    report = check_index(settings, corpus=[corpus])
    assert [item.code for item in report.problems] == ["corpus_not_indexed"]
    assert target.name in report.problems[0].message
    target.unlink()
    report = check_index(settings, corpus=[corpus])
    assert report.consistent and [item.code for item in report.findings] == ["not_in_corpus"]
    assert "--prune" in report.findings[0].message


def test_truncated_manifest_is_moved_aside_and_ingest_rebuilds_it(copied, embedder) -> None:
    settings, corpus = copied
    path = Path(settings.index_dir) / "manifest.json"
    path.write_bytes(path.read_bytes()[:200])
    assert codes(settings) == {"manifest_unreadable"}
    report = check_index(settings, repair=True)
    assert (Path(settings.index_dir) / "manifest.json.broken").exists()
    assert "newsrag ingest" in report.repairs[0]
    # The vectors are kept (no manifest says which chunks are orphans) and nothing is deleted.
    assert [item.code for item in report.problems] == ["manifest_missing"]
    assert report.store_chunks > 0 and report.keyword_chunks > 0
    assert check_index(settings, repair=True).store_chunks == report.store_chunks

    rebuilt = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert rebuilt.added == 2 and rebuilt.chunks_embedded == 0
    assert_index_matches_corpus(settings, corpus)


def test_no_index_and_a_running_ingest(tmp_path: Path, copied) -> None:
    report = check_index(Settings(index_dir=tmp_path / "nowhere"))
    assert [item.code for item in report.problems] == ["no_index"]
    assert not (tmp_path / "nowhere").exists()  # checking creates nothing
    settings, _ = copied
    with ingest_lock(Path(settings.index_dir)):
        with pytest.raises(IngestLockedError):
            check_index(settings)
        locked = runner.invoke(app, ["check", "--index", str(settings.index_dir)])
    assert locked.exit_code == EXIT_INDEX and "another ingest" in locked.output


def test_cli_check(copied, embedder) -> None:
    settings, corpus = copied
    index = ["--index", str(settings.index_dir)]
    ok = runner.invoke(app, ["check", str(corpus), *index])
    assert ok.exit_code == EXIT_OK and "ok: the manifest, Chroma and BM25 agree" in ok.output
    manifest = Manifest.load(settings.index_dir)
    VectorStore.open(settings=settings).delete_chunks(
        [manifest.articles[min(manifest.articles)].chunk_ids[0]]
    )
    bad = runner.invoke(app, ["check", "--json", *index])
    assert bad.exit_code == EXIT_SKIPPED
    data = json.loads(bad.output)
    assert data["consistent"] is False
    assert [item["code"] for item in data["findings"]] == ["missing_in_store"]
    fixed = runner.invoke(app, ["check", "--repair", *index])
    assert fixed.exit_code == EXIT_OK, fixed.output
    assert "repaired: dropped 1 articles" in fixed.output and "Traceback" not in fixed.output
    missing = runner.invoke(app, ["check", str(corpus / "nope"), *index])
    assert missing.exit_code != EXIT_OK and "no such file" in missing.output


@hypothesis_settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_mix_of_lost_and_orphan_chunks_is_found_and_healed(
    seed_index: Settings, seed_corpus: Path, embedder, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        index_dir, corpus = Path(folder) / "index", Path(folder) / "corpus"
        shutil.copytree(seed_index.index_dir, index_dir, ignore=shutil.ignore_patterns("*.lock"))
        shutil.copytree(seed_corpus, corpus)
        settings = Settings(corpus_dir=corpus, index_dir=index_dir)
        manifest = Manifest.load(index_dir)
        chunks = sorted(c for record in manifest.articles.values() for c in record.chunk_ids)
        lost_store = data.draw(st.sets(st.sampled_from(chunks)), label="lost from Chroma")
        lost_keyword = data.draw(st.sets(st.sampled_from(chunks)), label="lost from BM25")
        orphans = data.draw(st.integers(0, 2), label="orphans in both")
        store, keyword = VectorStore.open(settings=settings), KeywordIndex(index_dir, load=False)
        store.delete_chunks(sorted(lost_store))
        if lost_keyword:
            keyword.delete_chunks(sorted(lost_keyword))
        if orphans:
            ghosts = [
                Chunk(id=f"ghost-{n}", article_id="ghost", ordinal=n, text="g", start=0, end=1)
                for n in range(orphans)
            ]
            vectors = embedder.embed_documents(["ghost"] * orphans)
            store.upsert(ghosts, [ArticleMeta("ghost", "Ghost")] * orphans, vectors)
            keyword.update(
                remove_articles=[],
                add=[KeywordDocument(g.id, "ghost", 0, "", ["ghost"]) for g in ghosts],
            )
        expected = set()
        expected |= {"missing_in_store"} if lost_store else set()
        expected |= {"missing_in_keyword"} if lost_keyword else set()
        expected |= {"orphans_in_store", "orphans_in_keyword"} if orphans else set()
        assert {item.code for item in check_index(settings).problems} == expected
        assert check_index(settings, repair=True).consistent
        ingest([corpus], settings=settings, progress=False, embedder=embedder)
        assert_index_matches_corpus(settings, corpus)


def test_repair_is_refused_for_an_index_on_a_chroma_server(tmp_path: Path) -> None:
    """The server's chunks would be judged against this folder's possibly stale manifest copy
    while other machines ingest: --repair refuses (before touching anything) and says what to do.
    No server is contacted, so none is started."""
    from newsrag.errors import InputError

    settings = Settings(index_dir=tmp_path / "worker", chroma_host="127.0.0.1", chroma_port=9)
    with pytest.raises(InputError, match="ingest --rebuild"):
        check_index(settings, repair=True)
    result = CliRunner().invoke(
        app,
        ["check", "--repair", "--index", str(tmp_path / "worker")],
        env={"NEWSRAG_CHROMA_HOST": "127.0.0.1", "NEWSRAG_CHROMA_PORT": "9"},
    )
    assert result.exit_code == InputError.exit_code, result.output
    assert "does not repair an index on a Chroma server" in result.output
    assert not (tmp_path / "worker").exists()
