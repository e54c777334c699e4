"""The vector store: filters translate right, and a real `chroma run` server works end to end."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from newsrag.config import Settings
from newsrag.models import Filters
from newsrag.store import date_as_int, source_key, where_clause
from tests.conftest import SEEDS_DIR, free_port


def test_where_clause() -> None:
    assert where_clause(None) is None
    assert where_clause(Filters()) is None
    assert where_clause(Filters(since=dt.date(2019, 1, 2))) == {"date_int": {"$gte": 20190102}}
    clause = where_clause(Filters(until=dt.date(2019, 1, 2), sources=("Kurdistan  24",)))
    assert clause == {
        "$and": [
            {"date_int": {"$lte": 20190102}},
            {"date_int": {"$gt": 0}},
            {"source_key": {"$in": ["kurdistan 24"]}},
        ]
    }


def test_date_and_source_keys() -> None:
    assert date_as_int("2019-09-09") == 20190909
    assert date_as_int(None) == 0 and date_as_int("garbage") == 0
    assert source_key("  Kurdistan   24 ") == "kurdistan 24"


@pytest.mark.server
def test_ingest_and_search_through_a_chroma_server(chroma_server, tmp_path: Path, embedder) -> None:
    from newsrag.ingest import ingest
    from newsrag.retrieval import Retriever
    from newsrag.store import VectorStore

    host, port = chroma_server
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    settings = Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", chroma_host=host, chroma_port=port
    )
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert report.added == 2
    # The vectors live on the server, not in the local index folder.
    assert not (tmp_path / "index" / "chroma").exists()
    store = VectorStore.open(settings=settings)
    assert store.count() == report.total_chunks
    assert "server" in store.describe()
    again = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert again.unchanged == 2 and store.count() == report.total_chunks

    retriever = Retriever.open(settings, embedder=embedder)
    hits = retriever.search("Who is the mayor of Makhmour?")
    assert "Rizgar Mohammed" in hits[0].chunk.text
    assert retriever.search("airstrikes", since="2020-01-01") == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    from newsrag.store import StoreError, VectorStore

    settings = Settings(index_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(StoreError, match=r"cannot open Chroma server 127\.0\.0\.1"):
        VectorStore.open(settings=settings)
