"""Tests for reading corpus files into articles (no model needed)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from newsrag.articles import (
    SUPPORTED_SUFFIXES,
    ReadResult,
    Skipped,
    _PlainHtml,
    article_id_for,
    find_corpus_files,
    iter_corpus,
    parse_date,
    read_corpus,
    read_file,
)
from newsrag.config import Settings
from newsrag.models import Article

REPO = Path(__file__).resolve().parents[1]
SEED_000 = REPO / "corpus" / "000_92b4cb87b2927453.txt"
SEED_003 = REPO / "corpus" / "003_6a6124ce62265850.txt"
BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def only_article(result: ReadResult) -> Article:
    assert not result.skipped, [item.message() for item in result.skipped]
    assert len(result.articles) == 1
    return result.articles[0]


# --- the two seed formats --------------------------------------------------------------------


def test_seed_000_metadata_line(settings: Settings) -> None:
    result = read_file(SEED_000, settings=settings)
    article = only_article(result)
    decoded = SEED_000.read_text(encoding="utf-8")
    title = (
        "In coordination with Peshmerga, Coalition airstrikes kill 10 ISIS militants in "
        "disputed Makhmour"
    )
    assert article.title == title
    assert article.date == "2019-09-09"
    assert article.source == "Kurdistan 24"
    assert (article.place, article.author, article.editor, article.url) == ("", "", "", "")
    assert article.text in decoded
    assert article.text.startswith(title)  # the text after the metadata line repeats the title
    assert "2019/09/09 | 21:40" in article.text
    assert "Sirwan Barzani, a Peshmerga Commander" in article.text
    assert "Home ›" not in article.text
    assert article.text.endswith("previously liberated areas.")
    assert article.path == str(SEED_000) and article.line is None
    assert result.warnings == []


def test_seed_003_title_standfirst_dateline_editor(settings: Settings) -> None:
    result = read_file(SEED_003, settings=settings)
    article = only_article(result)
    decoded = SEED_003.read_text(encoding="utf-8")
    assert article.title == "Coalition continues strikes against IS remnants near Makhmour"
    assert article.date is None
    assert article.source == "Kurdistan 24"
    assert article.place == "Erbil"
    assert article.editor == "Nadia Riva"
    assert article.author == ""
    assert article.text in decoded
    assert article.text.startswith(article.title)
    assert article.text.endswith("Editing by Nadia Riva")
    assert "Rizgar Mohammed, the Mayor of Makhmour" in article.text
    assert "ERBIL (Kurdistan 24) - The US-led coalition" in article.text
    assert [warning.reason for warning in result.warnings] == [
        "no date found; kept undated (add a date: YYYY-MM-DD)"
    ]


def test_seed_formats_with_windows_line_endings(tmp_path: Path, settings: Settings) -> None:
    for seed in (SEED_000, SEED_003):
        original = only_article(read_file(seed, settings=settings))
        crlf = seed.read_text(encoding="utf-8").replace("\n", "\r\n")
        article = only_article(read_file(write(tmp_path / seed.name, crlf), settings=settings))
        assert article.text in crlf and article.text == original.text.replace("\n", "\r\n")
        assert (article.title, article.date, article.source, article.place, article.editor) == (
            original.title,
            original.date,
            original.source,
            original.place,
            original.editor,
        )


def test_seed_ids_are_stable_wherever_the_file_is(tmp_path: Path, settings: Settings) -> None:
    first = read_file(SEED_003, settings=settings).articles[0]
    again = read_file(SEED_003, settings=settings).articles[0]
    moved = write(tmp_path / "elsewhere" / "deeper" / SEED_003.name, SEED_003.read_bytes())
    elsewhere = read_file(moved, settings=settings).articles[0]
    other = read_file(SEED_000, settings=settings).articles[0]
    assert first.id == again.id == elsewhere.id
    assert first.id != other.id
    assert first.id.startswith("a") and len(first.id) == 16


def test_an_id_less_file_has_one_id_through_any_path(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    path = write(corpus / "sub" / "story.txt", "A title\n\nSome text.\n")
    # corpus_dir elsewhere: the ids used to be relative to the folder given, so they differed.
    settings = Settings(corpus_dir=tmp_path / "other", index_dir=tmp_path / "index")
    via_directory = read_corpus([corpus], settings=settings).articles[0]
    via_subdirectory = read_corpus([corpus / "sub"], settings=settings).articles[0]
    via_file = read_file(path, settings=settings).articles[0]
    assert via_directory.id == via_subdirectory.id == via_file.id
    # Editing the text of a file keeps its id (an update); its title or file name make another.
    path.write_text("A title\n\nSome other text.\n", encoding="utf-8")
    assert read_file(path, settings=settings).articles[0].id == via_file.id
    path.write_text("Another title\n\nSome text.\n", encoding="utf-8")
    assert read_file(path, settings=settings).articles[0].id != via_file.id


def test_id_less_rows_keep_their_ids_when_an_earlier_row_is_deleted(
    tmp_path: Path, settings: Settings
) -> None:
    rows = [{"title": "Same title", "date": "2022-07-01", "text": f"Story {n}."} for n in range(3)]
    path = write(tmp_path / "rows.jsonl", jsonl(*rows))
    before = {article.text: article.id for article in read_file(path, settings=settings).articles}
    assert len(set(before.values())) == 3  # one title, three articles
    write(path, jsonl(*rows[1:]))
    after = {article.text: article.id for article in read_file(path, settings=settings).articles}
    assert after == {text: before[text] for text in ("Story 1.", "Story 2.")}
    elsewhere = write(tmp_path / "copy" / "rows.jsonl", jsonl(*rows[1:]))
    assert {a.id for a in read_file(elsewhere, settings=settings).articles} == set(after.values())


# --- identity ----------------------------------------------------------------------------------


def test_article_id_normalizes_urls() -> None:
    plain = article_id_for("https://example.com/news/story", "ignored")
    assert article_id_for("HTTPS://Example.COM/news/story/#comments", "x") == plain
    assert article_id_for("https://example.com/news/story?utm_source=tw&UTM_medium=s", "y") == plain
    assert article_id_for(" https://example.com/news/story ", "z") == plain
    assert article_id_for("https://example.com/news/story?page=2", "x") != plain
    assert article_id_for("https://example.com/news/other", "x") != plain
    assert article_id_for("", "corpus/a.txt") != article_id_for("", "corpus/b.txt")
    assert article_id_for("", "corpus/a.txt") == article_id_for("  ", "corpus/a.txt")


# --- text and markdown -------------------------------------------------------------------------


def test_front_matter(tmp_path: Path, settings: Settings) -> None:
    body = "# A markdown heading\n\nThe body,  with  doubled spaces.\r\nSecond line.\n"
    content = (
        "---\ntitle: Front matter title\ndate: 2021-03-04\nsource: Example News\n"
        "url: https://example.com/a?utm_campaign=x\nauthor: Jane Doe\nplace: Erbil\n---\n" + body
    )
    path = write(tmp_path / "story.md", content)
    result = read_file(path, settings=settings)
    article = only_article(result)
    assert article.title == "Front matter title"
    assert article.date == "2021-03-04"
    assert (article.source, article.author, article.place) == ("Example News", "Jane Doe", "Erbil")
    assert article.url == "https://example.com/a?utm_campaign=x"
    assert article.id == article_id_for("https://example.com/a", "unused")
    assert article.text == body.rstrip()  # verbatim: whitespace inside kept, front matter gone
    assert result.warnings == []


def test_front_matter_with_invalid_date_and_yaml_errors(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path / "story.md", "---\ntitle: [unclosed\ndate: someday\n---\nBody text.\n")
    result = read_file(path, settings=settings)
    article = only_article(result)
    assert article.title == "[unclosed"  # plain `key: value` reading when YAML fails
    assert article.date is None
    assert article.text == "Body text."
    assert len(result.warnings) == 1 and "'someday'" in result.warnings[0].reason


def test_markdown_rule_is_not_front_matter(tmp_path: Path, settings: Settings) -> None:
    content = "---\nJust a rule above\n---\n\n## Real title ##\n\nText.\n"
    article = only_article(read_file(write(tmp_path / "a.md", content), settings=settings))
    assert article.title == "Just a rule above"
    assert article.text == content.rstrip()


def test_generic_dateline_byline_and_date_line(tmp_path: Path, settings: Settings) -> None:
    content = (
        "\n\n# Oil prices rise\n\nBy Jane Doe and John Roe\nPublished: July 8, 2019\n\n"
        "WASHINGTON, July 8 (Reuters) - Oil prices rose on Monday.\n\nMore text.\n\n"
        "Reporting by Sam Poe; Editing by Kim Lee\n\n"
    )
    article = only_article(read_file(write(tmp_path / "oil.txt", content), settings=settings))
    assert article.title == "Oil prices rise"
    assert article.date == "2019-07-08"
    assert (article.place, article.source) == ("Washington", "Reuters")
    assert article.author == "Jane Doe and John Roe"
    assert article.editor == "Kim Lee"
    assert article.text == content.strip()


def test_prose_is_not_mistaken_for_metadata(tmp_path: Path, settings: Settings) -> None:
    content = (
        "Storms hit the coast\n\nBy Thursday, the storms had reached the Great Lakes.\n"
        "The storm hit on 8 July and left.\n"
    )
    result = read_file(write(tmp_path / "storm.txt", content), settings=settings)
    article = only_article(result)
    assert (article.author, article.place, article.source, article.date) == ("", "", "", None)


def test_article_of_ten_thousand_tiny_paragraphs(tmp_path: Path, settings: Settings) -> None:
    content = "Many paragraphs\n\n" + "\n\n".join(f"Paragraph {n}." for n in range(10_000)) + "\n"
    article = only_article(read_file(write(tmp_path / "long.txt", content), settings=settings))
    assert article.title == "Many paragraphs"
    assert article.text == content.rstrip()


def test_utf8_bom_is_accepted(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfTitle with BOM\n\nText.\n")
    article = only_article(read_file(path, settings=settings))
    assert article.title == "Title with BOM"
    assert article.text == "Title with BOM\n\nText."


def test_unicode_filename_with_spaces(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path / "nouvelles du jour é 文章.txt", "Été à Erbil\n\nTexte ünïcode.\n")
    result = read_corpus([tmp_path], settings=settings)
    article = only_article(result)
    assert article.title == "Été à Erbil"
    assert article.path == str(path)


# --- HTML --------------------------------------------------------------------------------------

HTML_PAGE = """<!DOCTYPE html><html><head><title>Strikes near Makhmour | Kurdistan 24</title>
<link rel="canonical" href="https://www.kurdistan24.net/en/story/123/">
<meta property="og:site_name" content="Kurdistan 24">
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2019-07-10T12:00:00Z">
<style>body { color: red; } .styleSecret { display: none }</style>
<script>var scriptSecret = "never index this";</script>
</head><body><nav>Home | News | Sports</nav><article><h1>Strikes near Makhmour</h1>
<p>ERBIL (Kurdistan 24) - The US-led coalition on 8 July carried air strikes destroying
Islamic State targets near Makhmour, the coalition said in a statement.</p>
<script>document.write("inlineScriptSecret")</script>
<p>Peshmerga Colonel Srood clarified that there were no Peshmerga operations against IS
near Makhmour on that day, speaking to reporters on Wednesday.</p>
<p>Thomas Veale, a spokesman for the coalition, told Kurdistan 24 that the strikes were
conducted in support of Iraqi security forces in the area.</p>
</article><footer>Copyright 2019</footer></body></html>"""


def test_html_main_text_and_metadata(tmp_path: Path, settings: Settings) -> None:
    article = only_article(read_file(write(tmp_path / "page.html", HTML_PAGE), settings=settings))
    assert "Peshmerga Colonel Srood" in article.text
    for secret in ("scriptSecret", "inlineScriptSecret", "styleSecret", "color: red"):
        assert secret not in article.text
    assert article.title == "Strikes near Makhmour"
    assert article.date == "2019-07-10"
    assert article.author == "Jane Doe"
    assert article.source == "Kurdistan 24"
    assert article.url == "https://www.kurdistan24.net/en/story/123/"
    assert article.id == article_id_for("https://www.kurdistan24.net/en/story/123", "x")
    assert article.place == "Erbil"


def test_plain_html_fallback_drops_scripts_and_styles() -> None:
    parser = _PlainHtml()
    parser.feed(
        "<html><head><title>T &amp; A</title><style>p{x:y}</style></head><body>"
        "<p>First  paragraph.</p><script>alert('hidden')</script><div>Second<br>line</div>"
        "<noscript>no</noscript><script>unclosed"
    )
    parser.close()
    assert parser.text() == "First paragraph.\nSecond\nline"
    assert "".join(parser.title) == "T & A"


def test_html_falls_back_to_plain_text_with_a_warning(tmp_path: Path, settings: Settings) -> None:
    page = (
        "<html><head><title>Footer only</title><script>var hidden = 1;</script></head>"
        "<body><footer>Only footer text here</footer></body></html>"
    )
    result = read_file(write(tmp_path / "footer.html", page), settings=settings)
    article = only_article(result)
    assert (article.title, article.text) == ("Footer only", "Only footer text here")
    assert any("kept the page's plain text" in warning.reason for warning in result.warnings)


def test_html_without_visible_text_is_skipped(tmp_path: Path, settings: Settings) -> None:
    page = "<html><head><script>var onlyScript = 1;</script></head><body></body></html>"
    result = read_file(write(tmp_path / "empty.htm", page), settings=settings)
    assert result.articles == []
    assert len(result.skipped) == 1 and "no visible text" in result.skipped[0].reason


# --- JSONL -------------------------------------------------------------------------------------


def jsonl(*rows: object) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def test_jsonl_good_lines_kept_bad_lines_named(tmp_path: Path, settings: Settings) -> None:
    content = jsonl(
        {"id": "r1", "url": "https://example.com/1", "title": "One", "date": "2022-07-01",
         "source": "cnn.com", "text": "First article."},
        '{"title": "broken", "text": "missing brace"',
        "",
        {"title": "Two", "content": "Second article.", "published": "July 2, 2022",
         "outlet": "USA Today"},
        ["not", "an", "object"],
        {"title": "No text here"},
        {"title": "Three", "body": "Third article.", "published_at": "2022-07-03T10:00:00Z",
         "site": "theweek.co.uk", "text": "   "},
        {"title": "Blank", "text": " \n "},
    )  # fmt: skip
    path = write(tmp_path / "corpus" / "rows.jsonl", content)
    result = read_file(path, settings=settings)
    assert [article.title for article in result.articles] == ["One", "Two", "Three"]
    assert [article.line for article in result.articles] == [1, 4, 7]
    one, two, three = result.articles
    assert (one.date, one.source, one.text) == ("2022-07-01", "cnn.com", "First article.")
    assert (two.date, two.source, two.text) == ("2022-07-02", "USA Today", "Second article.")
    assert (three.date, three.source, three.text) == (
        "2022-07-03",
        "theweek.co.uk",
        "Third article.",
    )
    assert one.id == article_id_for("https://example.com/1", "")
    assert two.id == article_id_for(  # no URL, no id: file name and content, never the line
        "", "content\x1frows.jsonl\x1fTwo\x1fJuly 2, 2022\x1fSecond article."
    )
    assert [(item.line, item.reason.split(" (")[0]) for item in result.skipped] == [
        (2, "invalid JSON"),
        (5, "expected a JSON object per line, found list; fix it"),
        (6, "missing text"),
        (8, "empty text; add the text or remove the row"),
    ]
    assert result.skipped[0].message().startswith(f"{path}:2: invalid JSON (Expecting ")
    assert result.warnings == []


def test_jsonl_row_id_is_the_fallback_identity(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path / "rows.jsonl", jsonl({"id": "abc", "title": "T", "text": "x"}))
    article = only_article(read_file(path, settings=settings))
    assert article.id == article_id_for("", "abc")
    assert article.title == "T" and article.date is None


def test_jsonl_gz_and_corrupt_gz(tmp_path: Path, settings: Settings) -> None:
    rows = [{"url": f"https://example.com/{n}", "title": f"T{n}", "text": f"Text {n}. " * 500}
            for n in range(40)]  # fmt: skip
    data = gzip.compress(jsonl(*rows).encode())
    good = read_file(write(tmp_path / "good.jsonl.gz", data), settings=settings)
    assert [article.title for article in good.articles] == [f"T{n}" for n in range(40)]
    assert good.skipped == []
    truncated = read_file(
        write(tmp_path / "cut.jsonl.gz", data[: len(data) // 2]), settings=settings
    )
    assert 0 < len(truncated.articles) < 40
    assert len(truncated.skipped) == 1 and truncated.skipped[0].line is not None
    not_gzip = read_file(write(tmp_path / "plain.jsonl.gz", jsonl(rows[0])), settings=settings)
    assert not_gzip.articles == [] and "gzip" in not_gzip.skipped[0].reason


def test_jsonl_invalid_utf8_line(tmp_path: Path, settings: Settings) -> None:
    data = jsonl({"title": "ok", "text": "fine"}).encode() + b'{"title": "caf\xe9", "text": "x"}\n'
    result = read_file(write(tmp_path / "latin.jsonl", data), settings=settings)
    assert len(result.articles) == 1
    assert result.skipped[0].line == 2
    assert "byte 0xe9 at offset 14" in result.skipped[0].reason
    assert "UTF-8" in result.skipped[0].reason


@pytest.mark.skipif(not BENCH.is_dir(), reason="shared/bench is not beside the repository")
def test_real_rtqa_dev_corpus(settings: Settings) -> None:
    result = read_file(BENCH / "rtqa-dev" / "corpus.jsonl.gz", settings=settings)
    assert len(result.articles) == 973
    assert result.skipped == [] and result.warnings == []
    assert all(article.date and article.title and article.url for article in result.articles)
    assert {article.source for article in result.articles} >= {"cnn.com", "usatoday.com"}
    # Pooled, a row whose URL differs from an earlier one only by utm_* or a trailing slash is
    # the same article: it is skipped, naming the first.
    pooled = read_corpus([BENCH / "rtqa-dev" / "corpus.jsonl.gz"], settings=settings)
    assert len(pooled.articles) + len(pooled.skipped) == 973
    assert len({article.id for article in pooled.articles}) == len(pooled.articles) >= 970
    by_line = {article.line: article for article in result.articles}
    for item in pooled.skipped:
        first_line = int(item.reason.split(" as ")[1].split(")")[0].rsplit(":", 1)[1])
        assert by_line[item.line].id == by_line[first_line].id
        assert by_line[item.line].url != by_line[first_line].url


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_rows_quoting_and_large_fields(tmp_path: Path, settings: Settings) -> None:
    huge = "word " * 60_000  # beyond csv's default 128 KiB field limit
    content = (
        "id,Title,Date,Source,Text\r\n"
        '1,First,2022-07-01,cnn.com,"A text, with a comma\r\nand a line break."\r\n'
        "2,Too,many,fields,here,extra\r\n"
        "\r\n"
        f"3,Huge,2022-07-03,cnn.com,{huge}\r\n"
        "4,Empty,2022-07-04,cnn.com,\r\n"
    )
    path = write(tmp_path / "rows.csv", content)
    result = read_file(path, settings=settings)
    assert [(article.title, article.line) for article in result.articles] == [
        ("First", 2),
        ("Huge", 6),
    ]
    assert result.articles[0].text == "A text, with a comma\r\nand a line break."
    assert result.articles[1].text == huge
    assert [(item.line, item.reason.split(";")[0]) for item in result.skipped] == [
        (4, "row has 6 fields, the header 5"),
        (7, "empty text"),
    ]


def test_csv_header_after_blank_lines_and_text_column_alias(
    tmp_path: Path, settings: Settings
) -> None:
    path = write(tmp_path / "rows.csv", "\n\nHeadline,Content,Published\nA,Body text,2022-01-02\n")
    article = only_article(read_file(path, settings=settings))
    assert (article.title, article.text, article.date, article.line) == (
        "A",
        "Body text",
        "2022-01-02",
        4,
    )


def test_csv_without_text_column_is_skipped_whole(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path / "meta.csv", "id,title,date\n1,A,2022-01-01\n")
    result = read_file(path, settings=settings)
    assert result.articles == []
    assert len(result.skipped) == 1 and result.skipped[0].line is None
    assert "'text' column" in result.skipped[0].reason
    assert "columns found: id, title, date" in result.skipped[0].reason


def test_csv_invalid_utf8_stops_with_line(tmp_path: Path, settings: Settings) -> None:
    data = b"title,text\nA,first\nB,caf\xe9\nC,third\n"
    result = read_file(write(tmp_path / "latin.csv", data), settings=settings)
    assert [article.title for article in result.articles] == ["A"]
    assert result.skipped[0].line == 3 and "byte 0xe9" in result.skipped[0].reason


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.txt", "empty.html", "empty.jsonl", "empty.csv"])
def test_zero_byte_files(tmp_path: Path, settings: Settings, name: str) -> None:
    result = read_file(write(tmp_path / name, b""), settings=settings)
    assert result.articles == []
    assert len(result.skipped) == 1 and "empty file (0 bytes)" in result.skipped[0].reason


@pytest.mark.parametrize("name", ["blob.txt", "blob.html", "blob.jsonl", "blob.csv"])
def test_binary_files(tmp_path: Path, settings: Settings, name: str) -> None:
    result = read_file(
        write(tmp_path / name, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10), settings=settings
    )
    assert result.articles == []
    assert len(result.skipped) == 1 and "NUL bytes" in result.skipped[0].reason


def test_invalid_utf8_names_the_offset(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path / "latin1.txt", "Title\n\nCafé au lait".encode("latin-1"))
    result = read_file(path, settings=settings)
    assert result.articles == []
    assert result.skipped[0].reason == (
        "not valid UTF-8 (byte 0xe9 at offset 10); convert it to UTF-8"
    )


def test_whitespace_only_and_header_only_files(tmp_path: Path, settings: Settings) -> None:
    blank = read_file(write(tmp_path / "blank.txt", " \n\n\t\n"), settings=settings)
    header = read_file(
        write(tmp_path / "header.txt", "date 2019-09-09 Home › x › T\n\n"), settings=settings
    )
    assert blank.articles == header.articles == []
    assert "only whitespace" in blank.skipped[0].reason
    assert "no article text after the metadata line" in header.skipped[0].reason


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index", max_file_bytes=100)
    result = read_file(write(tmp_path / "big.txt", "Title\n\n" + "x" * 200), settings=settings)
    assert result.articles == []
    reason = result.skipped[0].reason
    assert "207 bytes" in reason and "limit of 100" in reason and "NEWSRAG_MAX_FILE_BYTES" in reason


def test_jsonl_size_limit_applies_per_article(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index", max_file_bytes=100)
    rows = [{"title": f"T{n}", "text": "short text " * 5} for n in range(5)]
    rows.append({"title": "long", "text": "é" * 60})  # 120 bytes in UTF-8 (60 characters)
    result = read_file(write(tmp_path / "rows.jsonl", jsonl(*rows)), settings=settings)
    assert len(result.articles) == 5  # the file is larger than the limit, each article is not
    assert result.skipped[0].line == 6 and "120 bytes" in result.skipped[0].reason


def test_unreadable_path_is_reported(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    result = read_file(folder, settings=settings)
    assert result.articles == []
    assert result.skipped[0].reason.startswith("not a regular file (a directory)")


# --- corpora: discovery, duplicates, streaming -------------------------------------------------


def test_find_corpus_files(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "B")
    write(tmp_path / "a" / "z.md", "Z")
    write(tmp_path / "a" / "y.JSONL.gz", b"")
    write(tmp_path / "photo.png", b"png")
    write(tmp_path / ".hidden.txt", "hidden")
    write(tmp_path / ".git" / "config.txt", "hidden")
    files, skipped = find_corpus_files([tmp_path, tmp_path / "b.txt", tmp_path / "missing"])
    assert files == [tmp_path / "a" / "y.JSONL.gz", tmp_path / "a" / "z.md", tmp_path / "b.txt"]
    assert [(Path(item.path).name, item.reason.split(";")[0]) for item in skipped] == [
        ("photo.png", "unsupported file type (.png)"),
        ("missing", "no such file or directory"),
    ]
    assert ".jsonl.gz" in SUPPORTED_SUFFIXES


def test_duplicate_ids_keep_the_first(tmp_path: Path, settings: Settings) -> None:
    first = {"url": "https://example.com/story", "title": "A", "text": "First copy."}
    second = {"url": "https://EXAMPLE.com/story/?utm_source=feed", "title": "B", "text": "Again."}
    path = write(tmp_path / "a.jsonl", jsonl(first, second))
    write(tmp_path / "b.jsonl", jsonl({**first, "title": "C"}))
    result = read_corpus([tmp_path], settings=settings)
    assert [article.title for article in result.articles] == ["A"]
    assert [(Path(item.path).name, item.line) for item in result.skipped] == [
        ("a.jsonl", 2),
        ("b.jsonl", 1),
    ]
    assert all(f"{path}:1" in item.reason for item in result.skipped)


def test_iter_corpus_streams_per_file_and_in_batches(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path / "a.txt", "Title A\n\nText.")
    write(tmp_path / "b.jsonl", jsonl(*({"title": str(n), "text": "t"} for n in range(5))))
    write(tmp_path / "c.pdf", b"%PDF")
    per_file = list(iter_corpus([tmp_path], settings=settings))
    assert [(path.name, len(part.articles), len(part.skipped)) for path, part in per_file] == [
        ("c.pdf", 0, 1),
        ("a.txt", 1, 0),
        ("b.jsonl", 5, 0),
    ]
    batches = list(iter_corpus([tmp_path / "b.jsonl"], settings=settings, batch_size=2))
    assert [len(part.articles) for _, part in batches] == [2, 2, 1]


def test_skipped_message_format() -> None:
    assert (
        Skipped("corpus/x.jsonl", 12, "invalid JSON").message() == "corpus/x.jsonl:12: invalid JSON"
    )
    assert Skipped("corpus/a.txt", None, "empty").message() == "corpus/a.txt: empty"


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-09-09", "2019-09-09"),
        ("2019/09/09 | 21:40", "2019-09-09"),
        ("2022-06-28T10:00:00Z", "2022-06-28"),
        ("20220628", "2022-06-28"),
        ("July 8, 2019", "2019-07-08"),
        ("8 July 2019", "2019-07-08"),
        ("Updated 10:00 AM ET, Tue July 5, 2022", "2022-07-05"),
        ("Tue, 05 Jul 2022 10:00:00 GMT", "2022-07-05"),
        ("31.12.2019", "2019-12-31"),
        ("12/31/2019", "2019-12-31"),
        ("9 septembre 2019", "2019-09-09"),
        ("8 July", None),
        ("2019-02-30", None),
        ("yesterday", None),
        ("not a date", None),
        ("", None),
    ],
)
def test_parse_date_formats(value: str, expected: str | None) -> None:
    assert parse_date(value) == expected


@given(st.dates())
def test_parse_date_round_trips_iso_dates(date: dt.date) -> None:
    assert parse_date(date.isoformat()) == date.isoformat()


@hypothesis_settings(max_examples=50, deadline=None)
@given(st.text(max_size=60))
def test_parse_date_never_raises(value: str) -> None:
    result = parse_date(value)
    assert result is None or dt.date.fromisoformat(result)


# --- properties: arbitrary files never raise, text is verbatim ---------------------------------

FRAGMENTS = st.sampled_from(
    ["---\n", "title: T\n", "date 2019-09-09 Home › kurdistan 24 › T\n", "# ", "\n\n", "\r\n",
     "ERBIL (Kurdistan 24) - ", "By Jane Doe\n", "Editing by Nadia Riva", "2019/09/09 | 21:40\n",
     "\ufeff", " ", "\u2028"]
)  # fmt: skip
ARTICLE_TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=30)), max_size=12).map("".join)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=ARTICLE_TEXT, suffix=st.sampled_from([".txt", ".md"]))
def test_text_files_never_raise_and_keep_text_verbatim(
    tmp_path: Path, settings: Settings, content: str, suffix: str
) -> None:
    path = write(tmp_path / f"story{suffix}", content.encode("utf-8", "surrogatepass"))
    result = read_file(path, settings=settings)
    decoded = path.read_bytes().decode("utf-8", "surrogatepass")
    assert len(result.articles) + len(result.skipped) == 1
    assert not any(item.reason.startswith("unexpected") for item in result.skipped)
    for article in result.articles:
        assert article.text and article.text in decoded
        assert article.date is None or dt.date.fromisoformat(article.date)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300), suffix=st.sampled_from(SUPPORTED_SUFFIXES))
def test_arbitrary_bytes_never_raise(
    tmp_path: Path, settings: Settings, data: bytes, suffix: str
) -> None:
    result = read_file(write(tmp_path / f"blob{suffix}", data), settings=settings)
    assert all(item.reason and "\n" not in item.reason for item in result.skipped)
    assert not any(item.reason.startswith("unexpected") for item in result.skipped)
    assert all(article.text for article in result.articles)
