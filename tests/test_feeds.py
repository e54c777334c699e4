"""Feeds and URLs: `ingest --url/--feed` and `watch` against a fixture web server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from newsrag import feeds
from newsrag.articles import read_file
from newsrag.config import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "web"
ROUTES = {
    "/feed.xml": ("feed.xml", "application/rss+xml"),
    "/atom.xml": ("atom.xml", "application/atom+xml"),
    "/news/harbor.html": ("harbor.html", "text/html; charset=utf-8"),
    "/news/library.html": ("library.html", "text/html; charset=utf-8"),
}


class FixtureSite:
    """A real HTTP server on 127.0.0.1 serving the fixture pages and feeds; counts requests."""

    def __init__(self) -> None:
        site = self
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                route = ROUTES.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                body = (FIXTURES / route[0]).read_bytes().replace(b"HOST", site.host.encode())
                self.send_response(200)
                self.send_header("Content-Type", route[1])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    running = FixtureSite()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_parse_rss_and_atom_items() -> None:
    rss = (FIXTURES / "feed.xml").read_bytes().replace(b"HOST", b"example.org")
    items = feeds.parse_feed(rss, base_url="http://example.org/feed.xml")
    assert [item.link for item in items] == [
        "http://example.org/news/harbor.html",
        "http://example.org/news/library.html",
        "http://example.org/news/missing.html",
    ]
    assert items[0].title == "Port of Eastwick reopens after storm repairs"
    assert items[0].date == "2024-03-14" and items[0].outlet == "Eastwick Herald"
    atom = feeds.parse_feed((FIXTURES / "atom.xml").read_bytes(), base_url="http://e.org/a.xml")
    assert [(item.link, item.date) for item in atom] == [
        ("http://e.org/news/library.html", "2024-03-20")
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><body>hi</body></html>", "not an RSS/Atom feed (root element <html>)"),
        (b"not xml at all", "not an RSS/Atom feed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss>&a;</rss>',
            "declares XML entities",
        ),
    ],
)
def test_bad_feeds_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(feeds.FetchError) as caught:
        feeds.parse_feed(data, base_url="http://e.org/f")
    assert reason in str(caught.value)


def test_only_http_urls_are_fetched() -> None:
    for url in ("file:///etc/passwd", "javascript:alert(1)", "ftp://e.org/x", "e.org/x"):
        with pytest.raises(feeds.FetchError, match="not an http"):
            feeds.checked_url(url)


def test_feed_items_are_saved_with_feed_and_page_metadata_once(
    site: FixtureSite, tmp_path: Path
) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    report = feeds.fetch_sources(feeds=[site.url("/feed.xml")], settings=settings)
    assert len(report.saved) == 2, report
    assert [item.message() for item in report.skipped] == [
        f"{site.url('/news/missing.html')}: the server answered HTTP 404"
    ]
    for path in report.saved:
        assert path.resolve().is_relative_to((tmp_path / "corpus" / "feeds").resolve())
    articles = {
        article.title: article
        for path in report.saved
        for article in read_file(path, settings=settings).articles
    }
    harbor = articles["Port of Eastwick reopens after storm repairs"]
    assert harbor.date == "2024-03-14"
    assert harbor.source == "Eastwick Herald"
    assert harbor.url == site.url("/news/harbor.html")
    assert "Ingrid Solvang" in harbor.text and "All rights reserved" not in harbor.text

    pages_before = len([path for path in site.requests if path.startswith("/news/")])
    again = feeds.fetch_sources(feeds=[site.url("/feed.xml")], settings=settings)
    assert again.saved == [] and again.known == 2
    pages_after = len([path for path in site.requests if path.startswith("/news/")])
    assert pages_after - pages_before == 1  # only the missing page is tried again


def test_pages_over_the_size_limit_are_refused(site: FixtureSite, tmp_path: Path) -> None:
    settings = Settings(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", max_file_bytes=500
    )
    report = feeds.fetch_sources(urls=[site.url("/news/harbor.html")], settings=settings)
    assert report.saved == []
    assert "over the 500-byte limit" in report.skipped[0].reason
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").rglob("*.md"))


def run_cli(*arguments: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("NEWSRAG_")
    }
    environment.update(
        NEWSRAG_CORPUS_DIR=str(settings.corpus_dir),
        NEWSRAG_INDEX_DIR=str(settings.index_dir),
        HF_HUB_OFFLINE="1",
    )
    return subprocess.run(
        [sys.executable, "-m", "newsrag.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_cli_ingest_feed_and_url_then_watch_ingests_only_what_is_new(
    site: FixtureSite, tmp_path: Path
) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    done = run_cli("ingest", "--feed", site.url("/feed.xml"), "-q", settings=settings)
    assert done.returncode == 0, done.stderr
    assert "fetch: 2 new article(s) saved, 0 already fetched, 1 skipped" in done.stdout
    assert "missing.html: the server answered HTTP 404" in done.stderr
    assert "ingest: 2 added" in done.stdout
    assert (tmp_path / "index" / "feeds.txt").read_text().split() == [site.url("/feed.xml")]

    found = run_cli("search", "who is the harbor master of Eastwick", "-k", "1", settings=settings)
    assert "Port of Eastwick reopens" in found.stdout and "Eastwick Herald" in found.stdout

    # The same page by URL is known already; watch re-reads the remembered feed and the corpus.
    (tmp_path / "corpus" / "note.txt").write_text(
        "date 2024-03-22 Home › Eastwick Herald › Council meets\n\nThe council of Eastwick met "
        "on Friday and chose Mara Lindqvist as its new chair.\n",
        encoding="utf-8",
    )
    watched = run_cli("watch", "--runs", "2", "--interval", "0.2", settings=settings)
    assert watched.returncode == 0, watched.stderr
    lines = [line for line in watched.stdout.splitlines() if line.startswith("watch: run")]
    assert len(lines) == 2, watched.stdout
    assert "fetch: 0 new article(s) saved, 2 already fetched" in lines[0]
    assert "ingest: 1 added, 0 updated, 2 unchanged" in lines[0]
    assert "ingest: 0 added, 0 updated, 3 unchanged" in lines[1]
    assert "missing.html: the server answered HTTP 404" in watched.stdout
