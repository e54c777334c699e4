"""Temporal expressions in a question ("in 2019", "last October", "since June") -> date filters.

Ranges are inclusive and relative to `as_of` (default: today):
- A month or day without a year ("since June", "on 9 May") is the latest one not after as_of,
  unless another phrase names a year ("in 2019 before July"). "last October" is the latest
  October strictly before as_of's month.
- "before X" ends the day before X starts, "after X" starts the day after X ends, "since X"
  starts when X starts, "until/through/by X" end when X ends. A lone "from X" ("articles from
  2019") means in X; "from X to Y" and "between X and Y" cover both.
- Weeks run Monday to Sunday. "last/previous week|month|year" is the previous calendar one;
  "this week|month|year" runs from its start up to as_of. "past week", "the last week" and
  "past/last N hours|days|weeks|months|years" are rolling: as_of minus N units up to as_of.
  "N days|weeks|months|years ago" is the calendar day/week/month/year holding that date.
- Years are 1900-2100 in a date context only: after a preposition, beside a month, in a range,
  season ("summer of 2019") or decade ("the 1990s"), or a bare year ending the question
  ("Makhmour airstrikes 2019"). Elsewhere a bare year ("2019 airstrikes Makhmour") could be a
  count ("2000 troops"): it stays in the query as a keyword. Never before a count noun.
- A year inside an event phrase stands for the event: "before the 2018 offensive" reads as
  "before 2018" (until 2017-12-31); the event words stay in the query.
- "early/mid/late X", "the beginning/middle/end of X": Jan-Apr, May-Aug, Sep-Dec of a year,
  days 1-10, 11-20, 21-end of a month.
- "recently", "latest", "now", "currently", ... set prefer_recent and filter nothing.
- Spans ("in 2019", "last week") are joined, bounds ("since", "before") narrow them; bounds
  that contradict are dropped.
Unsupported on purpose: weekday names, "winter of 2019", slashed dates (day/month order?).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from newsrag.date_patterns import (
    BAD_YEAR_AFTER,
    CONTROL_AND_SPACE,
    COUNT_UNIT,
    DAY_POINT,
    EVENT_MENTION,
    MONTHS,
    NUMBER_WORDS,
    PHRASE_PATTERN,
    POINT_PATTERN,
    QUANTITY_CUES,
    SEASONS,
)
from newsrag.models import Filters

_Span = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class DateIntent:
    """Date filters and recency wish parsed from a question, plus the question without them."""

    since: dt.date | None  # inclusive
    until: dt.date | None  # inclusive
    expressions: tuple[str, ...]  # the matched phrases, as written (whitespace tidied)
    prefer_recent: bool  # "latest", "most recent", "now", "currently", ...
    query: str  # the question with the matched phrases removed, for retrieval
    # Days named as when something happened ("on 3 March", "the 12 May vote"): matched against
    # the article text (a boost), never a publication filter; the words stay in the query.
    event_dates: tuple[dt.date, ...] = ()
    # What each phrase did, one line each: '"in 2019" -> published 2019-01-01 to 2019-12-31'.
    effects: tuple[str, ...] = ()
    # Phrases that look like dates but name none ("since 31 February"): ignored, said once.
    invalid: tuple[str, ...] = ()


def _month_span(year: int, month: int) -> _Span:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _year_span(year: int) -> _Span:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _week_span(day: dt.date) -> _Span:
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def _months_back(day: dt.date, months: int) -> dt.date:
    """day minus a number of months, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _count_and_unit(text: str) -> tuple[int, str]:
    """The number and unit of "past 3 days", "two weeks ago", "past week" (count 1)."""
    found = COUNT_UNIT.search(text)
    if found is None:
        unit = re.search(r"(hour|day|week|fortnight|month|year)", text)
        return 1, unit.group(1) if unit else "day"
    word = found.group(1).casefold()
    count = 2 if "couple" in word else int(word) if word.isdigit() else NUMBER_WORDS[word]
    return count, found.group(2)


def _back(as_of: dt.date, count: int, unit: str) -> dt.date:
    days = {"hour": (count + 23) // 24, "day": count, "week": 7 * count, "fortnight": 14 * count}
    if unit in days:
        return as_of - dt.timedelta(days=days[unit])
    return _months_back(as_of, count * (12 if unit == "year" else 1))


def _resolve_relative(text: str, as_of: dt.date) -> _Span | None:
    """Resolve "yesterday", "last week", "this month", "last October", "3 days ago"."""
    if re.fullmatch(r"today|tonight|this (?:morning|afternoon|evening)", text):
        return as_of, as_of
    if text.endswith("yesterday"):
        day = as_of - dt.timedelta(days=2 if text.endswith("before yesterday") else 1)
        return day, day
    if text.endswith(" ago"):
        count, unit = _count_and_unit(text)
        day = _back(as_of, count, unit)
        if unit in ("week", "fortnight"):
            return _week_span(day)
        if unit in ("month", "year"):
            return _month_span(day.year, day.month) if unit == "month" else _year_span(day.year)
        return day, day
    words = text.split()
    if len(words) < 2 or words[-2] not in ("last", "previous", "this", "current"):
        return None
    unit, current = words[-1].rstrip("."), words[-2] in ("this", "current")
    if unit in MONTHS:  # "last October": strictly before as_of's month; "this October"
        earlier = MONTHS[unit] < as_of.month
        return _month_span(as_of.year if current or earlier else as_of.year - 1, MONTHS[unit])
    if unit == "week":
        monday = _week_span(as_of)[0]
        return (monday, as_of) if current else _week_span(monday - dt.timedelta(days=7))
    if unit == "month" and current:
        return as_of.replace(day=1), as_of
    if unit == "month":
        previous = as_of.replace(day=1) - dt.timedelta(days=1)
        return _month_span(previous.year, previous.month)
    if unit == "year":
        return (dt.date(as_of.year, 1, 1), as_of) if current else _year_span(as_of.year - 1)
    return None


def _resolve_point(text: str, as_of: dt.date, year_hint: int | None) -> tuple[_Span, bool]:
    """Resolve one date phrase to its span, and whether the phrase names its year itself."""
    lower = text.casefold()
    if lower in ("now", "present", "the present", "date"):
        return (as_of, as_of), True
    relative = _resolve_relative(lower, as_of)
    if relative is not None:
        return relative, True
    iso = re.fullmatch(r"([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?", lower)
    if iso:
        first, last = _month_span(int(iso.group(1)), int(iso.group(2)))
        if iso.group(3) and int(iso.group(3)) <= last.day:
            exact = first.replace(day=int(iso.group(3)))
            return (exact, exact), True
        return (first, last), True
    decade = re.search(r"([0-9]{3})0'?s", lower)
    if decade:
        start = int(decade.group(1)) * 10
        return (dt.date(start, 1, 1), dt.date(start + 9, 12, 31)), True
    years = [int(year) for year in re.findall(r"[0-9]{4}", lower)]
    if len(years) == 2:
        return (_year_span(min(years))[0], _year_span(max(years))[1]), True
    words = re.findall(r"[^\W\d_]+", lower)
    month = next((MONTHS[word] for word in words if word in MONTHS), None)
    season = next((SEASONS[word] for word in words if word in SEASONS), None)
    year = years[0] if years else None
    if season and year:
        return (_month_span(year, season[0])[0], _month_span(year, season[1])[1]), True
    if month is None:
        if year is None:
            raise ValueError(f"not a date: {text!r}")
        return _year_span(year), True
    day_match = re.search(r"(?<![0-9])([0-9]{1,2})(?![0-9])", lower)
    if day_match:
        day = int(day_match.group(1))
        if year is None:
            year = year_hint or as_of.year - ((month, day) > (as_of.month, as_of.day))
        if day > calendar.monthrange(year, month)[1]:
            raise ValueError(f"not a date: {text!r}")
        exact = dt.date(year, month, day)
        return (exact, exact), bool(years)
    if year is None:
        year = year_hint or as_of.year - (month > as_of.month)
    return _month_span(year, month), bool(years)


def _qualify(span: _Span, qualifier: str) -> _Span:
    """Narrow a whole year or month to its early, middle or late part."""
    first, last = span
    text = qualifier.casefold()
    part = 1 if "mid" in text else 2 if re.search("late|end", text) else 0
    if text and (first.month, first.day) == (1, 1) and last == _year_span(first.year)[1]:
        return _month_span(first.year, 1 + 4 * part)[0], _month_span(first.year, 4 + 4 * part)[1]
    if text and first.day == 1 and last == _month_span(first.year, first.month)[1]:
        start, end = (1, 11, 21)[part], (10, 20, last.day)[part]
        return first.replace(day=start), first.replace(day=end)
    return span


def _range(match: re.Match[str], as_of: dt.date, hint: int | None) -> _Span:
    """Span of "between X and Y" / "from X to Y"; a missing year comes from the other side."""
    a_text, b_text = match.group("range_a"), match.group("range_b")
    a_span, a_has_year = _resolve_point(a_text, as_of, hint)
    b_span, b_has_year = _resolve_point(b_text, as_of, hint)
    if b_has_year and not a_has_year:
        a_span = _resolve_point(a_text, as_of, b_span[0].year)[0]
        if a_span[0] > b_span[0]:  # "from November to February 2020": November 2019
            a_span = _resolve_point(a_text, as_of, b_span[0].year - 1)[0]
    elif a_has_year and not b_has_year:
        b_span = _resolve_point(b_text, as_of, a_span[1].year)[0]
        if b_span[1] < a_span[0]:
            b_span = _resolve_point(b_text, as_of, a_span[1].year + 1)[0]
    elif a_span[0] > b_span[0] and not a_has_year:
        a_span = _resolve_point(a_text, as_of, b_span[0].year - 1)[0]
    return min(a_span[0], b_span[0]), max(a_span[1], b_span[1])


def _bound(word: str, span: _Span) -> tuple[str, dt.date]:
    """("since"|"until", date) for a bound word applied to a span."""
    word = word.casefold()
    if word.startswith(("before", "prior", "ahead")):
        return "until", span[0] - dt.timedelta(days=1)
    if word.startswith(("after", "following")):
        return "since", span[1] + dt.timedelta(days=1)
    if word.startswith(("since", "starting", "beginning")):
        return "since", span[0]
    return "until", span[1]


def _interpret(
    match: re.Match[str], text: str, as_of: dt.date, hint: int | None
) -> tuple[str, list[_Span], list[tuple[int, int]]] | None:
    """(effect, spans, character ranges to drop from the query) for one match, or None."""
    kind = match.lastgroup
    whole = [match.span()]
    if kind == "range":
        return "span", [_range(match, as_of, hint)], whole
    if kind in ("bound", "within", "standalone", "qualified"):
        qualifier = match.group(f"{kind}_qualifier").casefold()
        span = _qualify(_resolve_point(match.group(f"{kind}_point"), as_of, hint)[0], qualifier)
        if kind == "bound":
            word = match.group("bound_word").casefold()
            if word == "before" and "end" in qualifier:  # "before the end of 2019": by its end
                return "until", [(span[1], span[1])], whole
            effect, date = _bound(word, span)
            return effect, [(date, date)], whole
        spans = [span]
        for more in POINT_PATTERN.finditer(match.group("within_more") or ""):
            spans.append(_resolve_point(more.group(0), as_of, hint)[0])
        return "span", spans, whole
    if kind == "event":
        year_span = _year_span(int(match.group("event_year")))
        word = match.group("event_word").casefold()
        drop = [match.span("event_word"), match.span("event_year")]
        if word in ("in", "during"):
            return "span", [year_span], drop
        effect, date = _bound(word, year_span)
        return effect, [(date, date)], drop
    if kind == "rolling":
        count, unit = _count_and_unit(match.group(0))
        return "span", [(_back(as_of, count, unit), as_of)], whole
    if kind == "relative":
        return "span", [_resolve_point(match.group(0), as_of, hint)[0]], whole
    if kind == "recent":
        return "recent", [], whole
    # kind == "trailing": a bare year that ends the question, or "2019's offensive".
    previous = (text[: match.start()].split() or [""])[-1]
    if not match.group(0).endswith("s") and (
        not previous.isalpha() or previous.casefold() in QUANTITY_CUES
    ):
        return None
    return "span", [_year_span(int(match.group("trailing_year")))], whole


def _tidy_query(text: str, drops: list[tuple[int, int]]) -> str:
    """The text without the dropped character ranges, with spaces and punctuation tidied."""
    pieces, position = [], 0
    for start, end in sorted(drops):
        pieces.append(text[position : max(start, position)])
        position = max(position, end)
    query = " ".join("".join([*pieces, text[position:]]).split())
    query = re.sub(r"\s+([,.;:?!])", r"\1", query)
    query = re.sub(r"[,;:](?=[,;:.?!])", "", query)
    query = query.strip(" ,;:-")
    return query if query.strip(" ?.!") else text


def _event_day(match: re.Match[str], as_of: dt.date) -> dt.date | None:
    """The day of an "on 3 March" / "3 March 2019" phrase naming when something happened."""
    kind = match.lastgroup
    if kind not in ("within", "standalone"):
        return None
    if kind == "within" and match.group("within_word").casefold() not in ("on", "of"):
        return None
    point = match.group(f"{kind}_point")
    if match.group(f"{kind}_qualifier") or not DAY_POINT.search(point):
        return None
    try:
        span = _resolve_point(point, as_of, None)[0]
    except (ValueError, OverflowError):
        return None
    return span[0] if span[0] == span[1] else None


def _describe(effect: str, spans: list[_Span]) -> str:
    """What a phrase did to the publication filter, in words."""
    if effect == "recent":
        return "the most recent articles first (no filter)"
    if effect == "since":
        return f"published since {spans[0][0].isoformat()}"
    if effect == "until":
        return f"published until {spans[0][0].isoformat()}"
    first, last = min(span[0] for span in spans), max(span[1] for span in spans)
    if first == last:
        return f"published on {first.isoformat()}"
    return f"published {first.isoformat()} to {last.isoformat()}"


def parse_question_dates(question: str, *, as_of: dt.date | None = None) -> DateIntent:
    """Parse the temporal expressions of a question into date filters (see the module doc)."""
    as_of = as_of or dt.date.today()
    text = CONTROL_AND_SPACE.sub(" ", question).strip()
    matches = list(PHRASE_PATTERN.finditer(text))
    invalid: list[str] = []
    rejected: list[tuple[int, int]] = []
    kept_matches = []
    for match in matches:
        after = BAD_YEAR_AFTER.match(text, match.end())
        if after and match.lastgroup not in ("recent", "rolling", "trailing"):
            number = int(after.group("number"))
            if not 1900 <= number <= 2100 and (number > 31 or len(after.group("number")) >= 3):
                invalid.append(f"{text[match.start() : after.end()]!r} is not a date we can read")
                rejected.append((match.start(), after.end()))
                continue
        kept_matches.append(match)
    matches = kept_matches
    event_dates: list[dt.date] = []
    matched = [match.span() for match in matches if _event_day(match, as_of) is None] + rejected
    for mention in EVENT_MENTION.finditer(text):
        if any(start <= mention.start() < end for start, end in matched):
            continue  # part of a filter phrase ("before 3 March")
        try:
            span, _ = _resolve_point(mention.group(0), as_of, None)
        except (ValueError, OverflowError):
            invalid.append(f"{mention.group(0)!r} is not a date")
            continue
        if span[0] == span[1]:
            event_dates.append(span[0])
    # A year named anywhere completes a month without one ("in 2019, before July").
    named = " ".join(match[0] for match in matches if match.lastgroup not in ("recent", "trailing"))
    named_year = re.search(r"(?<![0-9])(?:19[0-9][0-9]|20[0-9][0-9]|2100)(?![0-9])", named)
    hint = int(named_year.group(0)) if named_year else None
    found: dict[str, list[_Span]] = {"span": [], "since": [], "until": [], "recent": []}
    expressions: list[str] = []
    effects: list[str] = []
    drops: list[tuple[int, int]] = []
    for match in matches:
        if _event_day(match, as_of) is not None:
            continue  # when something happened, not when it was published: a boost, kept in the query
        try:
            result = _interpret(match, text, as_of, hint)
        except (ValueError, OverflowError):  # no such date (31 February, year 0): said, skipped
            invalid.append(f"{match.group(0)!r} is not a date")
            result = None
        if result is not None:
            expressions.append(match.group(0))
            effects.append(f"{match.group(0)!r} -> {_describe(result[0], result[1])}")
            found[result[0]] += result[1] or [(as_of, as_of)]  # "recent" only needs an entry
            drops += result[2]
    events = tuple(dict.fromkeys(event_dates))
    if not expressions:
        return DateIntent(
            None, None, (), False, question, event_dates=events, invalid=tuple(invalid)
        )
    first = min((span[0] for span in found["span"]), default=None)
    last = max((span[1] for span in found["span"]), default=None)
    lowers = [date for date in (first, *(span[0] for span in found["since"])) if date]
    uppers = [date for date in (last, *(span[0] for span in found["until"])) if date]
    since, until = max(lowers, default=None), min(uppers, default=None)
    if since is not None and until is not None and since > until:  # contradicting bounds
        since, until = first, last
    query = _tidy_query(text, drops)
    return DateIntent(
        since,
        until,
        tuple(expressions),
        bool(found["recent"]),
        query,
        event_dates=events,
        effects=tuple(effects),
        invalid=tuple(invalid),
    )


def merge_filters(parsed: DateIntent, explicit: Filters) -> Filters:
    """Explicit since/until/sources win; parsed dates fill what explicit leaves None."""
    since = explicit.since if explicit.since is not None else parsed.since
    until = explicit.until if explicit.until is not None else parsed.until
    if since is not None and until is not None and since > until:
        # A parsed bound that contradicts an explicit one is dropped: the explicit one wins.
        if explicit.since is None:
            since = None
        elif explicit.until is None:
            until = None
    return Filters(since=since, until=until, sources=explicit.sources)


def validate_range(filters: Filters) -> str | None:
    """A one-line problem when since is after until, else None."""
    since, until = filters.since, filters.until
    if since is not None and until is not None and since > until:
        return f"since ({since.isoformat()}) is after until ({until.isoformat()}): swap them"
    return None
