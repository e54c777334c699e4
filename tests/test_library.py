"""The Library without a browser: uploads, one ingest at a time, list, reader, delete, bounds."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from newsrag import feedback, ui_render, ui_render_library
from newsrag.config import Settings
from newsrag.conversations import ConversationStore
from newsrag.library import (
    IngestQueue,
    LibraryError,
    delete_article,
    list_articles,
    read_article,
    safe_file_name,
    save_upload,
)
from newsrag.manifest import Manifest
from newsrag.models import Article

SEEDS = Path(__file__).resolve().parents[1] / "corpus"
HARBOR = """---
title: Port of Eastwick reopens
date: 2024-03-14
source: Eastwick Herald
---
The Port of Eastwick reopened on Thursday. Harbor master Ingrid Solvang said repairs cost 4.2 million dollars.
"""
LIBRARY = """---
title: Eastwick library extends hours
date: 2024-03-20
source: Eastwick Herald
---
The Eastwick library will stay open until nine. Librarian Tomas Okafor said four staff were hired.
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index")


def written(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\boot.ini.md", "boot.ini.md"),
        ("/abs/path/story.html", "story.html"),
        ("..", "upload"),
        ("a\x00b<script>.txt", "a_b_script_.txt"),
        (".hidden.jsonl", "hidden.jsonl"),
        ("x" * 300 + ".csv", "x" * 96 + ".csv"),
    ],
)
def test_upload_names_cannot_leave_the_folder(given: str, expected: str) -> None:
    assert safe_file_name(given) == expected


def test_uploads_are_saved_under_corpus_only(settings: Settings, tmp_path: Path) -> None:
    source = written(tmp_path, "x.txt", HARBOR)
    saved, reason = save_upload(source, "../../../outside.txt", settings=settings)
    assert reason == "" and saved is not None
    assert saved.resolve() == (settings.corpus_dir / "uploads" / "outside.txt").resolve()
    assert not (tmp_path / "outside.txt").exists()
    again, _ = save_upload(source, "outside.txt", settings=settings)
    assert again == saved  # the same bytes again: the same file, found unchanged by ingest
    other = written(tmp_path, "y.txt", LIBRARY)
    second, _ = save_upload(other, "outside.txt", settings=settings)
    assert second is not None and second.name == "outside-2.txt"


def test_huge_and_unsupported_uploads_are_refused_with_a_reason(
    settings: Settings, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:  # sparse: 200 MB without writing them
        handle.truncate(200 * 1024 * 1024)
    saved, reason = save_upload(huge, "huge.txt", settings=settings)
    assert saved is None and "over the 20,000,000-byte limit (NEWSRAG_MAX_FILE_BYTES)" in reason
    saved, reason = save_upload(written(tmp_path, "a.exe", "MZ"), "a.exe", settings=settings)
    assert saved is None and reason.startswith("unsupported file type (.exe)")
    assert list(settings.corpus_dir.rglob("*.*")) == []


def test_a_link_out_of_the_corpus_is_not_written_through(
    settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (settings.corpus_dir / "uploads").symlink_to(outside)
    saved, reason = save_upload(written(tmp_path, "x.txt", HARBOR), "x.txt", settings=settings)
    assert saved is None and "outside the corpus folder" in reason
    assert list(outside.iterdir()) == []


def test_two_ingests_at_once_one_waits_and_both_land(
    settings: Settings, embedder, tmp_path: Path
) -> None:
    queue = IngestQueue(settings, lambda: embedder)
    first_file, _ = save_upload(written(tmp_path, "h.md", HARBOR), "h.md", settings=settings)
    second_file, _ = save_upload(written(tmp_path, "l.md", LIBRARY), "l.md", settings=settings)
    assert first_file and second_file
    first = queue.ingest_files([first_file])
    assert next(first).kind == "progress"  # the first holds the queue now
    second = queue.ingest_files([second_file])
    waiting = next(second)
    assert waiting.kind == "waiting" and "Waiting" in waiting.message
    first_events = list(first)
    second_events = list(second)
    assert first_events[-1].kind == "done" and second_events[-1].kind == "done"
    assert [result.status for result in second_events[-1].results] == ["indexed"]
    assert first_events[-1].passages_per_second > 0
    rows, count = list_articles(settings)
    assert count == 2 and {row.title for row in rows} == {
        "Port of Eastwick reopens",
        "Eastwick library extends hours",
    }
    from newsrag.check import check_index

    assert check_index(settings=settings).consistent


def test_ingest_reports_progress_per_batch_up_to_every_passage(
    settings: Settings, embedder
) -> None:
    from newsrag.ingest import ingest

    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, settings.corpus_dir / path.name)
    seen: list[tuple[int, int]] = []
    small = settings.model_copy(update={"embedding_batch_size": 2})
    report = ingest(
        [settings.corpus_dir],
        settings=small,
        progress=False,
        embedder=embedder,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert len(seen) >= 3, seen  # batches of 2 passages: more than one update per group
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert all(done <= total for done, total in seen)
    assert seen[-1] == (report.chunks_written, report.chunks_written)


def test_bad_file_is_reported_with_its_reason_and_nothing_else_is_lost(
    settings: Settings, embedder, tmp_path: Path
) -> None:
    queue = IngestQueue(settings, lambda: embedder)
    good, _ = save_upload(written(tmp_path, "h.md", HARBOR), "h.md", settings=settings)
    bad, _ = save_upload(
        written(tmp_path, "bad.jsonl", "{not json\n"), "bad.jsonl", settings=settings
    )
    assert good and bad
    done = list(queue.ingest_files([good, bad], names=["h.md", "bad.jsonl"]))[-1]
    by_name = {result.name: result for result in done.results}
    assert by_name["h.md"].status == "indexed"
    assert by_name["bad.jsonl"].status == "skipped"
    assert "JSON" in by_name["bad.jsonl"].detail, by_name["bad.jsonl"].detail
    html = ui_render_library.progress_html(done)
    assert "bad.jsonl</b>: skipped" in html
    assert list_articles(settings)[1] == 1


def test_list_search_sort_reader_and_delete(settings: Settings, embedder, tmp_path: Path) -> None:
    from newsrag.ingest import ingest

    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, settings.corpus_dir / path.name)
    rows_file = written(
        settings.corpus_dir,
        "two.jsonl",
        json.dumps({"title": "Row one", "text": "Alpha beta gamma delta.", "date": "2020-01-01"})
        + "\n"
        + json.dumps({"title": "Row two", "text": "Epsilon zeta eta theta.", "date": "2020-01-02"})
        + "\n",
    )
    ingest([settings.corpus_dir], settings=settings, progress=False, embedder=embedder)
    rows, count = list_articles(settings, sort="Oldest first")
    dates = [row.date for row in rows]
    dated = [date for date in dates if date]
    assert count == 4 and dated == sorted(dated) and dates[len(dated) :] == [""] * (4 - len(dated))
    by_title = {row.title: row for row in list_articles(settings, sort="Title")[0]}
    assert list(by_title) == sorted(by_title, key=str.lower)
    found, matches = list_articles(settings, search="makhmour coalition")
    assert matches == 2 and all("Makhmour" in row.title for row in found)

    mayor = next(row for row in found if "continues strikes" in row.title)
    article = read_article(mayor.article_id, settings=settings)
    assert "Rizgar Mohammed" in article.text

    row_one = next(row for row in rows if row.title == "Row one")
    with pytest.raises(LibraryError, match="holds 2 articles"):
        delete_article(row_one.article_id, settings=settings)
    message = delete_article(mayor.article_id, settings=settings)
    assert "Deleted" in message and not Path(mayor.path).exists()
    assert mayor.article_id not in Manifest.load(settings.index_dir).articles
    assert rows_file.exists()
    from newsrag.check import check_index
    from newsrag.retrieval import Retriever

    assert check_index(settings=settings).consistent
    hits = Retriever.open(settings, embedder=embedder).search("mayor of Makhmour Rizgar", 5)
    assert all(hit.article.id != mayor.article_id for hit in hits)


def test_reader_marks_cited_passages_and_escapes_text() -> None:
    from tests.test_ui import make_answer, make_citation

    text = (
        "x" * 100
        + "First sentence here. Rizgar Mohammed is the mayor. Last one. <script>bad()</script>"
    )
    article = Article(id="a1", title="<b>Mayor</b>", text=text, source="K24", url="javascript:x")
    exchanges = (ui_render.Exchange("q", make_answer(citations=(make_citation(),))),)
    spans = ui_render_library.cited_spans(exchanges, "a1")
    assert spans == [(100, 160, "cited as [1] in answer 1")]
    html = ui_render_library.reader_html(article, spans)
    assert "<mark class='newsrag-cited-passage'" in html
    assert "&lt;script&gt;bad()&lt;/script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;Mayor&lt;/b&gt;" in html and "javascript:" not in html


def test_short_answer_is_bold_escaped_and_keeps_its_link() -> None:
    from tests.test_ui import assert_inert, make_answer

    answer = make_answer(
        text="Rizgar <i>Mohammed</i> [1]\n\nRizgar Mohammed is the mayor. [1]",
        short_answer="Rizgar <i>Mohammed</i>",
        short_answer_citation=1,
    )
    message = ui_render.answer_message(answer, 1)
    assert (
        "<div class='newsrag-short-answer'><b>Rizgar &#60;i&#62;Mohammed&#60;&#47;i&#62;" in message
    )
    assert message.count("newsrag-cite") == 2
    assert "<i>" not in message
    assert_inert(message)
    plain = ui_render.answer_message(make_answer(), 1)
    assert "newsrag-short-answer" not in plain


def test_conversations_round_trip_rename_delete(tmp_path: Path) -> None:
    from tests.test_ui import make_answer

    store = ConversationStore(tmp_path / "conversations.sqlite")
    first = (
        ui_render.Exchange("Who is the mayor?", make_answer()),
        ui_render.Exchange("x", error="bad"),
    )
    conversation = store.save(None, first)
    assert conversation is not None
    loaded = store.load(conversation)
    assert loaded == first
    assert [summary.title for summary in store.list()] == ["Who is the mayor?"]
    assert store.rename(conversation, "Mayor research")
    store.save(conversation, (*first, ui_render.Exchange("more", error="e")))
    assert store.list()[0].title == "Mayor research"  # a rename sticks
    assert store.delete(conversation) and store.load(conversation) is None and store.list() == []


def test_feedback_records_are_bounded() -> None:
    from tests.test_ui import make_answer

    record = feedback.make_record(
        rating="up", question="q" * 5_000_000, answer=make_answer(text="a" * 100_000)
    )
    assert len(json.dumps(record.to_dict())) < 20_000


def test_feedback_is_rate_limited(seed_index: Settings, tmp_path: Path) -> None:
    from newsrag import ui_chat

    settings = seed_index.model_copy(update={"index_dir": tmp_path})
    controller = ui_chat.ChatController(settings, ui_chat.AssistantHolder(settings, None))
    exchanges = (ui_render.Exchange("q", error="failed"),)
    notes = [controller.rate(exchanges, 0, True)[0] for _ in range(ui_chat.FEEDBACK_PER_MINUTE + 5)]
    assert notes[-1].startswith("Too many ratings")
    lines = (tmp_path / "feedback.jsonl").read_text().splitlines()
    assert len(lines) == ui_chat.FEEDBACK_PER_MINUTE


def test_exports_are_one_file_per_conversation_and_old_ones_go(tmp_path: Path, monkeypatch) -> None:
    from newsrag import ui_chat

    monkeypatch.setattr(ui_chat, "EXPORT_DIR", tmp_path / "exports")
    exchanges = (ui_render.Exchange("q", error="failed"),)
    first = Path(ui_chat.export_file(exchanges, "a.md") or "")
    assert first.exists() and ui_chat.export_file(exchanges, "../../a.md") == str(first)
    old = Path(ui_chat.export_file(exchanges, "old.md") or "")
    os.utime(old, (1, 1))
    ui_chat.export_file(exchanges, "b.md")
    assert not old.exists() and first.exists()
    ui_chat.remove_exports()
    assert not (tmp_path / "exports").exists()


@pytest.fixture
def seed_assistant(seed_index: Settings, seed_retriever):
    """The real Assistant over the seed index."""
    from newsrag.assistant import Assistant

    return Assistant.open(seed_index, retriever=seed_retriever)


def test_gradio_routes_have_a_body_limit(seed_index: Settings, seed_assistant) -> None:
    from fastapi.testclient import TestClient

    from newsrag import ui
    from newsrag.server import create_app

    app = ui.mount_ui(
        create_app(seed_index, assistant=seed_assistant),
        assistant=seed_assistant,
        settings=seed_index,
    )
    with TestClient(app) as client:
        big = client.post("/gradio_api/queue/join", content=b"x" * 2_000_000)
        assert big.status_code == 413 and "over" in big.json()["error"]
        small = client.post("/gradio_api/queue/join", json={"data": []})
        assert small.status_code != 413
        upload = client.post(
            "/gradio_api/upload",
            files={"files": ("big.txt", b"x" * (seed_index.max_file_bytes + 10))},
        )
        assert upload.status_code in (413, 400), upload.text
    assert not any(Path(seed_index.corpus_dir).rglob("big*"))


def test_library_changes_need_the_key_when_one_is_set(settings: Settings, tmp_path: Path) -> None:
    from newsrag import ui_chat
    from newsrag.ui_library import LibraryController

    keyed = settings.model_copy(update={"api_key": "s3cret"})
    controller = LibraryController(keyed, ui_chat.AssistantHolder(keyed, None))
    source = written(tmp_path, "h.md", HARBOR)
    assert "NEWSRAG_API_KEY" in "".join(controller.upload([str(source)], None))
    assert "NEWSRAG_API_KEY" in "".join(controller.fetch("http://127.0.0.1:9/x", None))
    assert "NEWSRAG_API_KEY" in "".join(controller.delete("some-id", None))
    assert list(settings.corpus_dir.rglob("*.md")) == []
