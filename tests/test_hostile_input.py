"""Issue 18, items 2-7: invalid code points, links and FIFOs, size limits, huge titles, identity.

Real readers, a real model and a real Chroma in temp dirs; each bad item gets one line naming it.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from newsrag import ingest as ingest_module
from newsrag.articles import read_corpus, read_file
from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.manifest import Manifest
from newsrag.store import CHUNK_TITLE_CHARS, VectorStore
from tests.test_check import assert_index_matches_corpus

BODY = "The harbour board of Eastwick met on Monday and agreed to dredge the channel. " * 4


def write_lines(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def row(**fields: str) -> str:
    return json.dumps(fields)


def messages(items) -> list[str]:
    return [item.message() for item in items]


# ---- item 2: lone surrogates ------------------------------------------------------------------


def test_lone_surrogates_in_any_field_are_cleaned_and_ingest_finishes(
    tmp_path: Path, embedder
) -> None:
    corpus = tmp_path / "corpus"
    # Raw escapes as a hostile file has them: json.loads turns them into lone surrogates.
    bad = (
        '{"title": "Bad \\ud800 title", "source": "Wire \\udfff", "url": "https://x.test/\\ud83d",'
        ' "date": "2022-05-01", "text": "Broken \\ud800 text about the Eastwick harbour board."}'
    )
    path = write_lines(corpus / "rows.jsonl", row(title="Good", date="2022-05-02", text=BODY), bad)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert report.added == 2 and not report.skipped, report.summary()
    warned = [line for line in messages(report.warnings) if "invalid code points" in line]
    assert warned == [
        f"{path}:2: 4 invalid code points (lone surrogate escapes such as \\ud800, or NUL) "
        "replaced; fix the text's encoding"
    ]
    article = read_file(path, settings=settings).articles[1]
    assert article.title == "Bad \ufffd title" and article.text.startswith("Broken \ufffd text")
    assert article.source == "Wire \ufffd" and article.url == "https://x.test/\ufffd"
    assert_index_matches_corpus(settings, corpus)


def test_nul_characters_are_removed(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "rows.jsonl", row(title="T\u0000", text="Text\u0000 here."))
    result = read_file(path, settings=Settings())
    assert result.articles[0].text == "Text here." and result.articles[0].title == "T"
    assert "2 invalid code points" in result.warnings[0].reason


# ---- items 3 and 4: links out of the corpus, FIFOs, devices -------------------------------------


def read_with_guard(paths: list[Path], settings: Settings):
    """read_corpus in a thread: a FIFO opened by mistake would hang the test, not fail it."""
    found = []
    worker = threading.Thread(target=lambda: found.append(read_corpus(paths, settings=settings)))
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "reading the corpus blocked (a FIFO was opened?)"
    return found[0]


def test_links_out_of_the_corpus_fifos_and_devices_are_named_and_never_read(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    good = write_lines(corpus / "good.txt", "Eastwick harbour", "", BODY)
    outside = write_lines(tmp_path / "secret.txt", "Secret", "", "password=hunter2 " * 20)
    os.symlink(outside, corpus / "leak.txt")
    os.symlink("/dev/zero", corpus / "zero.txt")
    os.symlink("/etc", corpus / "etc")
    os.symlink(good, corpus / "alias.txt")  # a link inside the corpus is fine
    os.mkfifo(corpus / "pipe.txt")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    result = read_with_guard([corpus], settings)
    assert [article.path for article in result.articles] == [str(corpus / "alias.txt")]
    assert not any("hunter2" in article.text for article in result.articles)
    reasons = {Path(item.path).name: item.reason for item in result.skipped}
    assert reasons["leak.txt"].startswith(f"link to {outside}, outside the corpus folder")
    assert reasons["zero.txt"].startswith("link to /dev/zero, outside the corpus folder")
    assert reasons["pipe.txt"].startswith("a FIFO, not a regular file: not read")
    assert reasons["etc"].startswith("link to a directory, not followed")
    assert "good.txt" not in reasons  # the file alias.txt links to: read once, through the link


def test_a_fifo_named_directly_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    result = read_with_guard([tmp_path / "pipe.jsonl"], Settings())
    assert result.articles == [] and "not a regular file" in result.skipped[0].reason


# ---- item 5: size limits and bounded memory ---------------------------------------------------


def test_an_over_long_gzip_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(row(title="Before", text=BODY) + "\n")
        handle.write('{"title": "huge", "text": "' + "a" * 60_000_000 + '"}\n')
        handle.write(row(title="After", text=BODY) + "\n")
    assert path.stat().st_size < 1_000_000
    settings = Settings(max_line_bytes=1_000_000)
    tracemalloc.start()
    try:
        result = read_file(path, settings=settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [article.title for article in result.articles] == ["Before", "After"]
    assert messages(result.skipped) == [
        f"{path}:2: line is 60,000,030 bytes, over the limit of 1,000,000 "
        "(NEWSRAG_MAX_LINE_BYTES); split it"
    ]
    assert peak < 20_000_000  # a few times the limit, never the 60 MB line


def test_csv_field_over_the_limit_is_named(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "rows.csv", "title,text", f"Short,{BODY}", f"Long,{'b' * 5000}", f"Last,{BODY}"
    )
    result = read_file(path, settings=Settings(max_field_bytes=2000))
    assert [article.title for article in result.articles] == ["Short", "Last"]
    assert [(item.line, item.reason) for item in result.skipped] == [
        (3, "a field is over the limit of 2,000 characters (NEWSRAG_MAX_FIELD_BYTES); split it")
    ]


def test_ingest_works_in_bounded_groups_and_gives_the_same_index(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    rows = [row(id=f"r{n}", title=f"Story {n}", text=f"Story {n}. " + BODY) for n in range(12)]
    write_lines(corpus / "rows.jsonl", *rows)
    sizes: list[int] = []
    original = ingest_module._GroupWriter.write_articles

    def spy(self, articles):
        sizes.append(len(articles))
        return original(self, articles)

    monkeypatch.setattr(ingest_module, "ARTICLE_GROUP", 5)
    monkeypatch.setattr(ingest_module._GroupWriter, "write_articles", spy)
    grouped = Settings(corpus_dir=corpus, index_dir=tmp_path / "grouped")
    seen: list[tuple[int, int]] = []
    report = ingest(
        [corpus],
        settings=grouped,
        progress=False,
        embedder=embedder,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert sizes == [5, 5, 2] and report.added == 12
    # Progress through the groups: never backwards, never past its total, ends at every chunk.
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert all(done <= total for done, total in seen) and len(seen) >= 3
    assert seen[-1] == (report.chunks_written, report.chunks_written)
    assert_index_matches_corpus(grouped, corpus)
    monkeypatch.setattr(ingest_module, "ARTICLE_GROUP", 512)
    whole = Settings(corpus_dir=corpus, index_dir=tmp_path / "whole")
    ingest([corpus], settings=whole, progress=False, embedder=embedder)
    chunks = {key: r.chunk_ids for key, r in Manifest.load(whole.index_dir).articles.items()}
    assert chunks == {
        key: r.chunk_ids for key, r in Manifest.load(grouped.index_dir).articles.items()
    }


# ---- item 6: huge titles ----------------------------------------------------------------------


def test_a_huge_title_is_cut_and_stored_short_with_every_chunk(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    title = "Eastwick " + "harbour " * 130_000  # ~1 MB
    path = write_lines(corpus / "rows.jsonl", row(id="big", title=title, text=BODY * 20))
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert f"{path}:1: title is {len(title.strip()):,} characters, cut to 500 " in "\n".join(
        messages(report.warnings)
    )
    record = next(iter(Manifest.load(settings.index_dir).articles.values()))
    assert len(record.title) <= 500 and record.title.startswith("Eastwick harbour")
    stored = VectorStore.open(settings=settings).collection.get(include=["metadatas"])
    assert len(stored["ids"]) > 1
    titles = {str(meta["title"]) for meta in stored["metadatas"] or []}
    assert len(titles) == 1 and len(titles.pop()) <= CHUNK_TITLE_CHARS


# ---- item 7: identity of articles without URL or id ------------------------------------------


def test_id_less_articles_are_indexed_once_through_two_paths(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    write_lines(corpus / "sub" / "story.txt", "Eastwick harbour", "", BODY)
    write_lines(
        corpus / "sub" / "rows.jsonl", *(row(title="Brief", text=f"{n}. {BODY}") for n in range(3))
    )
    settings = Settings(corpus_dir=tmp_path / "elsewhere", index_dir=tmp_path / "index")
    first = ingest([corpus / "sub"], settings=settings, progress=False, embedder=embedder)
    second = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert first.added == 4 and (second.added, second.unchanged) == (0, 4)
    assert second.total_articles == 4
    # Deleting an earlier row shifts the later ones' line numbers, not their ids.
    rows = corpus / "sub" / "rows.jsonl"
    rows.write_text("".join(rows.read_text(encoding="utf-8").splitlines(True)[1:]), "utf-8")
    third = ingest([corpus], settings=settings, prune=True, progress=False, embedder=embedder)
    assert (third.added, third.unchanged, third.removed) == (0, 3, 1)
    assert_index_matches_corpus(settings, corpus)
