"""Read corpus files (txt, md, html, jsonl[.gz], csv) into Articles; bad input is reported."""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from newsrag.article_metadata import (
    TEXT_KEYS,
    article_id_for,
    as_text,
    front_matter,
    host_of,
    iter_lines,
    parse_date,
    pick_fields,
    scan_text,
    seed_header,
)
from newsrag.config import Settings
from newsrag.models import Article

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".jsonl.gz", ".csv")
_ROW_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv")
_HTML_SUFFIXES = (".html", ".htm")
_SNIFF_BYTES = 8192


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


def _add_article(
    result: ReadResult, text: str, fields: dict[str, str], name: str, line: int | None, key: str
) -> None:
    """Complete metadata from the text, resolve date and id (key when no URL), add to result."""
    scan_text(text, fields)
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
            source=fields.get("source") or host_of(url),
            url=url,
            place=fields.get("place", ""),
            author=fields.get("author", ""),
            editor=fields.get("editor", ""),
            path=name,
            line=line,
        )
    )


# --- text, markdown and HTML files -----------------------------------------------------------


def _read_text(result: ReadResult, content: str, name: str, key: str) -> None:
    fields: dict[str, str] = {}
    start, where = 0, ""
    if front := front_matter(content):
        (fields, start), where = front, " after the front matter"
    if header := seed_header(content, start):
        fields = header[0] | {field: value for field, value in fields.items() if value}
        start, where = header[1], " after the metadata line"
    # Drop leading blank lines and trailing whitespace only: the text stays a verbatim substring.
    start = next((s for s, e in iter_lines(content, start) if content[s:e].strip()), len(content))
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
        return as_text(value)

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
    texts = [values[text_key] for text_key in TEXT_KEYS if isinstance(values.get(text_key), str)]
    text = next((candidate for candidate in texts if candidate.strip()), "")
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > limit else len(text)
    if not text:
        result.skip(name, line, "empty text; add the text or remove the row" if texts else _NO_TEXT)
    elif size > limit:
        result.skip(name, line, _too_big("article text", size, limit))
    else:
        fields = pick_fields(values)
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
    if header is not None and not any(key in columns for key in TEXT_KEYS):
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
