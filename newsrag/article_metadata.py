"""Article metadata from text: dates, ids, hosts, datelines, bylines, credits, front matter."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_HEAD_LINES = 40  # title, date line and byline are looked for near the top only...
_DATELINE_LINES = 6  # ...the dateline in the first paragraphs...
_TAIL_CHARS = 3000  # ...and credits near the end: huge articles stay fast
_TITLE_MAX = 200

# Accepted names of each field in JSONL/CSV records and front matter; the first one present wins.
TEXT_KEYS = ("text", "content", "body")
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


def host_of(url: str) -> str:
    """The site name of a URL (its host without www.), the source when none is given."""
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


def iter_lines(text: str, start: int = 0) -> Iterator[tuple[int, int]]:
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


def scan_text(text: str, fields: dict[str, str]) -> None:
    """Fill missing title, date, place, source, author and editor from the text itself."""
    head: list[str] = []
    for start, end in iter_lines(text):
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


def as_text(value: Any) -> str:
    """A field value from JSON, YAML or CSV as one clean string ("" for nothing usable)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(text for item in value if (text := as_text(item)))
    if isinstance(value, dict):
        return as_text(value.get("name"))
    return " ".join(str(value).split())


def pick_fields(values: dict[str, Any]) -> dict[str, str]:
    """Canonical metadata fields of a record whose keys are lowercased."""
    fields: dict[str, str] = {}
    for name, keys in _FIELD_KEYS.items():
        if text := next((text for key in keys if (text := as_text(values.get(key)))), ""):
            fields[name] = text
    return fields


# --- front matter and the seed files' metadata line ------------------------------------------

_FRONT_OPEN = re.compile(r"---[ \t]*(?:\r\n|\r|\n)")
_FRONT_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.M)
_FRONT_LINE = re.compile(r"\s*([A-Za-z_][\w -]*?)\s*:\s*(.*?)\s*")
_SEED_HEADER = re.compile(r"[ \t]*date[ \t]+(?P<date>\d[\d./-]*\d)[ \t]+(?P<rest>.*)")
_CRUMB = re.compile(r"\s+[›»>]\s+")


def front_matter(content: str) -> tuple[dict[str, str], int] | None:
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
    return pick_fields(values), newline.end() if newline else closing.end()


def seed_header(content: str, start: int) -> tuple[dict[str, str], int] | None:
    """The `date 2019-09-09 Home › outlet › title` line, when the text opens with one."""
    for line_start, line_end in iter_lines(content, start):
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
