"""Read corpus files (txt, md, html, jsonl[.gz], csv) into Articles; bad input is reported."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from newsrag.config import Settings
from newsrag.models import Article

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".jsonl.gz", ".csv")
_ROW_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv")
_HTML_SUFFIXES = (".html", ".htm")
_SNIFF_BYTES = 8192
_HEAD_LINES = 40  # title, date line and byline are looked for near the top only...
_DATELINE_LINES = 6  # ...the dateline in the first paragraphs...
_TAIL_CHARS = 3000  # ...and credits near the end: huge articles stay fast
_TITLE_MAX = 200

# Accepted names of each field in JSONL/CSV records and front matter; the first one present wins.
_TEXT_KEYS = ("text", "content", "body")
_FIELD_KEYS = {
    "title": ("title", "headline"),
    "date": ("date", "published", "published_at", "publish_date", "pubdate"),
    "source": ("source", "outlet", "site", "publisher", "sitename"),
    "url": ("url", "link", "canonical"),
    "author": ("author", "authors", "byline"),
    "place": ("place", "dateline", "location"),
    "editor": ("editor",),
    "id": ("id",),
}


@dataclass(frozen=True)
class Skipped:
    """An item not ingested (or kept degraded): where it is and what to do about it."""

    path: str  # file path as given
    line: int | None  # 1-based line/row for JSONL/CSV, else None
    reason: str  # one line: what is wrong and what to do

    def message(self) -> str:
        """One line: `path:line: reason`."""
        location = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{location}: {self.reason}"


@dataclass
class ReadResult:
    """Articles read, items skipped, and warnings about articles kept degraded."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # items not ingested
    warnings: list[Skipped] = field(default_factory=list)  # degraded but kept

    def extend(self, other: ReadResult) -> None:
        """Append everything of another result."""
        self.articles.extend(other.articles)
        self.skipped.extend(other.skipped)
        self.warnings.extend(other.warnings)

    def skip(self, path: str, line: int | None, reason: str) -> None:
        """Record an item that is not ingested."""
        self.skipped.append(_report(path, line, reason))

    def warn(self, path: str, line: int | None, reason: str) -> None:
        """Record an article kept in a degraded form."""
        self.warnings.append(_report(path, line, reason))


def _too_big(what: str, size: int, limit: int) -> str:
    return (
        f"{what} is {size:,} bytes, over the limit of {limit:,} (NEWSRAG_MAX_FILE_BYTES); split it"
    )


def _report(path: str, line: int | None, reason: str) -> Skipped:
    # Exception texts can hold line breaks; a report must stay one line.
    return Skipped(path, line, " ".join(reason.split()))


# --- dates -----------------------------------------------------------------------------------

_MONTH = (
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_YMD = re.compile(r"(?<!\d)(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
_DMY_DOTS = re.compile(r"(?<!\d)(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\d)")
_SLASHES = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(?P<year>\d{{4}})\b", re.I)
_DAY_MONTH_YEAR = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(?P<year>\d{{4}})\b", re.I)
_DATE_LINE = re.compile(
    rf"(?:published|updated|posted|dated?)\b|\d|(?:mon|tue|wed|thu|fri|sat|sun)|{_MONTH}", re.I
)
_NOT_NAMES = set(  # words that start a "By Thursday, ..." sentence rather than a byline
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "then",
        "now",
    ]
)


def _make_date(year: int | str, month: int | str, day: int | str) -> str | None:
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def _regex_date(text: str) -> str | None:
    """Common numeric and English month-name formats; None when none of them is present."""
    if match := _COMPACT.fullmatch(text):
        return _make_date(*match.groups())
    if match := _YMD.search(text):
        return _make_date(match[1], match[3], match[4])
    if match := _DMY_DOTS.search(text):  # dotted numeric dates are day-first by convention
        return _make_date(match[3], match[2], match[1])
    if match := _SLASHES.search(text):  # month-first unless the first number cannot be a month
        first, second = int(match[1]), int(match[2])
        return _make_date(match[3], *((second, first) if first > 12 else (first, second)))
    for pattern in (_MONTH_DAY_YEAR, _DAY_MONTH_YEAR):
        if match := pattern.search(text):
            return _make_date(match["year"], _MONTHS[match["month"][:3].lower()], match["day"])
    return None


def parse_date(value: str) -> str | None:
    """Read a date written in one of many formats: ISO YYYY-MM-DD, or None when it is not a date."""
    text = str(value).strip()
    if not text or len(text) > 200:
        return None
    found = _regex_date(text)
    if found is not None or not re.search(r"\d{4}", text):
        return found  # without a year there is no date to index by
    try:
        import dateparser  # slow to import: only for formats the patterns above miss

        parsed = dateparser.parse(
            text,
            settings={
                "REQUIRE_PARTS": ["day", "month", "year"],
                "PARSERS": ["timestamp", "custom-formats", "absolute-time"],  # nothing relative
                "RETURN_AS_TIMEZONE_AWARE": False,
            },
        )
    except Exception:  # dateparser raises many kinds of error on odd input
        return None
    return parsed.date().isoformat() if parsed is not None else None


# --- identity --------------------------------------------------------------------------------


def _normalize_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    kept = [p for p in parts.query.split("&") if p and not p.lower().startswith("utm_")]
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "&".join(kept), ""))


def article_id_for(url: str, fallback: str) -> str:
    """Stable article id: from the normalized URL when there is one, else from the fallback."""
    key = _normalize_url(url) if url.strip() else fallback
    return "a" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:15]


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


# --- metadata inside the article text --------------------------------------------------------

_NEWLINE = re.compile(r"\r\n|\r|\n")
_PLACE_WORD = r"(?:[A-Z][A-Z'’.\-]+|[A-Z][a-z'’.\-]+)"
_DATELINE = re.compile(  # ERBIL (Kurdistan 24) - | WASHINGTON, July 8 (Reuters) - | Rome (CNN)
    rf"(?P<place>{_PLACE_WORD}(?:[ /]{_PLACE_WORD}){{0,3}})(?:,[ \t]*[^()\r\n]{{1,40}}?)?[ \t]*"
    r"\((?P<outlet>[A-Z0-9][^()\r\n]{1,48})\)[ \t]*(?P<dash>[-–—]{1,2})?"
)
_WIRE = re.compile(r"(?:CNN|Reuters|AP|AFP|Bloomberg|UPI|dpa|Xinhua|BBC)\b")  # no dash needed
_BYLINE = re.compile(r"(?:By|BY)[ \t]+(?P<name>.+)")
_CREDIT = re.compile(r"\b(?P<kind>Editing|Edited|Reporting|Writing) by[ \t]+(?P<name>[^;\r\n]+)")
_CONNECTORS = {"and", "&", "de", "da", "del", "der", "di", "du", "van", "von", "al", "bin", "la"}
_ACRONYMS = {"abc", "afp", "ap", "bbc", "cbs", "cnn", "dw", "nbc", "npr", "nyt", "pbs", "usa"}


def _iter_lines(text: str, start: int = 0) -> Iterator[tuple[int, int]]:
    """(start, end) of each line from start on, without its line break; lazy for huge texts."""
    position = start
    while position < len(text):
        match = _NEWLINE.search(text, position)
        if match is None:
            yield position, len(text)
            return
        yield position, match.start()
        position = match.end()


def _clean_name(raw: str) -> str:
    """A person's name from a byline or credit, or "" when it does not look like one."""
    name = re.split(r"\||,|;|\(| [-–—] ", raw, maxsplit=1)[0].strip().rstrip(".").strip()
    words = name.split()
    if not 2 <= len(words) <= 8 or words[0].lower() in _NOT_NAMES:
        return ""  # "By Thursday, the migrants had left" is no byline
    if any(not word[:1].isupper() and word.lower() not in _CONNECTORS for word in words):
        return ""
    return " ".join(words)


def _outlet_case(name: str) -> str:
    """'kurdistan 24' -> 'Kurdistan 24': capitalize lowercase words, keep digits and acronyms."""
    words = [word[:1].upper() + word[1:] if word.islower() else word for word in name.split()]
    return " ".join(word.upper() if word.lower() in _ACRONYMS else word for word in words)


def _place_case(place: str) -> str:
    """'ERBIL' -> 'Erbil', 'NEW YORK' -> 'New York'; mixed case is kept."""
    if not place.isupper():
        return place
    return re.sub(r"[A-Z][A-Z'’]+", lambda match: match[0].capitalize(), place)


def _clean_title(line: str) -> str:
    title = re.sub(r"^#{1,6}\s*|\s+#+\s*$", "", line.strip()).strip().strip("*_").strip()
    if len(title) > _TITLE_MAX:
        title = title[:_TITLE_MAX].rsplit(" ", 1)[0] + "…"
    return title


def _scan_text(text: str, fields: dict[str, str]) -> None:
    """Fill missing title, date, place, source, author and editor from the text itself."""
    head: list[str] = []
    for start, end in _iter_lines(text):
        if len(head) >= _HEAD_LINES:
            break
        if line := text[start : min(end, start + 1000)].strip():  # bounded: lines can be huge
            head.append(line)
    if not fields.get("title"):  # the first line with a word in it: "---" or "***" is no title
        fields["title"] = next((_clean_title(line) for line in head if re.search(r"\w", line)), "")
    found_dateline = found_byline = False
    for number, line in enumerate(head):
        if not fields.get("date") and len(line) <= 60 and _DATE_LINE.match(line):
            fields["date"] = _regex_date(line) or ""  # strict patterns only: prose is no date
        match = None if found_dateline or number >= _DATELINE_LINES else _DATELINE.match(line)
        if match and (match["dash"] or _WIRE.match(match["outlet"])):
            found_dateline = True
            fields["place"] = fields.get("place") or _place_case(match["place"])
            fields["source"] = fields.get("source") or match["outlet"].strip()
        if not found_byline and (match := _BYLINE.match(line)) and (name := _clean_name(match[1])):
            found_byline = True
            fields["author"] = fields.get("author") or name
    for match in _CREDIT.finditer(text[-_TAIL_CHARS:]):
        if name := _clean_name(match["name"]):
            key = "editor" if match["kind"].startswith("Edit") else "author"
            fields[key] = fields.get(key) or name


def _as_text(value: Any) -> str:
    """A field value from JSON, YAML or CSV as one clean string ("" for nothing usable)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(text for item in value if (text := _as_text(item)))
    if isinstance(value, dict):
        return _as_text(value.get("name"))
    return " ".join(str(value).split())


def _pick_fields(values: dict[str, Any]) -> dict[str, str]:
    """Canonical metadata fields of a record whose keys are lowercased."""
    fields: dict[str, str] = {}
    for name, keys in _FIELD_KEYS.items():
        if text := next((text for key in keys if (text := _as_text(values.get(key)))), ""):
            fields[name] = text
    return fields


def _add_article(
    result: ReadResult, text: str, fields: dict[str, str], name: str, line: int | None, key: str
) -> None:
    """Complete metadata from the text, resolve date and id (key when no URL), add to result."""
    _scan_text(text, fields)
    raw_date = fields.get("date", "")
    date = parse_date(raw_date) if raw_date else None
    if date is None and raw_date:
        result.warn(name, line, f"date {raw_date!r} is not readable; kept undated (use YYYY-MM-DD)")
    elif date is None:
        result.warn(name, line, "no date found; kept undated (add a date: YYYY-MM-DD)")
    url = fields.get("url", "")
    result.articles.append(
        Article(
            id=article_id_for(url, fields.get("id") or key),
            title=fields.get("title", ""),
            text=text,
            date=date,
            source=fields.get("source") or _host(url),
            url=url,
            place=fields.get("place", ""),
            author=fields.get("author", ""),
            editor=fields.get("editor", ""),
            path=name,
            line=line,
        )
    )


# --- text, markdown and HTML files -----------------------------------------------------------

_FRONT_OPEN = re.compile(r"---[ \t]*(?:\r\n|\r|\n)")
_FRONT_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.M)
_FRONT_LINE = re.compile(r"\s*([A-Za-z_][\w -]*?)\s*:\s*(.*?)\s*")
_SEED_HEADER = re.compile(r"[ \t]*date[ \t]+(?P<date>\d[\d./-]*\d)[ \t]+(?P<rest>.*)")
_CRUMB = re.compile(r"\s+[›»>]\s+")


def _front_matter(content: str) -> tuple[dict[str, str], int] | None:
    """Fields of a leading `---` front-matter block, and where the text after it starts."""
    opening = _FRONT_OPEN.match(content)
    closing = opening and _FRONT_CLOSE.search(content, opening.end(), opening.end() + 20_000)
    if not opening or not closing:
        return None
    block = content[opening.end() : closing.start()]
    try:
        import yaml

        loaded = yaml.safe_load(block)
    except Exception:  # invalid YAML (or an impossible date in it): read `key: value` lines
        loaded = None
    if not isinstance(loaded, dict):
        matches = (_FRONT_LINE.fullmatch(raw) for raw in block.splitlines())
        loaded = {match[1]: match[2].strip("'\"") for match in matches if match}
    values = {str(key).strip().lower(): value for key, value in loaded.items()}
    if not any(key in values for keys in _FIELD_KEYS.values() for key in keys):
        return None  # a markdown rule, not front matter
    newline = _NEWLINE.match(content, closing.end())
    return _pick_fields(values), newline.end() if newline else closing.end()


def _seed_header(content: str, start: int) -> tuple[dict[str, str], int] | None:
    """The `date 2019-09-09 Home › outlet › title` line, when the text opens with one."""
    for line_start, line_end in _iter_lines(content, start):
        if not content[line_start:line_end].strip():
            continue
        match = _SEED_HEADER.fullmatch(content, line_start, line_end)
        if match is None:
            return None
        crumbs = [crumb.strip() for crumb in _CRUMB.split(match["rest"]) if crumb.strip()]
        crumbs = crumbs[1:] if crumbs and crumbs[0].lower() == "home" else crumbs
        fields = {"date": match["date"], "title": " › ".join(crumbs[1:] or crumbs)}
        if len(crumbs) >= 2:
            fields["source"] = _outlet_case(crumbs[0])
        newline = _NEWLINE.match(content, line_end)
        return fields, newline.end() if newline else line_end
    return None


def _read_text(result: ReadResult, content: str, name: str, key: str) -> None:
    fields: dict[str, str] = {}
    start, where = 0, ""
    if front := _front_matter(content):
        (fields, start), where = front, " after the front matter"
    if header := _seed_header(content, start):
        fields = header[0] | {field: value for field, value in fields.items() if value}
        start, where = header[1], " after the metadata line"
    # Drop leading blank lines and trailing whitespace only: the text stays a verbatim substring.
    start = next((s for s, e in _iter_lines(content, start) if content[s:e].strip()), len(content))
    text = content[start : len(content.rstrip())]
    if not text:
        result.skip(name, None, f"no article text{where}; add text or remove the file")
    else:
        _add_article(result, text, fields, name, None, key)


class _PlainHtml(HTMLParser):
    """Fallback HTML to text: visible text a block a line, never script/style; basic metadata."""

    HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "section", "article"})
    META: ClassVar = {"og:title": "title", "og:site_name": "source", "og:url": "url"}
    META |= {"author": "author", "article:published_time": "date", "date": "date"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.fields: dict[str, str] = {}
        self.hidden = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key.lower(): (value or "").strip() for key, value in attrs}
        self.hidden += tag in self.HIDDEN
        self.in_title = self.in_title or tag == "title"
        if tag == "meta":
            name = (attributes.get("property") or attributes.get("name") or "").lower()
            if name in self.META and attributes.get("content"):
                self.fields.setdefault(self.META[name], attributes["content"])
        if tag == "link" and "canonical" in attributes.get("rel", "").lower().split():
            self.fields.setdefault("url", attributes.get("href", ""))
        self.parts.append("\n" if tag in self.BLOCKS else "")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in self.HIDDEN and self.hidden > 0
        self.in_title = self.in_title and tag != "title"
        self.parts.append("\n" if tag in self.BLOCKS else "")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            (self.title if self.in_title else self.parts).append(data)

    def text(self) -> str:
        """Visible text, one block a line, whitespace folded inside lines."""
        lines = (" ".join(line.split()) for line in "".join(self.parts).split("\n"))
        return "\n".join(line for line in lines if line)


def _trafilatura(content: str) -> tuple[str, dict[str, str], str]:
    """Main text and metadata found by trafilatura ("" when it finds nothing), and any problem."""
    try:
        import trafilatura
    except ImportError as error:  # a broken install must not pass for a page without text
        return "", {}, f"trafilatura cannot be imported ({error}); fix the installation"
    try:
        document = trafilatura.bare_extraction(content, with_metadata=True, include_comments=False)
    except Exception:  # lxml/trafilatura can fail on odd markup: the plain fallback takes over
        document = None
    if document is None:
        return "", {}, "trafilatura found no main text"

    def get(key: str) -> str:  # a Document (slots) in trafilatura 2, a dict in older versions
        value = document.get(key) if isinstance(document, dict) else getattr(document, key, None)
        return _as_text(value)

    fields = {key: get(key) for key in ("title", "date", "author", "url")}
    fields["source"] = get("sitename") or get("hostname")
    text = document.get("text") if isinstance(document, dict) else getattr(document, "text", "")
    fields = {key: value for key, value in fields.items() if value}
    return (text or "").strip(), fields, "" if text else "trafilatura found no main text"


def _read_html(result: ReadResult, content: str, name: str, key: str) -> None:
    text, fields, problem = _trafilatura(content)
    plain = _PlainHtml()
    plain.feed(content)
    plain.close()
    if not text and (text := plain.text()):
        result.warn(name, None, f"{problem}; kept the page's plain text")
    fields = plain.fields | {"title": " ".join("".join(plain.title).split())} | fields
    if not text:
        result.skip(name, None, "no visible text in the HTML; remove the file")
    else:
        _add_article(result, text, {k: v for k, v in fields.items() if v}, name, None, key)


def _read_document(path: Path, name: str, key: str, settings: Settings) -> ReadResult:
    result, limit = ReadResult(), settings.max_file_bytes
    size = path.stat().st_size
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        content = data[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        position, content = bom + error.start, None
        bad_byte = f"byte 0x{data[position]:02x} at offset {position}"
    if size == 0 or not data:
        result.skip(name, None, "empty file (0 bytes); add text or remove it")
    elif size > limit or len(data) > limit:
        result.skip(name, None, _too_big("file", max(size, len(data)), limit))
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        result.skip(name, None, "UTF-16 text; convert it to UTF-8")
    elif b"\x00" in data:
        result.skip(name, None, "binary file (contains NUL bytes), not text; convert or remove it")
    elif content is None:
        result.skip(name, None, f"not valid UTF-8 ({bad_byte}); convert it to UTF-8")
    elif not content.strip():
        result.skip(name, None, "file has only whitespace; add text or remove it")
    elif name.lower().endswith(_HTML_SUFFIXES):
        _read_html(result, content, name, key)
    else:
        _read_text(result, content, name, key)
    return result


# --- JSONL and CSV files: one article per row ------------------------------------------------

_Row = tuple[int, dict[str, Any]]
_NO_TEXT = "missing text (no string 'text', 'content' or 'body' field); add the article text"


def _record_article(
    values: dict[str, Any], name: str, line: int, key: str, settings: Settings
) -> ReadResult:
    """One JSONL/CSV record (keys lowercased) as an article, or the reason it is skipped."""
    result, limit = ReadResult(), settings.max_file_bytes
    texts = [values[text_key] for text_key in _TEXT_KEYS if isinstance(values.get(text_key), str)]
    text = next((candidate for candidate in texts if candidate.strip()), "")
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > limit else len(text)
    if not text:
        result.skip(name, line, "empty text; add the text or remove the row" if texts else _NO_TEXT)
    elif size > limit:
        result.skip(name, line, _too_big("article text", size, limit))
    else:
        fields = _pick_fields(values)
        # The row's own id identifies it when there is no URL; else the file and line do.
        own_id = fields.pop("id", "")
        _add_article(result, text, fields, name, line, own_id or f"{key}#{line}")
    return result


def _iter_jsonl(handle: Iterable[bytes], name: str) -> Iterator[_Row | Skipped]:
    line = 0
    try:
        for line, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.removeprefix(codecs.BOM_UTF8).decode())
            except UnicodeDecodeError as error:
                bad_byte = f"byte 0x{raw[error.start]:02x} at offset {error.start} of the line"
                yield _report(name, line, f"not valid UTF-8 ({bad_byte}); convert it to UTF-8")
                continue
            except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
                detail = str(error) or "nested too deeply"
                if isinstance(error, json.JSONDecodeError):
                    detail = f"{error.msg} at column {error.colno}"
                yield _report(name, line, f"invalid JSON ({detail}); fix or remove the line")
                continue
            if isinstance(record, dict):
                yield line, {str(key).strip().lower(): value for key, value in record.items()}
            else:
                kind = type(record).__name__
                yield _report(name, line, f"expected a JSON object per line, found {kind}; fix it")
    except (OSError, EOFError, zlib.error) as error:  # corrupt or truncated gzip data
        yield _report(name, line + 1, f"unreadable from here ({error}); re-create the file")


def _decoded_lines(handle: Iterable[bytes], name: str, failures: list[Skipped]) -> Iterator[str]:
    """Lines of a CSV file as text; stops at the first invalid UTF-8 line, noting where."""
    for line, raw in enumerate(handle, 1):
        try:
            yield (raw.removeprefix(codecs.BOM_UTF8) if line == 1 else raw).decode()
        except UnicodeDecodeError as error:
            bad_byte = f"byte 0x{raw[error.start]:02x} at offset {error.start} of the line"
            reason = f"not valid UTF-8 ({bad_byte}); convert to UTF-8 (later rows were not read)"
            failures.append(_report(name, line, reason))
            return


def _iter_csv(handle: Iterable[bytes], name: str) -> Iterator[_Row | Skipped]:
    # Article texts are often longer than csv's default field limit of 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    failures: list[Skipped] = []
    reader = csv.reader(_decoded_lines(handle, name, failures))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as error:
        header = None
        failures.append(_report(name, 1, f"unreadable CSV header ({error}); fix it"))
    columns = [column.strip().lower() for column in header or []]
    if header is not None and not any(key in columns for key in _TEXT_KEYS):
        found = ", ".join(column.strip() for column in header) or "none"
        reason = f"no 'text' column (or content, body); columns found: {found}; add a text column"
        yield _report(name, None, reason)
        return
    previous_end = reader.line_num
    while header is not None:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            yield _report(name, previous_end + 1, f"malformed CSV row ({error}); fix its quoting")
            previous_end = reader.line_num
            continue
        line, previous_end = previous_end + 1, reader.line_num
        if len(row) != len(columns) and any(cell.strip() for cell in row):
            reason = f"row has {len(row)} fields, the header {len(columns)}; quote commas in fields"
            yield _report(name, line, reason)
        elif any(cell.strip() for cell in row):
            yield line, dict(zip(columns, row, strict=True))
    yield from failures


def _read_rows(
    path: Path, name: str, key: str, settings: Settings, batch_size: int | None
) -> Iterator[ReadResult]:
    result, rows_seen = ReadResult(), 0
    if path.stat().st_size == 0:
        result.skip(name, None, "empty file (0 bytes); add articles or remove it")
        yield result
        return
    with gzip.open(path, "rb") if name.lower().endswith(".gz") else path.open("rb") as handle:
        try:
            head = handle.read(_SNIFF_BYTES)
            handle.seek(0)
        except (OSError, EOFError, zlib.error) as error:
            head = b"\x00"
            result.skip(name, None, f"not a readable gzip file ({error}); re-create it")
        if b"\x00" in head and not result.skipped:
            result.skip(name, None, "binary data (contains NUL bytes), not text; convert it")
        reader = _iter_csv if name.lower().endswith(".csv") else _iter_jsonl
        for item in () if b"\x00" in head else reader(handle, name):
            if isinstance(item, Skipped):
                result.skipped.append(item)
                continue
            rows_seen += 1
            result.extend(_record_article(item[1], name, item[0], key, settings))
            if batch_size and len(result.articles) >= batch_size:
                yield result
                result = ReadResult()
    if not rows_seen and not result.skipped:
        result.skip(name, None, "no articles in the file; add some or remove it")
    yield result


# --- files, directories and corpora ----------------------------------------------------------


def _suffix_of(path: Path) -> str:
    name = path.name.lower()
    return next((suffix for suffix in SUPPORTED_SUFFIXES if name.endswith(suffix)), "")


def _unsupported(path: Path) -> Skipped:
    suffix = "".join(path.suffixes[-2:]) or "no suffix"
    supported = ", ".join(SUPPORTED_SUFFIXES)
    return _report(str(path), None, f"unsupported file type ({suffix}); use one of {supported}")


def _walk(directory: Path, skipped: list[Skipped]) -> list[Path]:
    """Files under directory, sorted; hidden files and directories are left out."""

    def on_error(error: OSError) -> None:
        where = str(error.filename or directory)
        skipped.append(_report(where, None, f"cannot list directory ({error.strerror}); check it"))

    files: list[Path] = []
    for current, directories, names in os.walk(directory, onerror=on_error):
        directories[:] = [name for name in directories if not name.startswith(".")]
        files.extend(Path(current) / name for name in names if not name.startswith("."))
    return sorted(files)


def _discover(paths: Sequence[Path]) -> tuple[list[tuple[Path, Path | None]], list[Skipped]]:
    """Supported files, each with the directory it was found under, and what is unusable."""
    found: list[tuple[Path, Path | None]] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for given in map(Path, paths):
        candidates: list[tuple[Path, Path | None]] = []
        if given.is_dir():
            candidates = [(file, given) for file in _walk(given, skipped)]
        elif given.is_file():
            candidates = [(given, None)]
        else:
            reason = "not a regular file" if given.exists() else "no such file or directory"
            skipped.append(_report(str(given), None, f"{reason}; check the path"))
        for file, directory in candidates:
            if (key := os.path.abspath(file)) in seen:
                continue
            seen.add(key)
            if _suffix_of(file):
                found.append((file, directory))
            else:
                skipped.append(_unsupported(file))
    return found, skipped


def find_corpus_files(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    """Corpus files among paths (directories searched recursively, sorted, hidden ones ignored)."""
    found, skipped = _discover(paths)
    return [file for file, _ in found], skipped


def _root_for(path: Path, directory: Path | None, settings: Settings) -> Path:
    """What ids are relative to: the corpus dir when the file is in it, so ids stay stable."""
    corpus = Path(os.path.abspath(settings.corpus_dir))
    if Path(os.path.abspath(path)).is_relative_to(corpus):
        return corpus
    return directory if directory is not None else path.parent


def _read_parts(
    path: Path, settings: Settings, root: Path | None, batch_size: int | None
) -> Iterator[ReadResult]:
    name, result = str(path), ReadResult()
    base = Path(os.path.abspath(root if root is not None else _root_for(path, None, settings)))
    absolute = Path(os.path.abspath(path))
    key = (absolute.relative_to(base) if absolute.is_relative_to(base) else absolute).as_posix()
    try:
        if _suffix_of(path) in _ROW_SUFFIXES:
            yield from _read_rows(path, name, key, settings, batch_size)
            return
        if _suffix_of(path):
            result = _read_document(path, name, key, settings)
        else:
            result.skipped.append(_unsupported(path))
    except OSError as error:
        result.skip(name, None, f"cannot read ({error.strerror or error}); check its permissions")
    except Exception as error:  # last line of defence: one bad file never stops an ingest
        result.skip(name, None, f"unexpected {type(error).__name__} ({error}); please report it")
    yield result


def read_file(path: Path, *, settings: Settings, root: Path | None = None) -> ReadResult:
    """Read one corpus file; never raises on bad content (problems go to skipped/warnings)."""
    result = ReadResult()
    for part in _read_parts(Path(path), settings, root, None):
        result.extend(part)
    return result


def _drop_duplicates(result: ReadResult, seen: dict[str, str]) -> None:
    kept = []
    for article in result.articles:
        location = article.path if article.line is None else f"{article.path}:{article.line}"
        first = seen.setdefault(article.id, location)
        if first == location:
            kept.append(article)
        else:
            reason = f"duplicate article id {article.id} (same URL or id as {first}); remove one"
            result.skip(article.path, article.line, reason)
    result.articles = kept


def iter_corpus(
    paths: Sequence[Path], *, settings: Settings, batch_size: int | None = None
) -> Iterator[tuple[Path, ReadResult]]:
    """Read corpus files one at a time, dropping duplicate ids; batch_size splits JSONL/CSV."""
    found, skipped = _discover(paths)
    for item in skipped:
        yield Path(item.path), ReadResult(skipped=[item])
    seen: dict[str, str] = {}
    for path, directory in found:
        for part in _read_parts(path, settings, _root_for(path, directory, settings), batch_size):
            _drop_duplicates(part, seen)
            yield path, part


def read_corpus(paths: Sequence[Path], *, settings: Settings) -> ReadResult:
    """Read all corpus files into one result; a duplicate id is skipped, naming the first."""
    result = ReadResult()
    for _, part in iter_corpus(paths, settings=settings):
        result.extend(part)
    return result
