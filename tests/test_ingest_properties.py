"""Property (issue 18): over generated JSONL, CSV and HTML records with any code points and sizes,
a real ingest never raises, every valid record is indexed exactly once and every invalid one is
named by file and line.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from newsrag.articles import article_id_for
from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.manifest import Manifest

LINE_LIMIT = 3000  # NEWSRAG_MAX_LINE_BYTES for these runs: some generated lines are over it
# Any code point, lone surrogates included (a JSON "\ud800" escape decodes to one).
ANY_CHARACTER = st.characters() | st.characters(categories=["Cs"])
ANY_TEXT = st.text(ANY_CHARACTER, max_size=60)
UTF8_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)
WORDS = st.text(st.characters(categories=["L", "N", "Zs"]), min_size=1, max_size=60)


@dataclass(frozen=True)
class Record:
    """One generated line: what it says, and whether the ingest must index it."""

    kind: str  # how the line is written
    title: str
    text: str
    padding: int = 0  # characters added to the text: large ones push a line over the limit


def is_valid(record: Record, identifier: str) -> bool:
    """The rule the readers promise: a row with text that is not blank, within the limits."""
    if record.kind in ("broken_json", "not_an_object", "no_text"):
        return False
    text = record.text + "x" * record.padding
    line = json.dumps({"id": identifier, "title": record.title, "text": text})
    if record.kind == "jsonl" and len(line.encode("utf-8")) + 1 > LINE_LIMIT:
        return False
    return bool(text.replace("\x00", "").strip())


JSONL_RECORDS = st.builds(
    Record,
    kind=st.sampled_from(["jsonl", "jsonl", "jsonl", "broken_json", "not_an_object", "no_text"]),
    title=ANY_TEXT,
    text=ANY_TEXT,
    padding=st.sampled_from([0, 0, 0, 5000]),
)
CSV_RECORDS = st.builds(Record, kind=st.just("csv"), title=UTF8_TEXT, text=UTF8_TEXT)
HTML_RECORDS = st.builds(Record, kind=st.just("html"), title=WORDS, text=WORDS)


def jsonl_line(record: Record, identifier: str) -> str:
    text = record.text + "x" * record.padding
    if record.kind == "broken_json":
        return '{"id": ' + json.dumps(identifier) + ', "text": ' + json.dumps(text)[:-1]
    if record.kind == "not_an_object":
        return json.dumps([identifier, text])
    if record.kind == "no_text":
        return json.dumps({"id": identifier, "title": record.title})
    return json.dumps({"id": identifier, "title": record.title, "text": text})


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    jsonl=st.lists(JSONL_RECORDS, max_size=6),
    rows=st.lists(CSV_RECORDS, max_size=4),
    pages=st.lists(HTML_RECORDS, max_size=2),
)
def test_ingest_indexes_every_valid_record_once_and_names_every_invalid_one(
    embedder, jsonl: list[Record], rows: list[Record], pages: list[Record]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        corpus.mkdir()
        expected_ids: set[str] = set()
        expected_named: set[tuple[str, int | None]] = set()

        jsonl_path = corpus / "rows.jsonl"
        lines = [jsonl_line(record, f"j{n}") for n, record in enumerate(jsonl)]
        jsonl_path.write_text("".join(line + "\n" for line in lines) or "\n", encoding="utf-8")
        for number, record in enumerate(jsonl, 1):
            if is_valid(record, f"j{number - 1}"):
                expected_ids.add(article_id_for("", f"j{number - 1}"))
            else:
                expected_named.add((str(jsonl_path), number))
        if not jsonl:
            expected_named.add((str(jsonl_path), None))  # "no articles in the file"

        csv_path = corpus / "rows.csv"
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(["id", "title", "text"])
        for number, record in enumerate(rows):
            writer.writerow([f"c{number}", record.title, record.text])
        csv_path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        for number, record in enumerate(rows):
            if is_valid(record, f"c{number}"):
                expected_ids.add(article_id_for("", f"c{number}"))
        # A CSV row may span lines (quoted line breaks): its skips are counted, not located.
        csv_invalid = sum(not is_valid(record, f"c{n}") for n, record in enumerate(rows))
        csv_invalid = csv_invalid if rows else 1

        for number, record in enumerate(pages):
            body = "".join(f"<p>{escape(word)}</p>" for word in record.text.split())
            html = f"<html><head><title>{escape(record.title)}</title></head><body>{body}</body>"
            (corpus / f"page{number}.html").write_text(html, encoding="utf-8")
        page_count = sum(1 for record in pages if record.text.split())

        settings = Settings(
            corpus_dir=corpus, index_dir=Path(folder) / "index", max_line_bytes=LINE_LIMIT
        )
        report = ingest([corpus], settings=settings, progress=False, embedder=embedder)

        indexed = set(Manifest.load(settings.index_dir).articles)
        assert expected_ids <= indexed, report.to_dict()  # each valid row, under its own id
        assert len(indexed) == len(expected_ids) + page_count, report.to_dict()
        named = {(item.path, item.line) for item in report.skipped}
        assert expected_named <= named, report.to_dict()
        assert all("\n" not in item.message() for item in report.skipped + report.warnings)
        csv_skips = [item for item in report.skipped if item.path == str(csv_path)]
        assert len(csv_skips) == csv_invalid, report.to_dict()  # each empty row, or "no articles"
        assert report.added == len(indexed)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
