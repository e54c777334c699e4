"""What date phrases in a question look like: month, season and number words, and the regexes.

dates.py reads what a matched phrase means; the whole vocabulary sits here so the patterns are
read (and kept linear) in one place.
"""

from __future__ import annotations

import calendar
import re

MONTHS = {
    **{name.casefold(): number for number, name in enumerate(calendar.month_name) if name},
    **{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8},
    **{"sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12},
}
SEASONS = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11)}
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
# A number followed by one of these is a count, not a year ("2000 troops").
_COUNT_NOUNS = (
    "troops|soldiers|people|persons|militants|fighters|civilians|families|refugees|residents"
    "|men|women|children|homes|houses|buildings|dollars|euros|dinars|km|kilometers|kilometres"
    "|miles|members|personnel|casualties|rockets|missiles|tons|tonnes|barrels|votes|jobs"
)
# Words before a trailing bare number that make it a quantity ("the death toll reached 2000").
QUANTITY_CUES = frozenset(
    {"reached", "toll", "killed", "about", "around", "over", "under", "nearly", "almost", "than",
     "some", "approximately", "roughly", "total", "number", "count", "is", "are", "was", "were",
     "be", "to", "at", "with"}
)  # fmt: skip

# Building blocks. The question is whitespace-normalized first, so r"\s+" is a single space and
# every repetition below is bounded or separated by a literal: the scan stays linear.
_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_MONTH = rf"(?:{_NAMES})\b\.?"
# A bare "may" is a verb far more often than a month: without a year or day it must be "May".
_MONTH_BARE = rf"(?:{_NAMES.replace('|may', '').replace('may|', '')}|(?-i:May))\b\.?"
_DAY = r"(?:[12][0-9]|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"
_YEAR_BEFORE = r"(?<![\w$€£.,/:])(?<![0-9][-–])"
_YEAR_AFTER = rf"(?![\w%/:]|[.,][0-9]|[-–][0-9])(?!\s+(?:{_COUNT_NOUNS})\b)"
_YEAR_CORE = r"(?:19[0-9][0-9]|20[0-9][0-9]|2100)"
_YEAR = _YEAR_BEFORE + _YEAR_CORE + _YEAR_AFTER
_ISO = _YEAR_BEFORE + _YEAR_CORE + r"-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01]))?(?![\w-])"
_YEAR_RANGE = _YEAR_BEFORE + _YEAR_CORE + r"\s?[-–]\s?" + _YEAR_CORE + _YEAR_AFTER
_DECADE = r"(?:the\s+)?" + _YEAR_BEFORE + r"(?:19|20)[0-9]0'?s\b"
_SEASON = rf"(?:the\s+)?(?:{'|'.join(SEASONS)})\s+(?:of\s+)?{_YEAR}"
_DAY_MONTH = rf"(?:the\s+)?{_DAY}(?:\s+of)?\s+{_MONTH}"
_MONTH_DAY = rf"{_MONTH}\s+{_DAY}"
_WITH_YEAR = (  # shapes that are dates on their own
    rf"{_ISO}|{_YEAR_RANGE}|{_DAY_MONTH},?\s+{_YEAR}|{_MONTH_DAY},?\s+{_YEAR}"
    rf"|{_MONTH},?\s+(?:of\s+)?{_YEAR}|{_SEASON}|{_DECADE}"
)
_POINT = rf"(?:{_WITH_YEAR}|{_YEAR}|{_DAY_MONTH}|{_MONTH_DAY}|{_MONTH_BARE})"
_UNIT = r"(?:hour|day|week|fortnight|month|year)s?\b"
_NUMBER_NAMES = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_COUNT = rf"(?:(?:a\s+)?couple\s+of|[0-9]{{1,3}}|{_NUMBER_NAMES})"
_RELATIVE = (
    r"today|tonight|this\s+(?:morning|afternoon|evening)|(?:the\s+)?day\s+before\s+yesterday"
    r"|yesterday|earlier\s+this\s+(?:week|month|year)\b"
    r"|(?:(?:the\s+)?(?:previous|current)|last|this)\s+(?:week|month|year)\b"
    rf"|(?:last|previous|this)\s+{_MONTH_BARE}|{_COUNT}\s+{_UNIT}\s+ago"
)
_POINT_ANY = rf"(?:{_POINT}|{_RELATIVE})"
_QUALIFIER_WORDS = r"(?:(?:early|mid|late)[\s-]+|(?:the\s+)?(?:beginning|start|middle|end)\s+of\s+)"
_QUALIFIER = _QUALIFIER_WORDS + "?"
_SEPARATOR = r"(?:\s?,\s?|\s+(?:and|or|&)\s+)"
_PREPOSITION = r"(?:(?:in|during|over|for|within)\s+)?"
_ROLLING = (
    rf"{_PREPOSITION}(?:(?:the\s+)?(?:past|last|previous|preceding)\s+{_COUNT}\s+{_UNIT}"
    rf"|(?:the\s+)?past\s+{_UNIT}|the\s+(?:last|preceding)\s+{_UNIT})"
)
_RECENT = (
    rf"(?:in\s+)?recent\s+(?:days|weeks|months|years|times)|{_PREPOSITION}(?:the\s+)?"
    rf"(?:past|last)\s+(?:a\s+few|few|several)\s+{_UNIT}|(?:until|till|up\s+to|as\s+of)\s+now"
    r"|most\s+recent(?:ly)?|right\s+now|these\s+days|at\s+the\s+moment|at\s+present"
    r"|up[\s-]to[\s-]date|so\s+far|latest|newest|recently|recent|nowadays|now|currently"
    r"|current|lately|presently|(?<=\bthe\s)last(?![-'’])"
)
# Every phrase kind in one scan: the named group a match ends in (match.lastgroup) says which.
PHRASE_PATTERN = re.compile(
    r"(?<!\w)(?=\w)(?:"  # every phrase starts with a letter or digit: skip the rest fast
    rf"(?P<range>(?:between|from)\s+(?P<range_a>{_POINT_ANY})\s+(?:and|to|until|till|through"
    rf"|thru|[-–])\s+(?P<range_b>{_POINT_ANY}|now|(?:the\s+)?present|date))"
    r"|(?P<bound>(?P<bound_word>since|after|before|until|till|til|through|thru|by|up\s+to"
    r"|prior\s+to|following|(?:starting|beginning)(?:\s+(?:in|from|on))?)\s+"
    rf"(?P<bound_qualifier>{_QUALIFIER})(?P<bound_point>{_POINT_ANY}))"
    r"|(?P<within>(?P<within_word>in|during|on|of|for|throughout|from)\s+"
    rf"(?P<within_qualifier>{_QUALIFIER})(?P<within_point>{_POINT_ANY})"
    rf"(?P<within_more>(?:{_SEPARATOR}(?:in\s+)?{_POINT}){{0,6}}))"
    r"|(?P<event>(?P<event_word>before|after|since|during|in|following|prior\s+to|until|till"
    r"|ahead\s+of)\s+the\s+(?:[a-z][\w'’-]*\s+){0,2}?"
    rf"(?P<event_year>{_YEAR})\s+[a-z][\w'’-]*)"
    rf"|(?P<rolling>{_ROLLING})|(?P<relative>{_RELATIVE})|(?P<recent>{_RECENT})"
    rf"|(?P<standalone>(?P<standalone_qualifier>{_QUALIFIER})(?P<standalone_point>{_WITH_YEAR}))"
    rf"|(?P<qualified>(?P<qualified_qualifier>{_QUALIFIER_WORDS})(?P<qualified_point>{_YEAR}))"
    rf"|(?P<trailing>{_YEAR_BEFORE}(?P<trailing_year>{_YEAR_CORE})(?:['’]s\b|(?=[?.!]*$)))"
    r")(?!\w)",
    re.IGNORECASE,
)
POINT_PATTERN = re.compile(rf"(?<!\w){_POINT}(?!\w)", re.IGNORECASE)
COUNT_UNIT = re.compile(rf"({_COUNT})\s+(hour|day|week|fortnight|month|year)", re.IGNORECASE)
CONTROL_AND_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f\s]+")
# A phrase point that names one day ("3 March", "2019-03-03"): an event day, not a filter.
DAY_POINT = re.compile(
    rf"(?<!\w)(?:{_DAY_MONTH}|{_MONTH_DAY}|{_YEAR_CORE}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))",
    re.IGNORECASE,
)
# A day and month anywhere in the question ("the 12 May vote"), with an optional year after it.
EVENT_MENTION = re.compile(
    rf"(?<!\w)(?:(?:{_DAY_MONTH}|{_MONTH_DAY})(?:,?\s+{_YEAR_CORE})?"
    rf"|{_YEAR_CORE}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))(?![\w-])",
    re.IGNORECASE,
)
# A month or day-month followed by a number that is no year we read ("December 9999", "0001").
BAD_YEAR_AFTER = re.compile(r",?\s?(?:of\s+)?(?P<number>[0-9]{1,6})(?![\w%])")
