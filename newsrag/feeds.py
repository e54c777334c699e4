"""Articles from the web: a page URL or an RSS/Atom feed, fetched with httpx, text by trafilatura.

Each fetched article becomes a Markdown file with front matter (title, date, outlet, link) under
corpus/feeds/<host>/, so the ordinary incremental ingest indexes it and a re-ingest of the
corpus keeps it. A link fetched before is not fetched again. `watch` repeats feeds and corpus.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import logging
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from newsrag.article_metadata import host_of, parse_date
from newsrag.articles import Skipped
from newsrag.config import Settings
from newsrag.errors import NewsragError

logger = logging.getLogger(__name__)

FEEDS_SUBDIR = "feeds"
FEED_LIST_NAME = "feeds.txt"  # in index_dir: the feeds `watch` re-reads
TIMEOUT_SECONDS = 20.0
MAX_ITEMS_PER_FEED = 200
USER_AGENT = "newsrag/0.1 (+https://github.com/; news archive ingest)"
_SLUG = re.compile(r"[^a-z0-9]+")


class FetchError(NewsragError, RuntimeError):
    """A URL that could not be fetched or read; the message says why."""

    http_status, api_code = 502, "fetch_failed"
    hint = "check the URL and that the site answers"


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: its link and what the feed says about it."""

    link: str
    title: str = ""
    date: str | None = None
    outlet: str = ""


@dataclass
class FetchReport:
    """What a fetch of URLs and feeds did: files written, links already known, problems."""

    saved: list[Path] = field(default_factory=list)
    known: int = 0  # links fetched by an earlier run
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal and the browser."""
        return (
            f"fetch: {len(self.saved)} new article(s) saved, {self.known} already fetched, "
            f"{len(self.skipped)} skipped"
        )


def checked_url(url: str) -> str:
    """The URL stripped, when it is absolute http(s); FetchError otherwise."""
    candidate = (url or "").strip()
    parts = urlsplit(candidate)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{candidate[:200]!r} is not an http(s) URL; paste the full address")
    return candidate


def make_client() -> httpx.Client:
    """The HTTP client of a fetch run (redirects followed, bounded time)."""
    return httpx.Client(
        follow_redirects=True,
        max_redirects=5,
        timeout=TIMEOUT_SECONDS,
        headers={"User-Agent": USER_AGENT},
    )


def fetch_bytes(client: httpx.Client, url: str, *, limit: int) -> tuple[bytes, str, str]:
    """Body, final URL and content type of url; at most `limit` bytes are read (FetchError)."""
    try:
        with client.stream("GET", checked_url(url)) as response:
            if response.status_code >= 400:
                raise FetchError(f"{url}: the server answered HTTP {response.status_code}")
            body = bytearray()
            for block in response.iter_bytes():
                body.extend(block)
                if len(body) > limit:
                    raise FetchError(
                        f"{url}: over the {limit:,}-byte limit (NEWSRAG_MAX_FILE_BYTES)"
                    )
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return bytes(body), str(response.url), kind
    except httpx.HTTPError as error:
        raise FetchError(f"{url}: {type(error).__name__} ({error}); check the address") from error


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _child_text(element: ElementTree.Element, *names: str) -> str:
    for child in element:
        if _local(child.tag) in names and (child.text or "").strip():
            return " ".join((child.text or "").split())
    return ""


def _feed_date(raw: str) -> str | None:
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw).date().isoformat()  # RSS: RFC 822
    except (TypeError, ValueError, IndexError):
        pass
    try:
        return dt.date.fromisoformat(raw.strip()[:10]).isoformat()  # Atom: RFC 3339
    except ValueError:
        return parse_date(raw)


def _item_link(item: ElementTree.Element, base: str) -> str:
    for child in item:
        if _local(child.tag) != "link":
            continue
        href = child.get("href")  # Atom: <link rel="alternate" href="…"/>
        if href and child.get("rel", "alternate") == "alternate":
            return urljoin(base, href.strip())
        if (child.text or "").strip():  # RSS: <link>…</link>
            return urljoin(base, (child.text or "").strip())
    guid = _child_text(item, "guid", "id")
    return guid if guid.startswith(("http://", "https://")) else ""


def parse_feed(data: bytes, *, base_url: str) -> list[FeedItem]:
    """The items of an RSS 2.0, RSS 1.0 or Atom document (FetchError when it is none of them)."""
    if b"<!ENTITY" in data[:65536].upper():
        raise FetchError(f"{base_url}: the feed declares XML entities; refusing to expand them")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise FetchError(f"{base_url}: not an RSS/Atom feed ({error})") from error
    if _local(root.tag) not in ("rss", "feed", "rdf"):
        raise FetchError(f"{base_url}: not an RSS/Atom feed (root element <{_local(root.tag)}>)")
    channel = next((element for element in root if _local(element.tag) == "channel"), root)
    outlet = _child_text(channel, "title")
    items = []
    for element in root.iter():
        if _local(element.tag) not in ("item", "entry"):
            continue
        link = _item_link(element, base_url)
        if not link:
            continue
        date = _child_text(element, "pubdate", "published", "updated", "date")
        items.append(
            FeedItem(
                link=link, title=_child_text(element, "title"), date=_feed_date(date), outlet=outlet
            )
        )
        if len(items) >= MAX_ITEMS_PER_FEED:
            break
    return items


@dataclass(frozen=True)
class PageArticle:
    """What trafilatura read from a page."""

    text: str
    title: str = ""
    date: str | None = None
    outlet: str = ""


def extract_page(html: str, url: str) -> PageArticle:
    """The article text and metadata of a page (FetchError when it has no article text)."""
    import trafilatura

    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False
    )

    def get(key: str) -> str:  # a Document in trafilatura 2, a dict before
        value = document.get(key) if isinstance(document, dict) else getattr(document, key, None)
        return " ".join(str(value).split()) if value else ""

    text = ""
    if document is not None:
        raw = document.get("text") if isinstance(document, dict) else getattr(document, "text", "")
        text = (raw or "").strip()
    if not text:
        raise FetchError(f"{url}: no article text found on the page")
    return PageArticle(
        text=text,
        title=get("title"),
        date=parse_date(get("date")) if get("date") else None,
        outlet=get("sitename"),
    )


def file_for(url: str, title: str, *, settings: Settings) -> Path:
    """Where the article of url is saved: corpus/feeds/<host>/<title slug>-<url hash>.md."""
    host = _SLUG.sub("-", (urlsplit(url).hostname or "unknown").lower()).strip("-")[:60]
    slug = _SLUG.sub("-", title.lower()).strip("-")[:60] or "article"
    digest = hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()[:12]
    return Path(settings.corpus_dir) / FEEDS_SUBDIR / (host or "unknown") / f"{slug}-{digest}.md"


def _known(url: str, *, settings: Settings) -> bool:
    digest = hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()[:12]
    folder = Path(settings.corpus_dir) / FEEDS_SUBDIR
    return folder.is_dir() and any(folder.glob(f"*/*-{digest}.md"))


def write_article(
    url: str, page: PageArticle, item: FeedItem | None, *, settings: Settings
) -> Path:
    """Save one fetched article as Markdown with YAML front matter; returns its path."""
    import yaml

    title = (item.title if item and item.title else page.title) or url
    fields = {
        "title": title[:500],
        "date": (item.date if item and item.date else page.date) or "",
        "source": page.outlet or (item.outlet if item else "") or host_of(url),
        "url": url,
    }
    front = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False, width=10_000)
    path = file_for(url, title, settings=settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(f"---\n{front}---\n{page.text}\n", encoding="utf-8")
    partial.replace(path)  # whole or not at all
    return path


def fetch_article(
    client: httpx.Client, url: str, item: FeedItem | None, *, settings: Settings
) -> Path:
    """Fetch one article page and save it under corpus/feeds/ (FetchError on any problem)."""
    body, final_url, kind = fetch_bytes(client, url, limit=settings.max_file_bytes)
    if kind and "html" not in kind and not kind.startswith("text/"):
        raise FetchError(f"{url}: not a web page (content type {kind}); paste the article's page")
    html = body.decode("utf-8", errors="replace")
    return write_article(url, extract_page(html, final_url), item, settings=settings)


def fetch_sources(
    *,
    urls: Sequence[str] = (),
    feeds: Sequence[str] = (),
    settings: Settings,
    client: httpx.Client | None = None,
    on_item: Callable[[str], None] | None = None,
) -> FetchReport:
    """Fetch article URLs and every new item of the feeds into corpus/feeds/ (never raises)."""
    report = FetchReport()
    own = client is None
    http = client or make_client()
    try:
        work: list[tuple[str, FeedItem | None]] = [
            (url.strip(), None) for url in urls if url.strip()
        ]
        for feed_url in (url.strip() for url in feeds if url.strip()):
            try:
                data, final_url, _ = fetch_bytes(http, feed_url, limit=settings.max_file_bytes)
                work.extend((item.link, item) for item in parse_feed(data, base_url=final_url))
            except FetchError as error:
                report.skipped.append(Skipped(feed_url, None, _reason(error, feed_url)))
        for url, item in work:
            if _known(url, settings=settings):
                report.known += 1
                continue
            if on_item is not None:
                on_item(url)
            try:
                report.saved.append(fetch_article(http, url, item, settings=settings))
            except (FetchError, OSError, ValueError) as error:
                report.skipped.append(Skipped(url, None, _reason(error, url)))
    finally:
        if own:
            http.close()
    return report


def looks_like_feed(data: bytes, kind: str) -> bool:
    """True when a fetched body is XML (RSS/Atom), not a web page."""
    if any(word in kind for word in ("rss", "atom", "xml")) and "html" not in kind:
        return True
    head = data[:512].lstrip().lower()
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")) and b"<html" not in head


def classify_urls(
    urls: Sequence[str], *, settings: Settings, client: httpx.Client
) -> tuple[list[str], list[str], list[Skipped]]:
    """Split pasted URLs into (pages, feeds, refused) by fetching each one once."""
    pages: list[str] = []
    found_feeds: list[str] = []
    refused: list[Skipped] = []
    for url in dict.fromkeys(url.strip() for url in urls if url.strip()):
        try:
            data, _, kind = fetch_bytes(client, url, limit=settings.max_file_bytes)
        except FetchError as error:
            refused.append(Skipped(url[:300], None, _reason(error, url)))
            continue
        (found_feeds if looks_like_feed(data, kind) else pages).append(url)
    return pages, found_feeds, refused


def fetch_pasted(urls: Sequence[str], *, settings: Settings) -> FetchReport:
    """Fetch URLs pasted in the browser: article pages and feeds alike (feeds are remembered)."""
    with make_client() as client:
        pages, found_feeds, refused = classify_urls(urls, settings=settings, client=client)
        report = fetch_sources(urls=pages, feeds=found_feeds, settings=settings, client=client)
    remember_feeds(found_feeds, settings=settings)
    report.skipped[:0] = refused
    return report


def _reason(error: BaseException, url: str) -> str:
    text = " ".join(str(error).split())
    return text[len(url) + 2 :] if text.startswith(f"{url}: ") else text


# ---- remembered feeds and `watch` ------------------------------------------------------------


def remembered_feeds(settings: Settings) -> list[str]:
    """Feeds added before (by `ingest --feed` or the browser), one URL a line in index/feeds.txt."""
    path = Path(settings.index_dir) / FEED_LIST_NAME
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return list(dict.fromkeys(line.strip() for line in lines if line.strip().startswith("http")))


def remember_feeds(feeds: Iterable[str], *, settings: Settings) -> None:
    """Add feeds to index/feeds.txt so `watch` re-reads them."""
    known = remembered_feeds(settings)
    new = [url.strip() for url in feeds if url.strip() and url.strip() not in known]
    if not new:
        return
    path = Path(settings.index_dir) / FEED_LIST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*known, *new]) + "\n", encoding="utf-8")


def watch(
    *,
    settings: Settings,
    feeds: Sequence[str],
    interval: float,
    runs: int | None = None,
    log: Callable[[str], None] = print,
    embedder: Any = None,
) -> int:
    """Every interval seconds: fetch new feed items, then ingest what is new in the corpus folder."""
    from newsrag.ingest import ingest
    from newsrag.manifest import IngestLockedError

    corpus = Path(settings.corpus_dir)
    done = 0
    while runs is None or done < runs:
        started = time.monotonic()
        done += 1
        all_feeds = list(dict.fromkeys([*feeds, *remembered_feeds(settings)]))
        fetched = fetch_sources(feeds=all_feeds, settings=settings)
        for item in fetched.skipped:
            log(f"watch: skipped: {item.message()}")
        corpus.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
            for item in report.skipped:
                log(f"watch: skipped: {item.message()}")
            log(f"watch: run {done} at {stamp}: {fetched.summary()}; {report.summary()}")
        except IngestLockedError as error:
            log(f"watch: run {done} at {stamp}: {fetched.summary()}; ingest waits: {error}")
        if runs is not None and done >= runs:
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return done
