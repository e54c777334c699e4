"""What reading a corpus file gives: Articles, skipped items and warnings, cleaned and bounded."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from newsrag.article_metadata import article_id_for, host_of, parse_date, scan_text
from newsrag.config import Settings
from newsrag.models import Article

# Lone surrogates (a JSON "\ud800" escape) cannot be encoded, so the tokenizer, Chroma and
# SQLite all fail on them; NUL ends strings in C code. Both are cleaned where text is read.
_INVALID = re.compile("[\ud800-\udfff\x00]")
_METADATA_FIELDS = ("source", "url", "place", "author", "editor", "date", "id")


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
        self.skipped.append(report(path, line, reason))

    def warn(self, path: str, line: int | None, reason: str) -> None:
        """Record an article kept in a degraded form."""
        self.warnings.append(report(path, line, reason))


def report(path: str, line: int | None, reason: str) -> Skipped:
    """A Skipped whose reason is one line (exception texts can hold line breaks)."""
    return Skipped(path, line, " ".join(reason.split()))


def too_big(what: str, size: int, limit: int, setting: str = "NEWSRAG_MAX_FILE_BYTES") -> str:
    """The reason for an item over a size limit, naming the setting that raises it."""
    return f"{what} is {size:,} bytes, over the limit of {limit:,} ({setting}); split it"


def clean_text(text: str) -> tuple[str, int]:
    """Text with lone surrogates replaced by U+FFFD and NULs removed, and how many there were."""
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        found += 1
        return "" if match[0] == "\x00" else "\ufffd"

    return (_INVALID.sub(replace, text), found) if _INVALID.search(text) else (text, 0)


def _cut(value: str, limit: int) -> str:
    # At a word boundary when there is one; with the ellipsis, at most limit characters.
    return value if len(value) <= limit else value[: limit - 1].rsplit(" ", 1)[0] + "…"


def identity_key(name: str, fields: dict[str, str], text: str, *, whole_file: bool) -> str:
    """What identifies an article without URL or id: its file's name and its content.

    Never the path or the row number alone: the same file ingested through two paths, or a row
    after a deleted one, keeps its id. A file holding one article is known by its title and
    date (editing its text updates it); a row also by its text (rows of one file share titles).
    """
    parts = [os.path.basename(name), fields.get("title", ""), fields.get("date", "")]
    if not whole_file or not fields.get("title"):
        parts.append(text)
    return "content\x1f" + "\x1f".join(parts)


def add_article(
    result: ReadResult,
    text: str,
    fields: dict[str, str],
    name: str,
    line: int | None,
    *,
    settings: Settings,
    own_id: str = "",
) -> None:
    """Clean and bound the fields, complete metadata from the text, resolve date and id, add."""
    text, invalid = clean_text(text)
    cleaned: dict[str, str] = {}
    for key, value in fields.items():
        cleaned[key], count = clean_text(value)
        invalid += count
    if own_id:
        own_id, count = clean_text(own_id)
        invalid += count
    if not text.strip():
        result.skip(name, line, "no article text once NUL characters are removed; add text")
        return
    if invalid:
        result.warn(
            name,
            line,
            f"{invalid} invalid code points (lone surrogate escapes such as \\ud800, or NUL) "
            "replaced; fix the text's encoding",
        )
    scan_text(text, cleaned)
    _bound_fields(result, cleaned, name, line, settings)
    raw_date = cleaned.get("date", "")
    date = parse_date(raw_date) if raw_date else None
    if date is None and raw_date:
        result.warn(name, line, f"date {raw_date!r} is not readable; kept undated (use YYYY-MM-DD)")
    elif date is None:
        result.warn(name, line, "no date found; kept undated (add a date: YYYY-MM-DD)")
    url = cleaned.get("url", "")
    fallback = own_id or identity_key(name, cleaned, text, whole_file=line is None)
    result.articles.append(
        Article(
            id=article_id_for(url, fallback),
            title=cleaned.get("title", ""),
            text=text,
            date=date,
            source=cleaned.get("source") or host_of(url),
            url=url,
            place=cleaned.get("place", ""),
            author=cleaned.get("author", ""),
            editor=cleaned.get("editor", ""),
            path=name,
            line=line,
        )
    )


def _bound_fields(
    result: ReadResult, fields: dict[str, str], name: str, line: int | None, settings: Settings
) -> None:
    """Cut a title or metadata field over its limit (they are stored with every chunk)."""
    title = fields.get("title", "")
    if len(title) > settings.max_title_chars:
        fields["title"] = _cut(title, settings.max_title_chars)
        result.warn(
            name,
            line,
            f"title is {len(title):,} characters, cut to {settings.max_title_chars:,} "
            "(NEWSRAG_MAX_TITLE_CHARS); shorten it",
        )
    for key in _METADATA_FIELDS:
        value = fields.get(key, "")
        if len(value) > settings.max_metadata_chars:
            fields[key] = _cut(value, settings.max_metadata_chars)
            result.warn(
                name,
                line,
                f"field {key!r} is {len(value):,} characters, cut to "
                f"{settings.max_metadata_chars:,} (NEWSRAG_MAX_METADATA_CHARS); shorten it",
            )
