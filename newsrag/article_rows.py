"""JSONL (plain or gzip) and CSV corpus files: one article per row, read in bounded pieces."""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

from newsrag.article_metadata import TEXT_KEYS, pick_fields
from newsrag.article_results import ReadResult, Skipped, add_article, report, too_big
from newsrag.config import Settings

ROW_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv")
_SNIFF_BYTES = 8192
_READ_BYTES = 1 << 20  # what an over-long line is skipped by: never held whole

_Row = tuple[int, dict[str, Any]]
_NO_TEXT = "missing text (no string 'text', 'content' or 'body' field); add the article text"


def _record_article(values: dict[str, Any], name: str, line: int, settings: Settings) -> ReadResult:
    """One JSONL/CSV record (keys lowercased) as an article, or the reason it is skipped."""
    result, limit = ReadResult(), settings.max_file_bytes
    texts = [values[text_key] for text_key in TEXT_KEYS if isinstance(values.get(text_key), str)]
    text = next((candidate for candidate in texts if candidate.strip()), "")
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > limit else len(text)
    if not text:
        result.skip(name, line, "empty text; add the text or remove the row" if texts else _NO_TEXT)
    elif size > limit:
        result.skip(name, line, too_big("article text", size, limit))
    else:
        fields = pick_fields(values)
        # The row's own id identifies it when there is no URL; else its file name and content.
        own_id = fields.pop("id", "")
        add_article(result, text, fields, name, line, settings=settings, own_id=own_id)
    return result


def bounded_lines(
    handle: IO[bytes], name: str, limit: int
) -> Iterator[tuple[int, bytes | Skipped]]:
    """(line number, bytes) of each line, or a Skipped for a line over limit bytes.

    A line is read at most limit + 1 bytes at a time: a 500 MB line in a small gzip file costs
    limit bytes of memory, not 500 MB.
    """
    number = 0
    while raw := handle.readline(limit + 1):
        number += 1
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield number, raw
            continue
        size = len(raw)
        while (rest := handle.readline(_READ_BYTES)) and not rest.endswith(b"\n"):
            size += len(rest)
        size += len(rest)
        yield number, report(name, number, too_big("line", size, limit, "NEWSRAG_MAX_LINE_BYTES"))


def _iter_jsonl(handle: IO[bytes], name: str, limit: int) -> Iterator[_Row | Skipped]:
    line = 0
    try:
        for line, raw in bounded_lines(handle, name, limit):
            if isinstance(raw, Skipped):
                yield raw
                continue
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.removeprefix(codecs.BOM_UTF8).decode())
            except UnicodeDecodeError as error:
                bad_byte = f"byte 0x{raw[error.start]:02x} at offset {error.start} of the line"
                yield report(name, line, f"not valid UTF-8 ({bad_byte}); convert it to UTF-8")
                continue
            except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
                detail = str(error) or "nested too deeply"
                if isinstance(error, json.JSONDecodeError):
                    detail = f"{error.msg} at column {error.colno}"
                yield report(name, line, f"invalid JSON ({detail}); fix or remove the line")
                continue
            if isinstance(record, dict):
                yield line, {str(key).strip().lower(): value for key, value in record.items()}
            else:
                kind = type(record).__name__
                yield report(name, line, f"expected a JSON object per line, found {kind}; fix it")
    except (OSError, EOFError, zlib.error) as error:  # corrupt or truncated gzip data
        yield report(name, line + 1, f"unreadable from here ({error}); re-create the file")


def _decoded_lines(
    handle: IO[bytes], name: str, limit: int, failures: list[Skipped]
) -> Iterator[str]:
    """Lines of a CSV file as text; stops at an invalid UTF-8 or over-long line, noting where."""
    for line, raw in bounded_lines(handle, name, limit):
        if isinstance(raw, Skipped):
            failures.append(report(name, line, raw.reason + " (later rows were not read)"))
            return
        try:
            yield (raw.removeprefix(codecs.BOM_UTF8) if line == 1 else raw).decode()
        except UnicodeDecodeError as error:
            bad_byte = f"byte 0x{raw[error.start]:02x} at offset {error.start} of the line"
            reason = f"not valid UTF-8 ({bad_byte}); convert to UTF-8 (later rows were not read)"
            failures.append(report(name, line, reason))
            return


def _iter_csv(handle: IO[bytes], name: str, settings: Settings) -> Iterator[_Row | Skipped]:
    # Article texts are often longer than csv's default field limit of 128 KiB; a field is
    # bounded by NEWSRAG_MAX_FIELD_BYTES instead (the limit counts characters: at most that).
    csv.field_size_limit(settings.max_field_bytes)
    failures: list[Skipped] = []
    reader = csv.reader(_decoded_lines(handle, name, settings.max_line_bytes, failures))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as error:
        header = None
        failures.append(report(name, 1, f"unreadable CSV header ({error}); fix it"))
    columns = [column.strip().lower() for column in header or []]
    if header is not None and not any(key in columns for key in TEXT_KEYS):
        found = ", ".join(column.strip() for column in header) or "none"
        reason = f"no 'text' column (or content, body); columns found: {found}; add a text column"
        yield report(name, None, reason)
        return
    previous_end = reader.line_num
    while header is not None:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            reason = f"malformed CSV row ({error}); fix its quoting"
            if "field larger than field limit" in str(error):
                reason = (
                    f"a field is over the limit of {settings.max_field_bytes:,} characters "
                    "(NEWSRAG_MAX_FIELD_BYTES); split it"
                )
            yield report(name, previous_end + 1, reason)
            previous_end = reader.line_num
            continue
        line, previous_end = previous_end + 1, reader.line_num
        if len(row) != len(columns) and any(cell.strip() for cell in row):
            reason = f"row has {len(row)} fields, the header {len(columns)}; quote commas in fields"
            yield report(name, line, reason)
        elif any(cell.strip() for cell in row):
            yield line, dict(zip(columns, row, strict=True))
    yield from failures


def read_rows(
    path: Path,
    name: str,
    settings: Settings,
    batch_size: int | None,
    *,
    opener: Callable[[Path], IO[bytes]] = lambda path: path.open("rb"),
) -> Iterator[ReadResult]:
    """The articles of a JSONL/CSV file, batch_size at a time (None: all in one result)."""
    result, rows_seen = ReadResult(), 0
    raw = opener(path)
    if os.fstat(raw.fileno()).st_size == 0:
        raw.close()
        result.skip(name, None, "empty file (0 bytes); add articles or remove it")
        yield result
        return
    opened = cast(
        IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb") if name.lower().endswith(".gz") else raw
    )
    with raw, opened as handle:
        try:
            head = handle.read(_SNIFF_BYTES)
            handle.seek(0)
        except (OSError, EOFError, zlib.error) as error:
            head = b"\x00"
            result.skip(name, None, f"not a readable gzip file ({error}); re-create it")
        if b"\x00" in head and not result.skipped:
            result.skip(name, None, "binary data (contains NUL bytes), not text; convert it")
        if b"\x00" in head:
            rows: Iterator[_Row | Skipped] = iter(())
        elif name.lower().endswith(".csv"):
            rows = _iter_csv(handle, name, settings)
        else:
            rows = _iter_jsonl(handle, name, settings.max_line_bytes)
        for item in rows:
            if isinstance(item, Skipped):
                result.skipped.append(item)
                continue
            rows_seen += 1
            result.extend(_record_article(item[1], name, item[0], settings))
            if batch_size and len(result.articles) >= batch_size:
                yield result
                result = ReadResult()
    if not rows_seen and not result.skipped:
        result.skip(name, None, "no articles in the file; add some or remove it")
    yield result
