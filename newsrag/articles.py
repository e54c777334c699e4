"""Read corpus files (txt, md, html, jsonl[.gz], csv) into Articles; bad input is reported."""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, ClassVar

from newsrag.article_metadata import (
    article_id_for,
    as_text,
    front_matter,
    iter_lines,
    parse_date,
    seed_header,
)
from newsrag.article_results import ReadResult, Skipped, add_article, report, too_big
from newsrag.article_rows import ROW_SUFFIXES, read_rows
from newsrag.config import Settings
from newsrag.errors import InputError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ReadResult",
    "Skipped",
    "article_id_for",
    "find_corpus_files",
    "iter_corpus",
    "parse_date",
    "read_corpus",
    "read_file",
]


class NotRegularFileError(InputError, OSError):
    """A path that is a FIFO, device, socket or link out of the corpus: never opened for reading."""

    hint = "give regular files inside the corpus folder"


def open_regular(path: Path) -> IO[bytes]:
    """Open a regular file for reading; a FIFO or device is refused without blocking on it."""
    # O_NONBLOCK: opening a FIFO (swapped in after the walk looked) must not wait for a writer.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"not a regular file ({_kind(mode)})")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    kinds |= {stat.S_ISSOCK: "a socket", stat.S_ISDIR: "a directory", stat.S_ISLNK: "a link"}
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


# --- text, markdown and HTML files -----------------------------------------------------------


def _read_text(result: ReadResult, content: str, name: str, settings: Settings) -> None:
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
        add_article(result, text, fields, name, None, settings=settings)


class _PlainHtml(HTMLParser):
    """Fallback HTML to text: visible text a block a line, never script/style; basic metadata.

    Kept, not trafilatura.html2txt: html2txt folds the page into one line (the chunker's blocks
    are lost), and either drops footers and asides with its cleaning (a footer-only page would be
    skipped, tests/test_articles.py) or, without cleaning, keeps script and noscript text.
    """

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


def _read_html(result: ReadResult, content: str, name: str, settings: Settings) -> None:
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
        fields = {key: value for key, value in fields.items() if value}
        add_article(result, text, fields, name, None, settings=settings)


# One article per file: suffix -> reader of the file's checked UTF-8 text. A new document format is
# one module with such a reader, registered here; row formats (many articles a file) are
# article_rows.py's ROW_SUFFIXES.
DocumentReader = Callable[[ReadResult, str, str, Settings], None]
DOCUMENT_READERS: dict[str, DocumentReader] = {
    ".txt": _read_text,
    ".md": _read_text,
    ".markdown": _read_text,
    ".html": _read_html,
    ".htm": _read_html,
}
SUPPORTED_SUFFIXES = (*DOCUMENT_READERS, *ROW_SUFFIXES)


def _read_document(path: Path, name: str, settings: Settings) -> ReadResult:
    result, limit = ReadResult(), settings.max_file_bytes
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
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
        result.skip(name, None, too_big("file", max(size, len(data)), limit))
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        result.skip(name, None, "UTF-16 text; convert it to UTF-8")
    elif b"\x00" in data:
        result.skip(name, None, "binary file (contains NUL bytes), not text; convert or remove it")
    elif content is None:
        result.skip(name, None, f"not valid UTF-8 ({bad_byte}); convert it to UTF-8")
    elif not content.strip():
        result.skip(name, None, "file has only whitespace; add text or remove it")
    else:
        DOCUMENT_READERS[_suffix_of(path)](result, content, name, settings)
    return result


# --- files, directories and corpora ----------------------------------------------------------


def _suffix_of(path: Path) -> str:
    name = path.name.lower()
    return next((suffix for suffix in SUPPORTED_SUFFIXES if name.endswith(suffix)), "")


def _unsupported(path: Path) -> Skipped:
    suffix = "".join(path.suffixes[-2:]) or "no suffix"
    supported = ", ".join(SUPPORTED_SUFFIXES)
    return report(str(path), None, f"unsupported file type ({suffix}); use one of {supported}")


def _walk(directory: Path, skipped: list[Skipped]) -> list[Path]:
    """Regular files under directory, sorted; hidden ones, FIFOs, devices and links out are not.

    No link is followed out of the folder: a link to /etc/passwd or /dev/zero in the corpus is
    named and never opened, and a FIFO is never opened (opening one waits for a writer).
    """
    root = os.path.realpath(directory)

    def on_error(error: OSError) -> None:
        where = str(error.filename or directory)
        skipped.append(report(where, None, f"cannot list directory ({error.strerror}); check it"))

    files: list[Path] = []
    for current, directories, names in os.walk(directory, onerror=on_error):
        for name in [name for name in directories if not name.startswith(".")]:
            if os.path.islink(os.path.join(current, name)):  # os.walk does not descend into it
                reason = "link to a directory, not followed; copy or move the files into the corpus"
                skipped.append(report(os.path.join(current, name), None, reason))
        directories[:] = [name for name in directories if not name.startswith(".")]
        for name in sorted(names):
            path = Path(current) / name
            if name.startswith("."):
                continue
            refused = _unreadable_entry(path, root)
            if refused is None:
                files.append(path)
            else:
                skipped.append(report(str(path), None, refused))
    return sorted(files)


def _unreadable_entry(path: Path, root: str) -> str | None:
    """Why a directory entry is not read (a link out of the corpus, a FIFO...), None if it is."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            target = os.path.realpath(path)
            if os.path.commonpath([root, target]) != root:
                return f"link to {target}, outside the corpus folder: not read; copy the file in"
            mode = os.stat(path).st_mode
    except (OSError, ValueError) as error:
        return f"cannot read ({getattr(error, 'strerror', None) or error}); check it"
    if not stat.S_ISREG(mode):
        return f"{_kind(mode)}, not a regular file: not read; remove it from the corpus"
    return None


def _discover(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    """Supported files (directories searched recursively) and what is unusable."""
    found: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for given in map(Path, paths):
        candidates: list[Path] = []
        if given.is_dir():
            candidates = _walk(given, skipped)
        elif given.is_file():
            candidates = [given]
        else:
            reason = "not a regular file" if given.exists() else "no such file or directory"
            skipped.append(report(str(given), None, f"{reason}; check the path"))
        for file in candidates:
            if (key := os.path.realpath(file)) in seen:  # a file and a link to it: read once
                continue
            seen.add(key)
            if _suffix_of(file):
                found.append(file)
            else:
                skipped.append(_unsupported(file))
    return found, skipped


def find_corpus_files(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    """Corpus files among paths (directories searched recursively, sorted, hidden ones ignored)."""
    return _discover(paths)


def _read_parts(path: Path, settings: Settings, batch_size: int | None) -> Iterator[ReadResult]:
    name, result = str(path), ReadResult()
    try:
        if _suffix_of(path) in ROW_SUFFIXES:
            yield from read_rows(path, name, settings, batch_size, opener=open_regular)
            return
        if _suffix_of(path):
            result = _read_document(path, name, settings)
        else:
            result.skipped.append(_unsupported(path))
    except NotRegularFileError as error:
        result.skip(name, None, f"{error}: not read; remove it from the corpus")
    except OSError as error:
        result.skip(name, None, f"cannot read ({error.strerror or error}); check its permissions")
    except Exception as error:  # last line of defence: one bad file never stops an ingest
        result.skip(name, None, f"unexpected {type(error).__name__} ({error}); please report it")
    yield result


def read_file(path: Path, *, settings: Settings, root: Path | None = None) -> ReadResult:
    """Read one corpus file; never raises on bad content (problems go to skipped/warnings).

    root is accepted for compatibility: ids no longer depend on where a file is found.
    """
    result = ReadResult()
    for part in _read_parts(Path(path), settings, None):
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
    for path in found:
        for part in _read_parts(path, settings, batch_size):
            _drop_duplicates(part, seen)
            yield path, part


def read_corpus(paths: Sequence[Path], *, settings: Settings) -> ReadResult:
    """Read all corpus files into one result; a duplicate id is skipped, naming the first."""
    result = ReadResult()
    for _, part in iter_corpus(paths, settings=settings):
        result.extend(part)
    return result
